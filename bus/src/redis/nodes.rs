//! The SFU registry on Redis: one hash (`onair:sfu`), a field per node
//! holding its signed entry. Readers drop entries older than
//! [`NODE_TTL`](crate::nodes::NODE_TTL) (a killed node cannot delete its
//! own) and forged ones: an entry names the URL clients are sent to.

use redis::aio::ConnectionLike;

use crate::{BusKey, SfuNode};

const REGISTRY: &str = "onair:sfu";

/// Writes `node`'s entry.
pub(super) async fn announce(
    conn: &mut impl ConnectionLike,
    key: &BusKey,
    node: &SfuNode,
) -> redis::RedisResult<()> {
    let sealed = key.seal_json(node).map_err(|e| {
        redis::RedisError::from((redis::ErrorKind::Client, "sealing", e.to_string()))
    })?;
    redis::cmd("HSET")
        .arg(REGISTRY)
        .arg(&node.id)
        .arg(sealed)
        .query_async(conn)
        .await
}

/// Deletes node `id`'s entry.
pub(super) async fn withdraw(conn: &mut impl ConnectionLike, id: &str) -> redis::RedisResult<()> {
    redis::cmd("HDEL")
        .arg(REGISTRY)
        .arg(id)
        .query_async(conn)
        .await
}

/// The live nodes; stale and forged entries are deleted.
pub(super) async fn live(
    conn: &mut impl ConnectionLike,
    key: &BusKey,
) -> redis::RedisResult<Vec<SfuNode>> {
    let entries: Vec<(String, Vec<u8>)> = redis::cmd("HGETALL")
        .arg(REGISTRY)
        .query_async(conn)
        .await?;
    let now = onair_auth::clock::unix_ms();
    let mut live = Vec::new();
    for (id, sealed) in entries {
        match key.open_json::<SfuNode>(&sealed) {
            Ok(node) if node.id == id && node.is_live(now) => live.push(node),
            Ok(_) => withdraw(conn, &id).await?,
            Err(e) => {
                tracing::warn!(node = %id, error = %e, "forged SFU registry entry dropped");
                withdraw(conn, &id).await?;
            }
        }
    }
    Ok(live)
}
