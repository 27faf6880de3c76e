//! Backend mode (`--backend`): the data lives in a Redis Cluster or a single Redis instead of
//! the embedded store.

use std::sync::Arc;

use sessiondb_cluster::{Backend, ConnectError, RedisEngine};
use sessiondb_service::RemoteEngine;

/// Connects to the backend named by `seeds`; `None` (embedded mode) when there are none. An
/// unreachable backend stops startup with an error naming it.
pub async fn connect(seeds: &[String]) -> Result<Option<Arc<dyn RemoteEngine>>, ConnectError> {
    if seeds.is_empty() {
        return Ok(None);
    }
    let backend = Backend::connect(seeds).await?;
    tracing::info!(
        cluster = backend.is_cluster(),
        seeds = seeds.len(),
        "backend mode: the data lives in Redis"
    );
    Ok(Some(Arc::new(RedisEngine::new(backend))))
}
