use super::*;

fn settings() -> RingSettings {
    RingSettings {
        auto_cancel_timeout_ms: 20_000,
        incoming_call_timeout_ms: 10_000,
        missed_call_timeout_ms: 30_000,
        reject_when_busy: true,
    }
}

fn t(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
}

fn ring(callees: &[(&str, bool)]) -> (Ring, Vec<Told>) {
    let callees: Vec<(String, bool)> = callees.iter().map(|(u, b)| (u.to_string(), *b)).collect();
    Ring::start(
        "R1".into(),
        "default:c",
        "alice",
        true,
        &callees,
        &settings(),
        t(0),
    )
}

fn types(told: &[Told]) -> Vec<&str> {
    told.iter().map(|(t, _)| *t).collect()
}

#[test]
fn a_ring_rings_every_callee_and_an_accept_stops_only_that_phone() {
    let (mut r, told) = ring(&[("bob", false), ("carol", false)]);
    assert_eq!(types(&told), ["call.ring"]);
    assert_eq!(told[0].1["members"], json!(["bob", "carol"]));
    let told = r.accept("bob", t(2)).unwrap();
    assert_eq!(types(&told), ["call.accepted"]);
    assert_eq!(told[0].1["stop_ringing"], json!(["bob"]));
    assert_eq!(r.state, RingState::Accepted);
    // Nobody-accepted no longer applies; carol still times out.
    let told = r.tick(t(20));
    assert_eq!(types(&told), ["call.rejected"]);
    assert_eq!(told[0].1["user_id"], "carol");
    assert_eq!(told[0].1["reason"], "timeout");
    assert_eq!(types(&r.tick(t(30))), ["call.missed"]);
    assert_eq!(r.next_due(), None);
}

#[test]
fn the_callers_cancel_ends_the_ring_for_everyone() {
    let (mut r, _) = ring(&[("bob", false), ("carol", false)]);
    r.reject("carol", "decline", t(1)).unwrap();
    let told = r.reject("alice", "cancel", t(3)).unwrap();
    assert_eq!(types(&told), ["call.rejected", "call.missed"]);
    assert_eq!(told[0].1["ring_ended"], true);
    assert_eq!(told[0].1["stop_ringing"], json!(["bob"]));
    // Carol declined: she answered, she did not miss it.
    assert_eq!(told[1].1["members"], json!(["bob"]));
    assert_eq!(r.state, RingState::Ended);
    assert_eq!(r.accept("bob", t(4)), Err(RingError::Ended));
    assert!(r.tick(t(100)).is_empty());
}

#[test]
fn the_last_no_ends_the_ring() {
    let (mut r, _) = ring(&[("bob", false), ("carol", false)]);
    assert_eq!(
        types(&r.reject("bob", "decline", t(1)).unwrap()),
        ["call.rejected"]
    );
    assert_eq!(r.state, RingState::Ringing);
    assert_eq!(r.reject("dave", "decline", t(1)), Err(RingError::NotRung));
    let told = r.reject("carol", "decline", t(2)).unwrap();
    assert_eq!(types(&told), ["call.rejected"]);
    assert_eq!(r.state, RingState::Ended);
    assert_eq!(r.ended_reason.as_deref(), Some("rejected"));
}

#[test]
fn nobody_answering_times_out_then_counts_as_missed() {
    let (mut r, _) = ring(&[("bob", false)]);
    assert_eq!(r.next_due(), Some(t(10)));
    assert!(r.tick(t(9)).is_empty());
    let told = r.tick(t(10));
    assert_eq!(types(&told), ["call.rejected", "call.missed"]);
    assert_eq!(told[1].1["members"], json!(["bob"]));
    assert_eq!(r.state, RingState::Ended);
    assert_eq!(r.next_due(), None);
}

#[test]
fn auto_cancel_ends_a_ring_nobody_accepted() {
    let mut s = settings();
    s.incoming_call_timeout_ms = 60_000;
    let callees = [("bob".to_string(), false)];
    let (mut r, _) = Ring::start("R".into(), "default:c", "alice", false, &callees, &s, t(0));
    let told = r.tick(t(20));
    assert_eq!(types(&told), ["call.rejected", "call.missed"]);
    assert_eq!(told[0].1["reason"], "timeout");
    assert_eq!(told[0].1["ring_ended"], true);
}

#[test]
fn busy_callees_answer_busy_at_once() {
    let (r, told) = ring(&[("bob", true), ("carol", false)]);
    assert_eq!(types(&told), ["call.ring", "call.rejected"]);
    assert_eq!(told[0].1["ringing"], json!(["carol"]));
    assert_eq!(told[1].1["reason"], "busy");
    assert_eq!(r.state, RingState::Ringing);
    let (r, told) = ring(&[("bob", true)]);
    assert_eq!(types(&told), ["call.ring", "call.rejected"]);
    assert_eq!(r.state, RingState::Ended);
}
