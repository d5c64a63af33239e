//! Jobs on Redis: one stream per queue (`onair:jobs:<queue>`) read by one
//! consumer group, so each entry goes to one worker and stays in the
//! group's pending list until that worker acknowledges it. A lease is the
//! pending entry's idle time: renewing resets it, and a worker asking for
//! work first claims (`XAUTOCLAIM`) entries idle longer than their lease.
//! Finished entries are acknowledged and deleted, so the stream holds only
//! jobs still to do.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::streams::{StreamAutoClaimReply, StreamId, StreamPendingCountReply, StreamReadReply};

use super::FIELD;
use crate::jobs::{JOB_MAX_AGE, MAX_ATTEMPTS};
use crate::{BusKey, Event, Lease};

/// The one consumer group of every job stream.
const GROUP: &str = "workers";

/// Renews a lease only if the entry is still pending for this worker
/// (checked and reset in one step): `XCLAIM` with no idle minimum would
/// otherwise take the job back from whoever took it over.
const RENEW: &str = r#"
local mine = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1, ARGV[3])
if #mine == 0 then return 0 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0, ARGV[2], 'JUSTID')
return 1
"#;

/// Acknowledges and deletes an entry only if it is still pending for this
/// worker: one that lost the job must not finish it for its new taker.
const FINISH: &str = r#"
local mine = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1, ARGV[3])
if #mine == 0 then return 0 end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return 1
"#;

/// The stream of `queue`.
pub(super) fn stream(queue: &str) -> String {
    format!("onair:jobs:{queue}")
}

/// Creates the queue's group if it is missing, reading from the stream's
/// start: a job offered before any worker was up is still delivered.
pub(super) async fn ensure_group(
    conn: &mut impl redis::aio::ConnectionLike,
    queue: &str,
) -> redis::RedisResult<()> {
    let created: redis::RedisResult<()> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream(queue))
        .arg(GROUP)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(conn)
        .await;
    match created {
        Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
        other => other,
    }
}

/// A job whose lease lapsed, claimed for `worker`, with its attempt.
pub(super) async fn reclaim(
    conn: &mut MultiplexedConnection,
    queue: &str,
    worker: &str,
    ttl: Duration,
) -> redis::RedisResult<Option<(StreamId, u32)>> {
    let claimed: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
        .arg(stream(queue))
        .arg(GROUP)
        .arg(worker)
        .arg(ttl.as_millis() as u64)
        .arg("0-0")
        .arg("COUNT")
        .arg(1)
        .query_async(conn)
        .await?;
    let Some(entry) = claimed.claimed.into_iter().next() else {
        return Ok(None);
    };
    let pending: StreamPendingCountReply = redis::cmd("XPENDING")
        .arg(stream(queue))
        .arg(GROUP)
        .arg(&entry.id)
        .arg(&entry.id)
        .arg(1)
        .query_async(conn)
        .await?;
    let attempt = pending.ids.first().map_or(1, |p| p.times_delivered);
    Ok(Some((entry, attempt as u32)))
}

/// A new job for `worker`, waiting up to `wait` (on a connection nothing
/// else uses while it blocks).
pub(super) async fn read_new(
    conn: &mut MultiplexedConnection,
    queue: &str,
    worker: &str,
    wait: Duration,
) -> redis::RedisResult<Option<StreamId>> {
    let read: Option<StreamReadReply> = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(GROUP)
        .arg(worker)
        .arg("COUNT")
        .arg(1)
        .arg("BLOCK")
        .arg(wait.as_millis().max(1) as u64)
        .arg("STREAMS")
        .arg(stream(queue))
        .arg(">")
        .query_async(conn)
        .await?;
    Ok(read.and_then(|r| r.keys.into_iter().flat_map(|k| k.ids).next()))
}

/// The lease on `entry`, or why it cannot be one (then the entry is
/// dropped): unsigned, too old, or taken too often.
pub(super) fn lease_of(
    key: &BusKey,
    queue: &str,
    worker: &str,
    ttl: Duration,
    (entry, attempt): (StreamId, u32),
) -> Result<Lease, String> {
    let job: Event = match entry.map.get(FIELD) {
        Some(redis::Value::BulkString(bytes)) => key
            .open_within(
                bytes,
                onair_auth::clock::unix_ms(),
                JOB_MAX_AGE.as_millis() as i64,
            )
            .map_err(|e| e.to_string())?,
        _ => return Err("unsigned".into()),
    };
    if attempt > MAX_ATTEMPTS {
        return Err(format!(
            "taken {attempt} times: every worker that took it died"
        ));
    }
    Ok(Lease {
        queue: queue.to_owned(),
        entry: entry.id,
        worker: worker.to_owned(),
        ttl,
        attempt,
        job,
    })
}

/// Renews `lease` if its worker still holds it.
pub(super) async fn renew(
    conn: &mut impl redis::aio::ConnectionLike,
    lease: &Lease,
) -> redis::RedisResult<bool> {
    if_held(conn, RENEW, &lease.queue, &lease.entry, &lease.worker).await
}

/// Acknowledges and deletes `entry` if `worker` holds it: nobody takes it again.
pub(super) async fn remove(
    conn: &mut impl redis::aio::ConnectionLike,
    queue: &str,
    entry: &str,
    worker: &str,
) -> redis::RedisResult<bool> {
    if_held(conn, FINISH, queue, entry, worker).await
}

/// Runs `script` on `entry` of `queue`; true if `worker` held it.
async fn if_held(
    conn: &mut impl redis::aio::ConnectionLike,
    script: &str,
    queue: &str,
    entry: &str,
    worker: &str,
) -> redis::RedisResult<bool> {
    let held: i64 = redis::cmd("EVAL")
        .arg(script)
        .arg(1)
        .arg(stream(queue))
        .arg(GROUP)
        .arg(entry)
        .arg(worker)
        .query_async(conn)
        .await?;
    Ok(held == 1)
}
