//! The SFU registry on Redis: one hash (`onair:sfu`), a field per node
//! holding its signed entry. Readers drop entries older than
//! [`NODE_TTL`](crate::nodes::NODE_TTL) (a killed node cannot delete its
//! own) and forged ones: an entry names the URL clients are sent to.

use redis::aio::ConnectionLike;

use crate::{BusKey, SfuNode};

const REGISTRY: &str = "onair:sfu";

/// Deletes a node's entry only if it is still the one read: the node may
/// have announced itself again since (it was stalled, not dead).
const DROP_IF_UNCHANGED: &str = r#"
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"#;

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
            Ok(_) => drop_if_unchanged(conn, &id, &sealed).await?,
            Err(e) => {
                tracing::warn!(node = %id, error = %e, "forged SFU registry entry dropped");
                drop_if_unchanged(conn, &id, &sealed).await?;
            }
        }
    }
    Ok(live)
}

/// Deletes node `id`'s entry if it still is `read`.
async fn drop_if_unchanged(
    conn: &mut impl ConnectionLike,
    id: &str,
    read: &[u8],
) -> redis::RedisResult<()> {
    redis::cmd("EVAL")
        .arg(DROP_IF_UNCHANGED)
        .arg(1)
        .arg(REGISTRY)
        .arg(id)
        .arg(read)
        .query_async(conn)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn entry(conn: &mut impl ConnectionLike, value: Option<&str>) -> Option<String> {
        if let Some(value) = value {
            let () = redis::cmd("HSET")
                .arg(REGISTRY)
                .arg("a")
                .arg(value)
                .query_async(conn)
                .await
                .unwrap();
        }
        redis::cmd("HGET")
            .arg(REGISTRY)
            .arg("a")
            .query_async(conn)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_stale_entry_announced_again_since_it_was_read_is_kept() {
        let redis = onair_testkit::redis::Redis::start();
        let client = redis::Client::open(redis.url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        entry(&mut conn, Some("stale")).await;
        // The node announces itself between the read and the delete.
        entry(&mut conn, Some("fresh")).await;
        drop_if_unchanged(&mut conn, "a", b"stale").await.unwrap();
        assert_eq!(entry(&mut conn, None).await.as_deref(), Some("fresh"));
        drop_if_unchanged(&mut conn, "a", b"fresh").await.unwrap();
        assert_eq!(entry(&mut conn, None).await, None);
    }
}
