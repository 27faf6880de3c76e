//! The owner index: owner → the tokens of its sessions, kept in step with the shard tables.
//!
//! Lock order: a shard lock, then this index's lock. Sessions enter and leave the index where
//! they enter and leave their shard ([`crate::store::Store::insert_new`],
//! [`crate::store::Store::remove_session`]), under that shard's lock, so the index lists exactly the
//! sessions the tables hold (due ones until the expiry takes effect). An owner whose last session
//! leaves is dropped from the map: an owner with no sessions costs nothing.

use std::collections::BTreeSet;

use hashbrown::HashMap;
use parking_lot::Mutex;

use crate::base::Token;

/// Owner → tokens of the sessions it owns, ascending.
#[derive(Debug, Default)]
pub(crate) struct OwnerIndex {
    map: Mutex<HashMap<Box<str>, BTreeSet<Token>>>,
}

impl OwnerIndex {
    /// Files `tkn` under `owner`.
    pub(crate) fn insert(&self, owner: &str, tkn: Token) {
        let mut map = self.map.lock();
        match map.get_mut(owner) {
            Some(tkns) => {
                tkns.insert(tkn);
            }
            None => {
                map.insert(owner.into(), BTreeSet::from([tkn]));
            }
        }
    }

    /// Unfiles `tkn` from `owner`, dropping the owner when it was its last session.
    pub(crate) fn remove(&self, owner: &str, tkn: Token) {
        let mut map = self.map.lock();
        if let Some(tkns) = map.get_mut(owner) {
            tkns.remove(&tkn);
            if tkns.is_empty() {
                map.remove(owner);
            }
        }
    }

    /// The tokens filed under `owner`, ascending.
    pub(crate) fn tokens(&self, owner: &str) -> Vec<Token> {
        self.map
            .lock()
            .get(owner)
            .map(|tkns| tkns.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Owners with at least one session.
    pub(crate) fn owners(&self) -> usize {
        self.map.lock().len()
    }
}
