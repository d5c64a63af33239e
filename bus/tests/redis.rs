//! `RedisBus` against a real `redis-server` started by the test.

use std::time::Duration;

use std::sync::OnceLock;

use onair_bus::{Bus, BusKey, Event, EventKind, RedisBus};
use onair_testkit::redis::Redis;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(5);

/// When this test process started, in ms: events are stamped from it
/// (the bus refuses old ones) and told apart by their offset `n`.
fn base() -> i64 {
    static BASE: OnceLock<i64> = OnceLock::new();
    *BASE.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    })
}

fn event(n: i64) -> Event {
    Event::new("default:x", base() + n, EventKind::CallUpdated)
}

fn n_of(e: Event) -> i64 {
    e.created_at_ms - base()
}

fn key() -> BusKey {
    BusKey::derive("bus-test-secret-bus-test-secret-0123")
}

async fn connect(url: &str) -> RedisBus {
    RedisBus::connect(url, key()).await.unwrap()
}

async fn next(sub: &mut onair_bus::Subscription) -> Event {
    timeout(WAIT, sub.recv())
        .await
        .expect("an event within 5 s")
        .expect("the bus is open")
}

#[tokio::test]
async fn events_reach_every_node_once() {
    let redis = Redis::start();
    let a = connect(&redis.url()).await;
    let b = connect(&redis.url()).await;
    let (mut on_a, mut on_b) = (a.subscribe(), b.subscribe());
    a.publish(event(1)).await.unwrap();
    b.publish(event(2)).await.unwrap();
    for sub in [&mut on_a, &mut on_b] {
        assert_eq!(n_of(next(sub).await), 1);
        assert_eq!(n_of(next(sub).await), 2);
    }
    // Each node saw its own event once: nothing else is queued.
    assert!(timeout(Duration::from_millis(300), on_a.recv())
        .await
        .is_err());
}

#[tokio::test]
async fn garbage_and_forgeries_on_the_channel_are_dropped() {
    let redis = Redis::start();
    let bus = connect(&redis.url()).await;
    let mut sub = bus.subscribe();
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    // Someone with access to Redis (but not the API secret) tries to end
    // a call and kick a user: plain JSON, a made-up signature, another key.
    let kick = Event::new(
        "default:x",
        base(),
        EventKind::UserKicked {
            user_id: "alice".into(),
        },
    );
    let ended = Event::new("default:x", base(), EventKind::CallEnded { reason: None });
    let forged = [
        "{not json".to_owned(),
        serde_json::to_string(&kick).unwrap(),
        format!("AAAA.{}", serde_json::to_string(&ended).unwrap()),
        BusKey::derive("guessed-secret").seal(&kick).unwrap(),
    ];
    for message in forged {
        append(&mut conn, &message).await;
    }
    // An entry without the event field at all.
    let _: String = redis::cmd("XADD")
        .arg("onair:events")
        .arg("*")
        .arg("other")
        .arg("x")
        .query_async(&mut conn)
        .await
        .unwrap();
    let signed = event(7);
    bus.publish(signed.clone()).await.unwrap();
    assert_eq!(
        next(&mut sub).await,
        signed,
        "only the signed event arrives"
    );
}

/// Appends `message` to the bus's stream as any Redis client could.
async fn append(conn: &mut redis::aio::MultiplexedConnection, message: &str) {
    let _: String = redis::cmd("XADD")
        .arg("onair:events")
        .arg("*")
        .arg("m")
        .arg(message)
        .query_async(conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_node_whose_connection_drops_catches_up_on_what_it_missed() {
    let redis = Redis::start();
    let bus = connect(&redis.url()).await;
    let mut sub = bus.subscribe();
    bus.publish(event(1)).await.unwrap();
    assert_eq!(n_of(next(&mut sub).await), 1);
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    // Every other connection goes: the node's reader waits a second
    // before it comes back, and these are published in that gap.
    let _: redis::Value = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("normal")
        .arg("SKIPME")
        .arg("yes")
        .query_async(&mut conn)
        .await
        .unwrap();
    for n in 2..=6 {
        append(&mut conn, &key().seal(&event(n)).unwrap()).await;
    }
    for n in 2..=6 {
        assert_eq!(
            n_of(next(&mut sub).await),
            n,
            "missed events arrive in order"
        );
    }
    // And it reads on as before, each event once.
    bus.publish(event(7)).await.unwrap();
    assert_eq!(n_of(next(&mut sub).await), 7);
    assert!(timeout(Duration::from_millis(300), sub.recv())
        .await
        .is_err());
}

#[tokio::test]
async fn a_new_node_reads_from_now_on() {
    let redis = Redis::start();
    let old = connect(&redis.url()).await;
    old.publish(event(1)).await.unwrap();
    let new = connect(&redis.url()).await;
    let mut sub = new.subscribe();
    old.publish(event(2)).await.unwrap();
    assert_eq!(
        n_of(next(&mut sub).await),
        2,
        "what came before it joined is not replayed"
    );
}

#[tokio::test]
async fn the_bus_comes_back_after_redis_restarts() {
    let mut redis = Redis::start();
    let bus = connect(&redis.url()).await;
    let mut sub = bus.subscribe();
    redis.restart();
    // Publishing fails while the connections come back; keep trying until
    // an event makes the round trip.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let mut n = 0;
    loop {
        n += 1;
        let _ = bus.publish(event(n)).await;
        if let Ok(Some(e)) = timeout(Duration::from_millis(500), sub.recv()).await {
            assert!(n_of(e) <= n);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no event after the restart"
        );
    }
}

#[tokio::test]
async fn only_the_first_node_gets_a_claim() {
    let redis = Redis::start();
    let a = connect(&redis.url()).await;
    let b = connect(&redis.url()).await;
    let ttl = Duration::from_millis(300);
    assert!(a.claim("egress:1", ttl).await.unwrap());
    assert!(!b.claim("egress:1", ttl).await.unwrap());
    assert!(!a.claim("egress:1", ttl).await.unwrap());
    assert!(b.claim("egress:2", ttl).await.unwrap());
    tokio::time::sleep(ttl * 2).await;
    assert!(b.claim("egress:1", ttl).await.unwrap());
}

#[tokio::test]
async fn an_unreachable_redis_is_a_clear_error() {
    let port = onair_testkit::free_port();
    let err = RedisBus::connect(&format!("redis://127.0.0.1:{port}"), key())
        .await
        .err()
        .expect("nothing listens there");
    assert!(err.to_string().contains("bus transport failed"), "{err}");
}

const LEASE: Duration = Duration::from_millis(400);

async fn xlen(url: &str, key: &str) -> usize {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("XLEN")
        .arg(key)
        .query_async(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_job_offered_before_any_worker_goes_to_exactly_one() {
    let redis = Redis::start();
    let api = connect(&redis.url()).await;
    api.offer("egress", event(1)).await.unwrap();
    let (a, b) = (connect(&redis.url()).await, connect(&redis.url()).await);
    let wait = Duration::from_millis(500);
    let (on_a, on_b) = tokio::join!(
        a.take("egress", "a", LEASE, wait),
        b.take("egress", "b", LEASE, wait)
    );
    let leases: Vec<_> = [on_a.unwrap(), on_b.unwrap()]
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(leases.len(), 1, "one worker has it");
    assert_eq!((n_of(leases[0].job.clone()), leases[0].attempt), (1, 1));
    // Done: it leaves the queue.
    a.finish(&leases[0]).await.unwrap();
    assert_eq!(xlen(&redis.url(), "onair:jobs:egress").await, 0);
    assert_eq!(a.take("egress", "a", LEASE, LEASE * 2).await.unwrap(), None);
}

#[tokio::test]
async fn a_waiting_worker_gets_a_job_as_it_is_offered() {
    let redis = Redis::start();
    let (api, worker) = (connect(&redis.url()).await, connect(&redis.url()).await);
    let taking = tokio::spawn(async move {
        worker
            .take("egress", "w", LEASE, Duration::from_secs(2))
            .await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    api.offer("egress", event(2)).await.unwrap();
    let lease = taking.await.unwrap().unwrap().expect("the job");
    assert_eq!(n_of(lease.job), 2);
}

#[tokio::test]
async fn a_job_whose_worker_stops_renewing_is_taken_over() {
    let redis = Redis::start();
    let (a, b) = (connect(&redis.url()).await, connect(&redis.url()).await);
    a.offer("egress", event(3)).await.unwrap();
    let wait = Duration::from_millis(500);
    let held = a.take("egress", "a", LEASE, wait).await.unwrap().unwrap();
    // While a renews, b gets nothing.
    for _ in 0..4 {
        tokio::time::sleep(LEASE / 2).await;
        assert!(a.renew(&held).await.unwrap());
        assert_eq!(
            b.take("egress", "b", LEASE, Duration::ZERO).await.unwrap(),
            None
        );
    }
    // a goes silent: b takes the job over once the lease lapsed.
    tokio::time::sleep(LEASE + Duration::from_millis(50)).await;
    let taken = b.take("egress", "b", LEASE, wait).await.unwrap().unwrap();
    assert_eq!((taken.attempt, &taken.entry), (2, &held.entry));
    assert_eq!(n_of(taken.job.clone()), 3);
    assert!(!a.renew(&held).await.unwrap(), "a lost it");
    // a finishing late does not take the job from b.
    a.finish(&held).await.unwrap();
    assert!(b.renew(&taken).await.unwrap());
    b.finish(&taken).await.unwrap();
    assert_eq!(xlen(&redis.url(), "onair:jobs:egress").await, 0);
}

#[tokio::test]
async fn forged_jobs_and_jobs_that_kill_every_worker_are_dropped() {
    let redis = Redis::start();
    let bus = connect(&redis.url()).await;
    bus.offer("q", event(4)).await.unwrap();
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    for forged in [
        serde_json::to_string(&event(5)).unwrap(),
        BusKey::derive("guessed-secret").seal(&event(6)).unwrap(),
    ] {
        let _: String = redis::cmd("XADD")
            .arg("onair:jobs:q")
            .arg("*")
            .arg("m")
            .arg(forged)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    let ttl = Duration::from_millis(50);
    // Taken and never renewed, again and again: the genuine job goes
    // round MAX_ATTEMPTS times, the forged ones never.
    for attempt in 1..=onair_bus::jobs::MAX_ATTEMPTS {
        let lease = bus.take("q", "w", ttl, ttl).await.unwrap().unwrap();
        assert_eq!((n_of(lease.job), lease.attempt), (4, attempt));
        tokio::time::sleep(ttl * 2).await;
    }
    assert_eq!(bus.take("q", "w", ttl, ttl).await.unwrap(), None);
    assert_eq!(xlen(&redis.url(), "onair:jobs:q").await, 0, "all dropped");
}

fn sfu(id: &str, seen_ms: i64) -> onair_bus::SfuNode {
    onair_bus::SfuNode {
        id: id.into(),
        url: format!("wss://{id}.example.com"),
        region: Some("eu".into()),
        media: vec!["203.0.113.7:7882".into()],
        participants: 3,
        tracks: 2,
        forwarded_pps: 1_200,
        cpu: Some(0.25),
        capacity: Some(10),
        rooms: vec![onair_bus::HostedRoom {
            cid: "default:x".into(),
            participants: 1,
            tracks: 2,
            publishers: vec![onair_bus::Publisher {
                identity: "alice".into(),
                name: "Alice".into(),
            }],
            watchers: Vec::new(),
        }],
        seen_ms,
        draining: false,
    }
}

#[tokio::test]
async fn sfu_nodes_are_seen_by_every_node_until_silent_or_withdrawn() {
    let redis = Redis::start();
    let (sfu_a, api) = (connect(&redis.url()).await, connect(&redis.url()).await);
    // Now, not the process's start: the registry's freshness is seconds.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    sfu_a.announce(&sfu("a", now)).await.unwrap();
    sfu_a.announce(&sfu("b", now)).await.unwrap();
    // A node last heard from longer ago than NODE_TTL: gone.
    let silent = now - onair_bus::nodes::NODE_TTL.as_millis() as i64 - 1_000;
    sfu_a.announce(&sfu("c", silent)).await.unwrap();
    // An entry someone wrote to Redis without the key: it would send
    // clients to their server.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let forged = serde_json::to_string(&sfu("evil", now)).unwrap();
    let _: i64 = redis::cmd("HSET")
        .arg("onair:sfu")
        .arg("evil")
        .arg(format!("AAAA.{forged}"))
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut seen = api.sfu_nodes().await.unwrap();
    seen.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(seen, [sfu("a", now), sfu("b", now)]);
    let left: usize = redis::cmd("HLEN")
        .arg("onair:sfu")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(left, 2, "stale and forged entries are deleted");
    sfu_a.withdraw("a").await.unwrap();
    assert_eq!(api.sfu_nodes().await.unwrap(), [sfu("b", now)]);
}

#[tokio::test]
async fn the_first_value_settled_for_a_key_holds_until_its_ttl() {
    let redis = Redis::start();
    let (a, b) = (connect(&redis.url()).await, connect(&redis.url()).await);
    let ttl = Duration::from_millis(300);
    assert_eq!(a.settle("room:x", "node-a", ttl).await.unwrap(), "node-a");
    assert_eq!(b.settle("room:x", "node-b", ttl).await.unwrap(), "node-a");
    assert_eq!(b.settle("room:y", "node-b", ttl).await.unwrap(), "node-b");
    tokio::time::sleep(ttl * 2).await;
    assert_eq!(b.settle("room:x", "node-b", ttl).await.unwrap(), "node-b");
}
