//! The sessions of every master: what counts and listings (`SV_INFO`, `SH_INFO_ALL`,
//! `SH_END_ALL`) walk. Each master is scanned with `SCAN … MATCH` for session settings keys; each
//! session found is then checked by the session script, which applies a due expiry first, so
//! expired sessions are never counted. The walk is not a single point in time: a session made
//! or ended meanwhile may or may not be seen.

use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{RedisResult, Value};
use sessiondb_core::Token;

use crate::backend::Backend;
use crate::layout;

/// Keys asked for per `SCAN` step.
const SCAN_COUNT: usize = 1000;

/// The tokens of every session settings key on every master (live or not: the caller checks).
pub async fn tokens(backend: &Backend) -> RedisResult<Vec<Token>> {
    let mut found = Vec::new();
    match backend {
        Backend::Single(conn) => {
            scan_node(&mut found, |cmd| {
                let mut conn = conn.clone();
                async move { cmd.query_async::<Value>(&mut conn).await }
            })
            .await?;
        }
        Backend::Cluster(conn) => {
            for (host, port) in masters(conn.clone()).await? {
                scan_node(&mut found, |cmd| {
                    let mut conn = conn.clone();
                    let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                        host: host.clone(),
                        port,
                    });
                    async move { conn.route_command(cmd, route).await }
                })
                .await?;
            }
        }
    }
    Ok(found)
}

/// Runs `SCAN` to its end on one node (`send` sends a command there), collecting tokens.
async fn scan_node<F, Fut>(found: &mut Vec<Token>, send: F) -> RedisResult<()>
where
    F: Fn(redis::Cmd) -> Fut,
    Fut: std::future::Future<Output = RedisResult<Value>>,
{
    let mut cursor: u64 = 0;
    loop {
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(cursor)
            .arg("MATCH")
            .arg(layout::META_PATTERN)
            .arg("COUNT")
            .arg(SCAN_COUNT);
        let (next, keys): (u64, Vec<String>) = redis::from_redis_value(send(cmd).await?)?;
        found.extend(keys.iter().filter_map(|k| layout::token_of_meta(k)));
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

/// `host:port` of every master that serves slots, from `CLUSTER NODES`.
async fn masters(
    mut conn: redis::cluster_async::ClusterConnection,
) -> RedisResult<Vec<(String, u16)>> {
    let nodes: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query_async(&mut conn)
        .await?;
    Ok(nodes.lines().filter_map(master_addr).collect())
}

/// The address of a `CLUSTER NODES` line naming a master with slots (and not failed).
fn master_addr(line: &str) -> Option<(String, u16)> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let flags = fields.get(2)?;
    if !flags.split(',').any(|f| f == "master") || flags.contains("fail") || fields.len() < 9 {
        return None;
    }
    let addr = fields.get(1)?.split('@').next()?;
    let (host, port) = addr.rsplit_once(':')?;
    Some((host.to_owned(), port.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::master_addr;

    #[test]
    fn only_serving_masters_are_scanned() {
        let master = "4ef4 127.0.0.1:7102@17102 master - 0 1796 3 connected 10923-16383";
        assert_eq!(master_addr(master), Some(("127.0.0.1".to_owned(), 7102)));
        let me = "5ffa 127.0.0.1:7100@17100 myself,master - 0 0 1 connected 0-5460";
        assert_eq!(master_addr(me), Some(("127.0.0.1".to_owned(), 7100)));
        let replica = "a789 127.0.0.1:7104@17104 slave 4ef4 0 1796 3 connected";
        assert_eq!(master_addr(replica), None);
        let failed = "b123 127.0.0.1:7101@17101 master,fail - 0 1796 2 connected 5461-10922";
        assert_eq!(master_addr(failed), None);
    }
}
