//! Recordings and RTMP pushes follow the egress workers' reports.

use super::*;

/// Plays an egress worker: reports `state` for job `id` on the bus.
async fn worker_reports(app: &App, id: &str, state: &str, error: Option<&str>) {
    let kind = EventKind::EgressUpdated {
        egress_id: id.into(),
        state: onair_bus::EgressState::parse(state).expect("a job state"),
        error: error.map(str::to_owned),
        file: Some(format!("recordings/livestream_show/{id}.mp4")),
        size: 1000,
        duration_ms: 2000,
    };
    let event = onair_bus::Event::new("livestream:show", 0, kind);
    app.bus.publish(event).await.unwrap();
}

/// Waits until the call's newest recording is in `state`.
async fn recording_becomes(app: &App, state: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (status, body) = app
            .get(&format!("{LIVE}/recordings"), &server_token())
            .await;
        assert_eq!(status, StatusCode::OK);
        let last = body["recordings"].as_array().unwrap().last().cloned();
        if let Some(r) = last.filter(|r| r["state"] == state) {
            return r;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never {state}: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn recordings_follow_worker_reports(backend: Backend) {
    let app = App::new(backend).await;
    let _presence = onair_api::presence::spawn(app.state.clone());
    create_livestream(&app, json!({})).await;
    let host = user_token("alice");
    let start = format!("{LIVE}/recordings/start");
    let stop = format!("{LIVE}/recordings/stop");

    // Capability, preset and state checks.
    let (status, _) = app.post(&start, &user_token("bob"), json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = app.post(&start, &host, json!({"preset": "4k"})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_preset"))
    );
    let (status, _) = app.post(&stop, &host, json!(null)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing to stop");

    // Start: stored, queued on the bus, shown in the call.
    let mut events = app.bus.subscribe();
    let (status, body) = app.post(&start, &host, json!({"preset": "360p"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["recording"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        queued(&app).await,
        EventKind::EgressRequested {
            egress_id: id.clone(),
            kind: onair_bus::EgressKind::Recording,
            preset: "360p".into(),
            backstage: true,
            track_sid: None,
        }
    );
    let (status, body) = app.post(&start, &host, json!({})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("recording_running"))
    );
    let (_, call) = app.get(LIVE, &host).await;
    assert_eq!(call["call"]["egress"]["recording"]["id"], id.as_str());
    // Where OBS streams in: the ingest base and the cid.
    let cid = call["call"]["cid"].as_str().unwrap();
    assert_eq!(
        call["call"]["ingress"]["rtmp"]["address"],
        format!("rtmp://127.0.0.1:1935/live/{cid}")
    );
    assert_eq!(
        call["call"]["ingress"]["whip"]["url"],
        format!("http://127.0.0.1:7880/whip/{cid}")
    );

    // The worker reports; a stop moves it to ending; completion gives a link.
    worker_reports(&app, &id, "active", None).await;
    let r = recording_becomes(&app, "active").await;
    assert!(r["start_time"].is_string() && r["url"].is_string(), "{r}");
    let (status, body) = app.post(&stop, &host, json!(null)).await;
    assert_eq!(
        (status, body["recording"]["state"].as_str()),
        (StatusCode::OK, Some("ending"))
    );
    // (The worker's own reports are on the bus too.)
    loop {
        if let EventKind::EgressStopRequested { egress_id } = events.recv().await.unwrap().kind {
            assert_eq!(egress_id, id);
            break;
        }
    }
    worker_reports(&app, &id, "active", None).await; // late: must not undo the stop
    worker_reports(&app, &id, "complete", None).await;
    let r = recording_becomes(&app, "complete").await;
    assert_eq!(r["filename"], format!("{id}.mp4"));
    assert_eq!(
        (r["size"].as_i64(), r["duration"].as_f64()),
        (Some(1000), Some(2.0))
    );
    assert!(r["end_time"].is_string(), "{r}");
    worker_reports(&app, &id, "failed", Some("too late")).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let r = recording_becomes(&app, "complete").await;
    assert!(r["error"].is_null(), "a finished job stays finished: {r}");
    let (_, call) = app.get(LIVE, &host).await;
    assert!(call["call"]["egress"]["recording"].is_null());

    // A new recording may start; a worker failure is recorded with its reason.
    let (status, body) = app.post(&start, &host, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let second = body["recording"]["id"].as_str().unwrap().to_owned();
    worker_reports(&app, &second, "failed", Some("pipeline broke")).await;
    let r = recording_becomes(&app, "failed").await;
    assert_eq!(r["error"], "pipeline broke");
}

/// The next job queued for egress workers, taken and finished.
async fn queued(app: &App) -> EventKind {
    let wait = std::time::Duration::from_secs(5);
    let lease = app
        .bus
        .take(onair_bus::jobs::EGRESS, "test-worker", wait, wait)
        .await
        .unwrap()
        .expect("a job queued within 5 s");
    app.bus.finish(&lease).await.unwrap();
    lease.job.kind
}

/// The next queued egress job: (kind, preset, backstage).
async fn next_request(app: &App) -> (String, String, bool) {
    match queued(app).await {
        EventKind::EgressRequested {
            kind,
            preset,
            backstage,
            ..
        } => (kind.as_str().to_owned(), preset, backstage),
        other => panic!("not an egress job: {other:?}"),
    }
}

async fn recordings_start_by_themselves(backend: Backend) {
    let app = App::new(backend).await;
    // `recording.mode: auto-on`: the first join (the session start) records.
    let auto = "/v1/calls/default/auto";
    let settings = json!({"recording": {"mode": "auto-on", "quality": "360p"}});
    let (status, body) = app
        .post(
            auto,
            &server_token(),
            json!({"data": {"settings_override": settings}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = app
        .post(&format!("{auto}/join"), &user_token("alice"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        next_request(&app).await,
        ("recording".into(), "360p".into(), false)
    );
    let (_, call) = app.get(auto, &server_token()).await;
    assert_eq!(call["call"]["egress"]["recording"]["state"], "starting");

    // `go_live {start_recording: true, start_hls: true}` starts both; the
    // call shows the HLS playlist once the worker reports it.
    create_livestream(&app, json!({})).await;
    let host = user_token("alice");
    let (status, _) = app
        .post(
            &format!("{LIVE}/go_live"),
            &user_token("bob"),
            json!({"start_hls": true}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = app
        .post(
            &format!("{LIVE}/go_live"),
            &host,
            json!({"start_recording": true, "start_hls": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["call"]["egress"]["recording"]["state"], "starting");
    assert_eq!(body["call"]["egress"]["hls"]["state"], "starting");
    assert!(body["call"]["egress"]["hls"]["playlist_url"].is_null());
    let first = next_request(&app).await;
    let second = next_request(&app).await;
    assert_eq!(first, ("recording".into(), "720p".into(), false));
    assert_eq!(second, ("hls".into(), "720p".into(), false));
    let (status, body) = app
        .post(&format!("{LIVE}/hls/start"), &host, json!({}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("hls_running"))
    );
    let (status, body) = app
        .post(&format!("{LIVE}/hls/stop"), &host, json!({}))
        .await;
    assert_eq!(
        (status, body["hls"]["state"].as_str()),
        (StatusCode::OK, Some("ending"))
    );
    // Stopping again while it finishes is harmless.
    let (status, body) = app
        .post(&format!("{LIVE}/hls/stop"), &host, json!({}))
        .await;
    assert_eq!(
        (status, body["hls"]["state"].as_str()),
        (StatusCode::OK, Some("ending"))
    );
}

async fn rtmp_pushes_are_named_targets(backend: Backend) {
    let app = App::new(backend).await;
    create_livestream(&app, json!({})).await;
    let host = user_token("alice");
    let add = format!("{LIVE}/rtmp_broadcasts");
    let target = |name: &str| json!({"name": name, "stream_url": "rtmp://127.0.0.1:1935/live", "stream_key": "secret-key"});
    let (status, _) = app.post(&add, &user_token("bob"), target("yt")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for (body, code) in [
        (
            json!({"name": "no spaces", "stream_url": "rtmp://h/live", "stream_key": "k"}),
            "invalid_id",
        ),
        (
            json!({"name": "yt", "stream_url": "rtmp://h/live", "stream_key": "has space"}),
            "invalid_stream_key",
        ),
        (
            json!({"name": "yt", "stream_url": "ftp://h/live", "stream_key": "k"}),
            "invalid_stream_url",
        ),
    ] {
        let (status, got) = app.post(&add, &host, body).await;
        assert_eq!(
            (status, got["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(code)),
            "{got}"
        );
    }
    let (status, body) = app.post(&add, &host, target("yt")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["rtmp"]["name"], "yt");
    assert!(
        !body.to_string().contains("secret-key"),
        "the key is not echoed: {body}"
    );
    let EventKind::EgressRequested {
        kind,
        track_sid: target_seen,
        egress_id: id,
        ..
    } = queued(&app).await
    else {
        panic!("not an egress job");
    };
    assert_eq!(kind, onair_bus::EgressKind::Rtmp);
    // The stream key stays off the bus: the worker asks the API for it,
    // with a server token.
    assert_eq!(target_seen, None);
    let path = format!("/v1/egress/{id}/target");
    let (status, body) = app.get(&path, &host).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("server_token_required"))
    );
    let (status, body) = app.get(&path, &server_token()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["target"], "rtmp://127.0.0.1:1935/live/secret-key");
    let (status, body) = app.get(&format!("/v1/egress/{id}"), &server_token()).await;
    assert_eq!(
        (status, &body["state"]),
        (StatusCode::OK, &json!("starting"))
    );
    let (status, _) = app.get(&format!("/v1/egress/{id}"), &host).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.get("/v1/egress/EG_nope/target", &server_token()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = app.post(&add, &host, target("yt")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("rtmp_running"))
    );
    let (status, _) = app.post(&add, &host, target("twitch")).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, call) = app.get(LIVE, &host).await;
    let names: Vec<&str> = call["call"]["egress"]["rtmps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(names, ["yt", "twitch"]);
    let (status, body) = app
        .call(Method::DELETE, &format!("{add}/yt"), Some(&host), None)
        .await;
    assert_eq!(
        (status, body["rtmp"]["state"].as_str()),
        (StatusCode::OK, Some("ending")),
        "{body}"
    );
    let (status, _) = app
        .call(Method::DELETE, &format!("{add}/nope"), Some(&host), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

on_both_backends!(
    recordings_follow_worker_reports,
    recordings_start_by_themselves,
    rtmp_pushes_are_named_targets,
);
