//! The store suite: one set of tests, run against SQLite and a real Postgres.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::{store, Backend};
use onair_api::domain::call_type::built_in;
use onair_api::domain::{Call, CallCid, Egress, EgressKind, EgressState, Member, Session, User};
use onair_auth::Capability;
use serde_json::json;

fn t(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_800_000_000_000 + ms).unwrap()
}

fn call(id: &str) -> Call {
    Call {
        cid: CallCid::new("default", id).unwrap(),
        created_by: Some("alice".into()),
        created_at: t(0),
        updated_at: t(0),
        starts_at: None,
        ended_at: None,
        backstage: false,
        custom: json!({"topic": "rust"}),
        settings_override: json!({}),
        current_session_id: None,
    }
}

fn member(cid: &str, user: &str, role: &str, at: i64) -> Member {
    Member {
        call_cid: cid.into(),
        user_id: user.into(),
        role: role.into(),
        custom: json!({}),
        created_at: t(at),
        updated_at: t(at),
    }
}

fn session(id: &str, cid: &str, at: i64) -> Session {
    Session {
        id: id.into(),
        call_cid: cid.into(),
        started_at: t(at),
        ended_at: None,
        live_started_at: None,
        live_ended_at: None,
    }
}

async fn users_upsert_and_ensure(backend: Backend) {
    let ts = store(backend).await;
    let s = ts.store.clone();
    let mut alice = User::bare("alice", t(0));
    alice.name = Some("Alice".into());
    alice.custom = json!({"team": "a"});
    s.upsert_users(&[alice.clone()]).await.unwrap();
    // Ensure leaves existing users alone and creates bare ones.
    s.ensure_users(&["alice".into(), "bob".into()], t(5))
        .await
        .unwrap();
    let got = s
        .get_users(&["bob".into(), "alice".into(), "nobody".into()])
        .await
        .unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0], alice);
    assert_eq!(got[1], User::bare("bob", t(5)));
    // Upsert replaces data but keeps the creation time.
    let mut changed = alice.clone();
    changed.role = "admin".into();
    changed.created_at = t(99);
    changed.updated_at = t(99);
    s.upsert_users(&[changed]).await.unwrap();
    let got = s.get_users(&["alice".into()]).await.unwrap();
    assert_eq!(
        (got[0].role.as_str(), got[0].created_at, got[0].updated_at),
        ("admin", t(0), t(99))
    );
    assert!(s.get_users(&[]).await.unwrap().is_empty());
}

async fn call_types_seed_and_replace(backend: Backend) {
    let ts = store(backend).await;
    let s = ts.store.clone();
    onair_api::seed_call_types(s.as_ref()).await.unwrap();
    let names: Vec<String> = s
        .list_call_types()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(
        names,
        ["audio_room", "default", "development", "livestream"]
    );
    let live = s.get_call_type("livestream").await.unwrap().unwrap();
    assert_eq!(live, built_in("livestream", live.created_at).unwrap());

    // Seeding again leaves an operator's change alone.
    let mut changed = live.clone();
    changed
        .grants
        .get_mut("user")
        .unwrap()
        .insert(Capability::SendAudio);
    changed.updated_at = t(7);
    s.put_call_type(&changed).await.unwrap();
    onair_api::seed_call_types(s.as_ref()).await.unwrap();
    let got = s.get_call_type("livestream").await.unwrap().unwrap();
    assert!(got.grants["user"].contains(&Capability::SendAudio));
    assert_eq!(got.created_at, live.created_at);
    assert!(s.get_call_type("nope").await.unwrap().is_none());
}

async fn calls_insert_update_delete(backend: Backend) {
    let ts = store(backend).await;
    let s = ts.store.clone();
    let c = call("one");
    assert!(s.insert_call(&c).await.unwrap());
    assert!(
        !s.insert_call(&c).await.unwrap(),
        "second insert must report the conflict"
    );
    assert_eq!(s.get_call("default:one").await.unwrap().unwrap(), c);

    let mut changed = c.clone();
    changed.backstage = true;
    changed.starts_at = Some(t(1000));
    changed.ended_at = Some(t(2000));
    changed.custom = json!({"n": 1});
    changed.settings_override = json!({"backstage": {"enabled": true}});
    changed.updated_at = t(3);
    changed.current_session_id = Some("ignored".into()); // only open_session sets it
    s.update_call(&changed).await.unwrap();
    let got = s.get_call("default:one").await.unwrap().unwrap();
    assert_eq!(
        got,
        Call {
            current_session_id: None,
            ..changed
        }
    );

    s.upsert_members(&[member("default:one", "bob", "host", 1)])
        .await
        .unwrap();
    assert!(s
        .open_session(&session("s1", "default:one", 1), None)
        .await
        .unwrap());
    assert!(s.delete_call("default:one").await.unwrap());
    assert!(!s.delete_call("default:one").await.unwrap());
    assert!(s.get_call("default:one").await.unwrap().is_none());
    assert!(s.list_members("default:one").await.unwrap().is_empty());
    assert!(s.get_session("s1").await.unwrap().is_none());
    // The cid can be reused after deletion.
    assert!(s.insert_call(&c).await.unwrap());
}

async fn concurrent_creates_have_one_winner(backend: Backend) {
    let ts = store(backend).await;
    let s = ts.store.clone();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.insert_call(&call("race")).await.unwrap()
        }));
    }
    let mut wins = 0;
    for task in tasks {
        wins += task.await.unwrap() as usize;
    }
    assert_eq!(wins, 1);
}

async fn members_roles_and_removal(backend: Backend) {
    let ts = store(backend).await;
    let s = ts.store.clone();
    s.insert_call(&call("m")).await.unwrap();
    let cid = "default:m";
    s.upsert_members(&[
        member(cid, "bob", "call_member", 2),
        member(cid, "alice", "host", 1),
    ])
    .await
    .unwrap();
    let list = s.list_members(cid).await.unwrap();
    assert_eq!(
        list.iter().map(|m| m.user_id.as_str()).collect::<Vec<_>>(),
        ["alice", "bob"]
    );
    assert_eq!(s.count_members(cid).await.unwrap(), 2);

    let mut promoted = member(cid, "bob", "moderator", 2);
    promoted.updated_at = t(50);
    promoted.custom = json!({"seat": 3});
    s.upsert_members(&[promoted.clone()]).await.unwrap();
    assert_eq!(s.get_member(cid, "bob").await.unwrap().unwrap(), promoted);

    s.remove_members(cid, &["alice".into(), "ghost".into()])
        .await
        .unwrap();
    assert!(s.get_member(cid, "alice").await.unwrap().is_none());
    assert_eq!(s.count_members(cid).await.unwrap(), 1);
    assert_eq!(s.count_members("default:none").await.unwrap(), 0);
}

async fn sessions_open_once(backend: Backend) {
    let ts = store(backend).await;
    let s = ts.store.clone();
    s.insert_call(&call("s")).await.unwrap();
    let cid = "default:s";
    assert!(s.open_session(&session("a", cid, 1), None).await.unwrap());
    // A concurrent first join loses the swap and stores nothing.
    assert!(!s.open_session(&session("b", cid, 2), None).await.unwrap());
    assert!(s.get_session("b").await.unwrap().is_none());
    assert_eq!(
        s.get_call(cid)
            .await
            .unwrap()
            .unwrap()
            .current_session_id
            .as_deref(),
        Some("a")
    );

    let mut ended = s.get_session("a").await.unwrap().unwrap();
    ended.live_started_at = Some(t(3));
    ended.live_ended_at = Some(t(4));
    ended.ended_at = Some(t(5));
    s.update_session(&ended).await.unwrap();
    assert_eq!(s.get_session("a").await.unwrap().unwrap(), ended);

    // The next session replaces the ended one only if it is still current.
    assert!(!s
        .open_session(&session("c", cid, 6), Some("zzz"))
        .await
        .unwrap());
    assert!(s
        .open_session(&session("c", cid, 6), Some("a"))
        .await
        .unwrap());
    let ids: Vec<String> = s
        .list_sessions(cid)
        .await
        .unwrap()
        .into_iter()
        .map(|x| x.id)
        .collect();
    assert_eq!(ids, ["a", "c"]);
}

async fn times_and_json_round_trip(backend: Backend) {
    let ts = store(backend).await;
    let s = ts.store.clone();
    let mut c = call("rt");
    c.starts_at = Some(t(0) + Duration::days(400));
    c.custom = json!({"nested": {"list": [1, 2.5, "x", null, true]}, "unicode": "ünïcødé ✓"});
    s.insert_call(&c).await.unwrap();
    assert_eq!(s.get_call("default:rt").await.unwrap().unwrap(), c);
    s.ping().await.unwrap();
}

fn egress(id: &str, cid: &str, kind: EgressKind, at: i64) -> Egress {
    Egress {
        id: id.into(),
        call_cid: cid.into(),
        session_id: None,
        kind,
        name: (kind == EgressKind::Rtmp).then(|| format!("target-{id}")),
        preset: "720p".into(),
        state: EgressState::Starting,
        error: None,
        file: None,
        size: 0,
        duration_ms: 0,
        parts: Vec::new(),
        created_at: t(at),
        started_at: None,
        ended_at: None,
        updated_at: t(at),
    }
}

async fn egress_jobs_one_running_recording(backend: Backend) {
    let ts = store(backend).await;
    let s = ts.store.clone();
    s.insert_call(&call("eg")).await.unwrap();
    let cid = "default:eg";
    let first = egress("EG_1", cid, EgressKind::Recording, 1);
    assert!(s.insert_egress(&first).await.unwrap());
    // A second running recording is refused; RTMP pushes may be many.
    assert!(!s
        .insert_egress(&egress("EG_2", cid, EgressKind::Recording, 2))
        .await
        .unwrap());
    assert!(s
        .insert_egress(&egress("EG_3", cid, EgressKind::Rtmp, 3))
        .await
        .unwrap());
    assert!(s
        .insert_egress(&egress("EG_4", cid, EgressKind::Rtmp, 4))
        .await
        .unwrap());
    // …but one running push per target name.
    let mut again = egress("EG_4b", cid, EgressKind::Rtmp, 4);
    again.name = Some("target-EG_4".into());
    assert!(!s.insert_egress(&again).await.unwrap());
    assert!(!s
        .insert_egress(&egress("EG_5", "default:none", EgressKind::Hls, 5))
        .await
        .unwrap());

    // Compare-and-set on the state.
    let mut active = first.clone();
    active.state = EgressState::Active;
    active.started_at = Some(t(10));
    assert!(s
        .update_egress(&active, EgressState::Starting)
        .await
        .unwrap());
    assert!(
        !s.update_egress(&active, EgressState::Starting)
            .await
            .unwrap(),
        "stale writer"
    );
    let mut done = active.clone();
    done.state = EgressState::Complete;
    done.file = Some("recordings/x.mp4".into());
    done.size = 12345;
    done.duration_ms = 6000;
    // Its first worker died: that file is a part before this one.
    done.parts = vec![onair_api::domain::egress::EgressPart {
        file: "recordings/x0.mp4".into(),
        size: 999,
        duration_ms: 3000,
        gap_after_ms: 6500,
    }];
    done.ended_at = Some(t(6010));
    done.updated_at = t(6010);
    assert!(s.update_egress(&done, EgressState::Active).await.unwrap());
    assert_eq!(s.get_egress("EG_1").await.unwrap().unwrap(), done);
    // Running jobs silent since before a time: the RTMP pushes (updated at 3
    // and 4), not the finished recording.
    let silent: Vec<String> = s
        .silent_egress(t(5))
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(silent, ["EG_3", "EG_4"]);

    // The finished one no longer blocks a new recording.
    assert!(s
        .insert_egress(&egress("EG_6", cid, EgressKind::Recording, 6))
        .await
        .unwrap());
    let ids: Vec<String> = s
        .list_egress(cid, EgressKind::Recording)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, ["EG_1", "EG_6"]);
    assert!(s.delete_call(cid).await.unwrap());
    assert_eq!(s.get_egress("EG_6").await.unwrap(), None);
}

on_both_backends!(
    egress_jobs_one_running_recording,
    users_upsert_and_ensure,
    call_types_seed_and_replace,
    calls_insert_update_delete,
    concurrent_creates_have_one_winner,
    members_roles_and_removal,
    sessions_open_once,
    times_and_json_round_trip,
);
