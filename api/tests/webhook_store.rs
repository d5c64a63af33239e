//! The webhook delivery state (`WebhookStore`), on SQLite and a real Postgres:
//! endpoints keep their queues across replacements, a call's deliveries
//! come one at a time, failures are retried or parked and redelivered, and
//! one holder at a time has the lease.

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{store, Backend};
use onair_api::domain::event::NewEvent;
use onair_api::domain::webhook::{Endpoint, FailedAttempt, Source, StoredEndpoint};
use onair_api::store::Store;
use serde_json::json;

fn t(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_800_000_000_000 + ms).unwrap()
}

fn endpoint(url: &str, events: Option<&[&str]>) -> Endpoint {
    Endpoint {
        url: url.into(),
        events: events.map(|e| e.iter().map(|s| s.to_string()).collect()),
    }
}

/// Stores one event per `(call, type)`; their ids.
async fn events(s: &dyn Store, of: &[(&str, &str)]) -> Vec<i64> {
    let new: Vec<NewEvent> = of
        .iter()
        .map(|(cid, ty)| NewEvent::new(cid, ty, json!({"n": 1})))
        .collect();
    let stored = s.commit(&[], &new).await.unwrap().unwrap();
    stored.into_iter().map(|e| e.id).collect()
}

async fn by_url(s: &dyn Store, url: &str) -> StoredEndpoint {
    let all = s.webhook_endpoints().await.unwrap();
    all.into_iter().find(|e| e.endpoint.url == url).unwrap()
}

async fn endpoints_are_replaced_keeping_queues(backend: Backend) {
    let ts = store(backend).await;
    let s = ts.store.as_ref();
    let config = [endpoint("http://config/1", None)];
    s.replace_webhook_endpoints(Source::Config, &config, t(0))
        .await
        .unwrap();
    let first = events(s, &[("default:a", "call.created")]).await;
    let set = [
        endpoint("http://a/", None),
        endpoint("http://b/", Some(&["call.*"])),
    ];
    s.replace_webhook_endpoints(Source::Api, &set, t(1))
        .await
        .unwrap();
    let listed = s.webhook_endpoints().await.unwrap();
    let urls: Vec<&str> = listed.iter().map(|e| e.endpoint.url.as_str()).collect();
    assert_eq!(urls, ["http://config/1", "http://a/", "http://b/"]);
    assert_eq!(listed[0].source, Source::Config);
    assert_eq!(listed[0].queued_through, 0, "made before any event");
    assert_eq!(
        listed[1].queued_through, first[0],
        "new ones start at the end of the log"
    );
    assert_eq!(listed[2].endpoint.events, Some(vec!["call.*".to_string()]));

    // A queued delivery for b; then b's filter changes and a goes.
    let b = by_url(s, "http://b/").await;
    let more = events(s, &[("default:a", "call.ended")]).await;
    let queued = [(more[0], "default:a".to_string())];
    assert!(s
        .queue_webhook_events(&b.id, b.queued_through, more[0], &queued, t(2))
        .await
        .unwrap());
    assert!(
        !s.queue_webhook_events(&b.id, b.queued_through, more[0], &queued, t(2))
            .await
            .unwrap(),
        "a stale place in the log is refused"
    );
    let set = [
        endpoint("http://b/", Some(&["call.ended"])),
        endpoint("http://c/", None),
    ];
    s.replace_webhook_endpoints(Source::Api, &set, t(3))
        .await
        .unwrap();
    let listed = s.webhook_endpoints().await.unwrap();
    let urls: Vec<&str> = listed.iter().map(|e| e.endpoint.url.as_str()).collect();
    assert_eq!(urls, ["http://config/1", "http://b/", "http://c/"]);
    let b2 = by_url(s, "http://b/").await;
    assert_eq!(
        (b2.id.as_str(), b2.queued_through),
        (b.id.as_str(), more[0])
    );
    assert_eq!(b2.endpoint.events, Some(vec!["call.ended".to_string()]));
    assert_eq!(
        s.webhook_heads(&b.id, 10).await.unwrap().len(),
        1,
        "b keeps its queue"
    );
    assert_eq!(by_url(s, "http://c/").await.queued_through, more[0]);

    // Emptying the API's set leaves the config's alone.
    s.replace_webhook_endpoints(Source::Api, &[], t(4))
        .await
        .unwrap();
    assert_eq!(s.webhook_endpoints().await.unwrap().len(), 1);
    assert!(
        s.webhook_heads(&b.id, 10).await.unwrap().is_empty(),
        "b's queue went with it"
    );
}

async fn a_call_goes_one_event_at_a_time(backend: Backend) {
    let ts = store(backend).await;
    let s = ts.store.as_ref();
    s.replace_webhook_endpoints(Source::Api, &[endpoint("http://a/", None)], t(0))
        .await
        .unwrap();
    let a = by_url(s, "http://a/").await;
    let ids = events(
        s,
        &[
            ("default:1", "call.created"),
            ("default:2", "call.created"),
            ("default:1", "call.updated"),
            ("default:1", "call.ended"),
        ],
    )
    .await;
    let queued: Vec<(i64, String)> = ids
        .iter()
        .zip(["default:1", "default:2", "default:1", "default:1"])
        .map(|(id, cid)| (*id, cid.to_string()))
        .collect();
    let last = *ids.last().unwrap();
    assert!(s
        .queue_webhook_events(&a.id, a.queued_through, last, &queued, t(10))
        .await
        .unwrap());
    // Queueing again is harmless (a crash between sending and recording).
    assert!(s
        .queue_webhook_events(&a.id, last, last, &queued, t(10))
        .await
        .unwrap());
    let id = a.id.as_str();
    let heads = |n| async move {
        let heads = s.webhook_heads(id, n).await.unwrap();
        heads.into_iter().map(|d| d.event.id).collect::<Vec<i64>>()
    };
    assert_eq!(
        heads(10).await,
        [ids[0], ids[1]],
        "one per call, oldest first"
    );
    let head = &s.webhook_heads(&a.id, 1).await.unwrap()[0];
    assert_eq!(head.event.event_type, "call.created");
    assert_eq!(head.event.payload, json!({"n": 1}));
    assert_eq!((head.attempts, head.first_attempt_at), (0, None));

    let delivered = |id: i64, cid: &str| [(id, cid.to_string())];
    let next = s
        .settle_webhooks(&a.id, &delivered(ids[0], "default:1"), &[], t(15))
        .await
        .unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(
        (next[0].event.id, next[0].next_attempt_at),
        (ids[2], t(15)),
        "the call's next, due now"
    );
    assert_eq!(heads(10).await, [ids[1], ids[2]]);
    // A failure due later goes behind the other call's due head.
    let fail = |event_id, cid: &str, retry_at| FailedAttempt {
        event_id,
        call_cid: cid.into(),
        attempts: 1,
        first_attempt_at: t(20),
        at: t(21),
        error: "HTTP 500".into(),
        retry_at,
    };
    let later = [fail(ids[2], "default:1", Some(t(5000)))];
    let retried = s.settle_webhooks(&a.id, &[], &later, t(21));
    assert_eq!(
        retried.await.unwrap(),
        [],
        "retried later: nothing goes next"
    );
    assert_eq!(heads(10).await, [ids[1], ids[2]]);
    let later = [fail(ids[1], "default:2", Some(t(9000)))];
    s.settle_webhooks(&a.id, &[], &later, t(21)).await.unwrap();
    assert_eq!(heads(10).await, [ids[2], ids[1]], "soonest due first");
    let retried = &s.webhook_heads(&a.id, 1).await.unwrap()[0];
    assert_eq!(
        (retried.attempts, retried.first_attempt_at),
        (1, Some(t(20)))
    );
    assert_eq!(retried.next_attempt_at, t(5000));
    // Parked: the call's next event may go.
    let given_up = [fail(ids[2], "default:1", None)];
    let parked = s
        .settle_webhooks(&a.id, &[], &given_up, t(21))
        .await
        .unwrap();
    assert_eq!(
        parked.iter().map(|d| d.event.id).collect::<Vec<_>>(),
        [ids[3]]
    );
    assert_eq!(heads(10).await, [ids[3], ids[1]]);
    // Redelivered while the call has a head: it waits its turn, first in line.
    assert_eq!(
        s.redeliver_webhooks(Some(&[ids[2]]), t(30)).await.unwrap(),
        1
    );
    assert_eq!(heads(10).await, [ids[3], ids[1]], "one head per call");
    let next = s
        .settle_webhooks(&a.id, &delivered(ids[3], "default:1"), &[], t(40))
        .await
        .unwrap();
    assert_eq!(next[0].event.id, ids[2]);
    assert_eq!(heads(10).await, [ids[2], ids[1]]);
    // Settled together: one call's queue empties, the other's head parks.
    let given_up = [fail(ids[1], "default:2", None)];
    let last = s
        .settle_webhooks(&a.id, &delivered(ids[2], "default:1"), &given_up, t(50))
        .await
        .unwrap();
    assert_eq!(last, [], "both queues are empty");
    assert!(heads(10).await.is_empty());
}

async fn parked_deliveries_are_listed_and_redelivered(backend: Backend) {
    let ts = store(backend).await;
    let s = ts.store.as_ref();
    let set = [
        endpoint("http://a/?token=x", None),
        endpoint("http://b/", None),
    ];
    s.replace_webhook_endpoints(Source::Api, &set, t(0))
        .await
        .unwrap();
    let ids = events(
        s,
        &[
            ("default:1", "call.created"),
            ("default:2", "call.ended"),
            ("default:3", "call.ended"),
        ],
    )
    .await;
    let mut parked = Vec::new();
    for e in s.webhook_endpoints().await.unwrap() {
        let queued: Vec<(i64, String)> = ids
            .iter()
            .zip(["default:1", "default:2", "default:3"])
            .map(|(id, c)| (*id, c.to_string()))
            .collect();
        s.queue_webhook_events(&e.id, e.queued_through, ids[2], &queued, t(1))
            .await
            .unwrap();
        for (id, cid) in ids[..2].iter().zip(["default:1", "default:2"]) {
            let failed = FailedAttempt {
                event_id: *id,
                call_cid: cid.into(),
                attempts: 3,
                first_attempt_at: t(2),
                at: t(3),
                error: "HTTP 400".into(),
                retry_at: None,
            };
            s.settle_webhooks(&e.id, &[], &[failed], t(3))
                .await
                .unwrap();
            parked.push((*id, e.endpoint.url.clone()));
        }
    }
    parked.sort();
    let first = s.parked_webhooks(None, 3).await.unwrap();
    assert_eq!(first.len(), 3);
    let last = first.last().unwrap();
    let rest = s
        .parked_webhooks(Some((last.event_id, &last.endpoint_id)), 3)
        .await
        .unwrap();
    let mut all: Vec<(i64, String)> = first
        .iter()
        .chain(&rest)
        .map(|p| (p.event_id, p.url.clone()))
        .collect();
    all.sort();
    assert_eq!(all, parked, "pages cover every parked delivery once");
    let p = &first[0];
    assert_eq!(
        (p.event_type.as_str(), p.call_cid.as_str(), p.attempts),
        ("call.created", "default:1", 3)
    );
    assert_eq!(
        (p.last_error.as_deref(), p.last_attempt_at),
        (Some("HTTP 400"), Some(t(3)))
    );

    assert_eq!(
        s.redeliver_webhooks(Some(&[ids[1]]), t(4)).await.unwrap(),
        2
    );
    assert_eq!(s.parked_webhooks(None, 10).await.unwrap().len(), 2);
    let a = by_url(s, "http://b/").await;
    let head = s.webhook_heads(&a.id, 10).await.unwrap();
    let back = head.iter().find(|d| d.event.id == ids[1]).unwrap();
    assert_eq!(
        (back.attempts, back.first_attempt_at, back.next_attempt_at),
        (3, None, t(4))
    );
    assert_eq!(s.redeliver_webhooks(Some(&[]), t(4)).await.unwrap(), 0);
    assert_eq!(s.redeliver_webhooks(None, t(5)).await.unwrap(), 2);
    assert!(s.parked_webhooks(None, 10).await.unwrap().is_empty());
}

async fn one_holder_at_a_time_has_the_lease(backend: Backend) {
    let ts = store(backend).await;
    let s = ts.store.as_ref();
    let ttl = Duration::from_secs(10);
    assert!(s.take_webhook_lease("a", t(0), ttl).await.unwrap());
    assert!(!s.take_webhook_lease("b", t(1000), ttl).await.unwrap());
    assert!(
        s.take_webhook_lease("a", t(5000), ttl).await.unwrap(),
        "renewed"
    );
    assert!(
        !s.take_webhook_lease("b", t(14_000), ttl).await.unwrap(),
        "renewal counts"
    );
    assert!(
        s.take_webhook_lease("b", t(15_001), ttl).await.unwrap(),
        "expired: taken over"
    );
    assert!(!s.take_webhook_lease("a", t(15_002), ttl).await.unwrap());
    s.release_webhook_lease("a").await.unwrap(); // not a's to give
    assert!(!s.take_webhook_lease("a", t(15_003), ttl).await.unwrap());
    s.release_webhook_lease("b").await.unwrap();
    assert!(
        s.take_webhook_lease("a", t(15_004), ttl).await.unwrap(),
        "given up: free at once"
    );
}

/// New events queued while heads are settled, concurrently (as an
/// endpoint's loop and its recorder do): no call is ever left without a
/// head, so everything queued is delivered.
async fn no_call_loses_its_head_under_concurrency(backend: Backend) {
    let ts = store(backend).await;
    let s = ts.store.clone();
    let set = [endpoint("http://a/", None)];
    s.replace_webhook_endpoints(Source::Api, &set, t(0))
        .await
        .unwrap();
    let a = by_url(s.as_ref(), "http://a/").await;
    let queueing = {
        let (s, id, mut through) = (s.clone(), a.id.clone(), a.queued_through);
        tokio::spawn(async move {
            for round in 0..300 {
                // Two events per call: a second one queued while the first
                // is settled would be stranded without a head for good.
                let cid = format!("default:{}", round / 2);
                let ids = events(s.as_ref(), &[(&cid, "call.updated")]).await;
                let queued = [(ids[0], cid.clone())];
                assert!(s
                    .queue_webhook_events(&id, through, ids[0], &queued, Utc::now())
                    .await
                    .unwrap());
                through = ids[0];
            }
        })
    };
    let mut delivered = 0;
    loop {
        // Finished before the heads are read: none can be queued after.
        let finished = queueing.is_finished();
        let heads = s.webhook_heads(&a.id, 10).await.unwrap();
        if heads.is_empty() && finished {
            break;
        }
        let done: Vec<(i64, String)> = heads
            .iter()
            .map(|h| (h.event.id, h.event.call_cid.clone()))
            .collect();
        delivered += done.len();
        s.settle_webhooks(&a.id, &done, &[], Utc::now())
            .await
            .unwrap();
    }
    queueing.await.unwrap();
    assert_eq!(delivered, 300, "every queued event had its turn");
    s.heal_webhook_queues(&a.id, Utc::now()).await.unwrap();
    assert!(
        s.webhook_heads(&a.id, 10).await.unwrap().is_empty(),
        "no call was left without a head"
    );
}

on_both_backends!(
    no_call_loses_its_head_under_concurrency,
    endpoints_are_replaced_keeping_queues,
    a_call_goes_one_event_at_a_time,
    parked_deliveries_are_listed_and_redelivered,
    one_holder_at_a_time_has_the_lease,
);
