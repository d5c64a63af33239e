//! Tokens are verified and capabilities enforced on every route.

use super::*;

async fn tokens_are_verified(backend: Backend) {
    let app = App::new(backend).await;
    create_livestream(&app, json!({})).await;
    let get = |token: Option<String>| {
        let app = &app;
        async move { app.call(Method::GET, LIVE, token.as_deref(), None).await }
    };
    let key = ApiKey::new(KEY, SECRET);
    let reason =
        |r: (StatusCode, Value)| (r.0, r.1["code"].as_str().unwrap_or_default().to_owned());

    assert_eq!(
        reason(get(None).await),
        (StatusCode::UNAUTHORIZED, "missing_token".into())
    );
    let expired = onair_auth::UserClaims {
        exp: common::now() - 1,
        ..user_claims("bob")
    };
    assert_eq!(
        reason(get(Some(mint(&key, &expired))).await),
        (StatusCode::UNAUTHORIZED, "expired".into())
    );
    let forged = mint(&ApiKey::new(KEY, "guessed"), &user_claims("bob"));
    assert_eq!(
        reason(get(Some(forged)).await),
        (StatusCode::UNAUTHORIZED, "bad_signature".into())
    );
    let other = onair_auth::UserClaims {
        iss: "APIother".into(),
        ..user_claims("bob")
    };
    assert_eq!(
        reason(get(Some(mint(&ApiKey::new("APIother", SECRET), &other))).await),
        (StatusCode::UNAUTHORIZED, "unknown_key".into())
    );
    let token = user_token("bob");
    let mut parts: Vec<&str> = token.split('.').collect();
    parts[0] = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"; // {"alg":"none","typ":"JWT"}
    parts[2] = "";
    assert_eq!(
        reason(get(Some(parts.join("."))).await),
        (StatusCode::UNAUTHORIZED, "bad_algorithm".into())
    );
    assert_eq!(
        reason(get(Some("garbage".into())).await),
        (StatusCode::UNAUTHORIZED, "malformed_token".into())
    );

    // Scoped tokens work for their call only.
    let scoped = onair_auth::UserClaims {
        call_cids: Some(vec!["livestream:other".into()]),
        ..user_claims("bob")
    };
    assert_eq!(
        reason(get(Some(mint(&key, &scoped))).await),
        (StatusCode::UNAUTHORIZED, "wrong_call".into())
    );
    let scoped = onair_auth::UserClaims {
        call_cids: Some(vec!["livestream:show".into()]),
        ..user_claims("bob")
    };
    assert_eq!(get(Some(mint(&key, &scoped))).await.0, StatusCode::OK);

    // A token in the query is not read (URLs end up in logs); a bare
    // Authorization value (Stream SDKs) is.
    let (status, body) = app
        .call(
            Method::GET,
            &format!("{LIVE}?token={}", user_token("bob")),
            None,
            None,
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("missing_token"))
    );
    let req = Request::get(LIVE)
        .header("authorization", user_token("bob"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.raw(req).await.0, StatusCode::OK);
}

async fn capabilities_are_enforced(backend: Backend) {
    let app = App::new(backend).await;
    create_livestream(&app, json!({})).await;
    let bob = user_token("bob");
    // Users cannot manage users or call types.
    let (status, body) = app
        .call(
            Method::PUT,
            "/v1/users",
            Some(&bob),
            Some(json!({"users": [{"id": "bob"}]})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("server_token_required"))
    );
    let (status, _) = app
        .call(
            Method::PUT,
            "/v1/call-types/mine",
            Some(&bob),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A livestream viewer cannot update, end, manage members or delete.
    for (method, path, body) in [
        (
            Method::PATCH,
            LIVE.to_owned(),
            Some(json!({"custom": {"x": 1}})),
        ),
        (Method::POST, format!("{LIVE}/end"), None),
        (Method::POST, format!("{LIVE}/stop_live"), None),
        (
            Method::POST,
            format!("{LIVE}/members"),
            Some(json!({"update_members": [{"user_id": "bob", "role": "host"}]})),
        ),
        (Method::DELETE, LIVE.to_owned(), None),
    ] {
        let (status, body) = app.call(method.clone(), &path, Some(&bob), body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
    }
    // A host may change settings; the settings then switch capabilities off.
    let alice = user_token("alice");
    let patch = json!({"settings_override": {"screensharing": {"enabled": false}}});
    let (status, body) = app
        .call(Method::PATCH, LIVE, Some(&alice), Some(patch))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!caps(&body).contains(&"screenshare".to_owned()));
    assert_eq!(body["call"]["settings"]["screensharing"]["enabled"], false);
    // Only admins and the server delete.
    let (status, _) = app.call(Method::DELETE, LIVE, Some(&alice), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let admin = mint(
        &common::key(),
        &onair_auth::UserClaims {
            role: Some("admin".into()),
            ..user_claims("root")
        },
    );
    let (status, _) = app.call(Method::DELETE, LIVE, Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.get(LIVE, &server_token()).await.0,
        StatusCode::NOT_FOUND
    );
}

on_both_backends!(tokens_are_verified, capabilities_are_enforced,);
