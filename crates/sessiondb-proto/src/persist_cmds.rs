//! Persistence commands (`KV_SAVE`, `SH_SAVE`, `KV_LOAD`, `SH_LOAD`; `PROTOCOL.md` §13).
//!
//! The protocol layer validates these requests (14, 26, 41, 42) in [`crate::parse`] and hands the
//! result to [`execute`]. Saves and loads touch the disk, so a full implementation returns
//! [`Handled::Deferred`] and runs off the async runtime.
//!
//! Until datasets land this module replies as `PROTOCOL.md` says for a server without them:
//! saves answer 14 and every dataset is missing (142). The persistence work replaces [`execute`].

use sessiondb_core::Token;

use crate::parse::ReplyName;
use crate::render::ReplyWriter;
use crate::status::Status;
use crate::{Dispatcher, Handled};

/// A validated persistence request. Names are allowed dataset names (§13.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PersistRequest<'j> {
    /// `KV_SAVE`.
    KvSave {
        /// Dataset name.
        name: &'j str,
    },
    /// `SH_SAVE`; `tkns` is `None` for "every live session", else non-empty.
    ShSave {
        /// Dataset name.
        name: &'j str,
        /// Tokens to save.
        tkns: Option<Vec<Token>>,
    },
    /// `KV_LOAD`.
    KvLoad {
        /// Dataset name.
        name: &'j str,
    },
    /// `SH_LOAD`.
    ShLoad {
        /// Dataset name.
        name: &'j str,
    },
}

/// Runs a persistence request; `cmd_name` is the command name as received (for the reply name).
pub fn execute(
    dispatcher: &Dispatcher,
    cmd_name: &str,
    req: PersistRequest<'_>,
    out: &mut Vec<u8>,
) -> Handled {
    let _ = dispatcher;
    let reply = ReplyName::Rsp(cmd_name);
    match req {
        PersistRequest::KvSave { .. } | PersistRequest::ShSave { .. } => {
            ReplyWriter::new(out, reply, Status::CommandDisabled).finish();
        }
        PersistRequest::KvLoad { name } | PersistRequest::ShLoad { name } => {
            let mut w = ReplyWriter::new(out, reply, Status::LoadError);
            w.str_member("name", name);
            w.finish();
        }
    }
    Handled::Replied
}
