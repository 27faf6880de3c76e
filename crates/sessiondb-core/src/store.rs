//! The sharded store: token → session, plus the top-level key map.

use crate::command::{Command, Outcome};

/// Store construction settings.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Number of session shards (a power of two).
    pub shards: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self { shards: 64 }
    }
}

/// All sessions and top-level keys.
pub struct Store {}

impl Store {
    /// An empty store.
    pub fn new(config: StoreConfig) -> Self {
        let _ = config;
        todo!("engine: Store::new")
    }

    /// Executes one validated command at wall-clock time `now_ms` (Unix ms).
    pub fn execute(&self, cmd: Command<'_>, now_ms: u64) -> Outcome {
        let _ = (cmd, now_ms);
        todo!("engine: Store::execute")
    }

    /// Reclaims sessions past their deadline with bounded work per shard lock hold; returns how
    /// many sessions were deleted or emptied.
    pub fn sweep_expired(&self, now_ms: u64) -> usize {
        let _ = now_ms;
        todo!("engine: Store::sweep_expired")
    }
}
