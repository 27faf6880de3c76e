//! The sessiondb wire protocol (`PROTOCOL.md`): parse a JSON text message into a typed request,
//! and render replies. Nothing here runs a command: the service layer (sessiondb-service) takes
//! a [`request::Request`] from [`parse::message`], runs it, and renders the outcome with
//! [`render`], which reports what it wrote as a [`ReplyHead`].
//!
//! The one table of commands is [`Kind`] and the one table of statuses is [`Status`].

pub mod parse;
pub mod render;
pub mod request;
pub mod status;

pub use crate::render::ReplyHead;
pub use crate::request::Kind;
pub use crate::status::Status;

/// True if `name` is an allowed dataset name (`PROTOCOL.md` §13.2):
/// `^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$` and no `..`. One rule for requests and `--load-name`,
/// so this delegates to the engine's persistence code.
pub fn dataset_name_allowed(name: &str) -> bool {
    sessiondb_core::persist::is_valid_dataset_name(name)
}
