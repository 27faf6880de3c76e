//! The connection to the backend: a Redis Cluster, or a single Redis when the seed node has
//! cluster support disabled.

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

/// Why the backend could not be reached at start.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// No seed URL was given.
    #[error("no backend URL given")]
    NoSeeds,
    /// A seed URL is malformed, or the backend refused or failed the connection.
    #[error("backend {url}: {source}")]
    Redis {
        /// The URL, without its password.
        url: String,
        /// What the client reported.
        source: redis::RedisError,
    },
}

/// A multiplexed connection to the backend; cheap to clone (clones share the connection).
#[derive(Clone)]
pub enum Backend {
    /// A Redis Cluster: commands are routed by slot, MOVED/ASK followed.
    Cluster(ClusterConnection),
    /// A single Redis, reconnected with backoff when the connection drops.
    Single(ConnectionManager),
}

impl Backend {
    /// Connects to the backend at `seeds`: a cluster when the first seed answers `CLUSTER INFO`,
    /// else a single Redis at that seed.
    pub async fn connect(seeds: &[String]) -> Result<Self, ConnectError> {
        let first = seeds.first().ok_or(ConnectError::NoSeeds)?;
        let failed = |url: &str| {
            let url = redacted(url);
            move |source| ConnectError::Redis { url, source }
        };
        let client = redis::Client::open(first.as_str()).map_err(failed(first))?;
        let mut probe = client
            .get_multiplexed_async_connection()
            .await
            .map_err(failed(first))?;
        let info: redis::RedisResult<String> = redis::cmd("CLUSTER")
            .arg("INFO")
            .query_async(&mut probe)
            .await;
        if info.is_err() {
            // "ERR This instance has cluster support disabled": a plain Redis.
            let manager = ConnectionManager::new(client)
                .await
                .map_err(failed(first))?;
            return Ok(Self::Single(manager));
        }
        let cluster = ClusterClient::new(seeds.iter().map(String::as_str))
            .map_err(failed(first))?
            .get_async_connection()
            .await
            .map_err(failed(first))?;
        Ok(Self::Cluster(cluster))
    }

    /// Whether this is a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }
}

impl ConnectionLike for Backend {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Cluster(c) => c.req_packed_command(cmd),
            Self::Single(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Cluster(c) => c.req_packed_commands(cmd, offset, count),
            Self::Single(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Cluster(c) => c.get_db(),
            Self::Single(c) => c.get_db(),
        }
    }
}

/// `url` without the password it may carry, for messages.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(redacted("redis://:pw@h:1"), "redis://***@h:1");
        assert_eq!(redacted("rediss://u:pw@h:1/0"), "rediss://***@h:1/0");
        assert_eq!(redacted("redis://h:1"), "redis://h:1");
    }
}
