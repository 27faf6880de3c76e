//! What a dataset holds once read: its sessions or its top-level keys. Shared by the data-file
//! parser ([`super::data_file`]), which builds them, and the reader ([`super::read`]), which
//! returns them.

use super::SaveKind;
use crate::command::{Expiry, Token};
use crate::value::Value;

/// A session read from a dataset, before it is armed. `K` holds its keys: owned pairs in file
/// order for [`super::read_dataset`], the session's built [`Data`] for a load into the store.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedSession<K = Vec<(String, Value)>> {
    /// Saved token (≥ 1).
    pub tkn: Token,
    /// Saved shared flag.
    pub shared: bool,
    /// Saved name, if any.
    pub name: Option<String>,
    /// Saved owner, if any (`sh.owner`, beyond NemesisDB).
    pub owner: Option<String>,
    /// Saved version, present only once a client was shown it (`sh.ver`, beyond NemesisDB).
    pub ver: Option<u32>,
    /// Saved settings; `duration_secs == 0` never expires (flags then discarded).
    pub expiry: Expiry,
    /// Keys in file order.
    pub keys: K,
    /// Saved deadlines of some of its keys (E9): key → Unix ms; empty for a record without a
    /// `keyDeadlines` member.
    pub key_deadlines: Vec<(String, u64)>,
}

/// The content of a dataset.
#[derive(Debug, Clone, PartialEq)]
pub enum Dataset {
    /// Top-level keys, in file order.
    Keys(Vec<(String, Value)>),
    /// Sessions, in file order (duplicates included: the loader skips them).
    Sessions(Vec<LoadedSession>),
}

impl Dataset {
    /// The kind of this dataset.
    pub fn kind(&self) -> SaveKind {
        match self {
            Dataset::Keys(_) => SaveKind::Keys,
            Dataset::Sessions(_) => SaveKind::Sessions,
        }
    }
}
