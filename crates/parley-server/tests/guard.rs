//! The server's door: the creator token, cross-site requests, security headers, label
//! validation, and internal errors kept from the parties.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{start, CREATOR};

fn session_request() -> Value {
    json!({"scenario": "job-offer", "protocol": "saop", "rounds": 5,
           "roles": {"candidate": {"seat": "program"}, "employer": {"agent": "boulware"}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_a_session_needs_the_creator_token() {
    let server = start().await;
    let url = format!("{}/api/sessions", server.base);
    let client = reqwest::Client::new();
    let r = client
        .post(&url)
        .json(&session_request())
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body: Value = r.json().await.expect("json");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("creator token")),
        "{body}"
    );
    let r = client
        .post(&url)
        .bearer_auth("a-guess-at-the-token")
        .json(&session_request())
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A seat's or owner's token of another session does not create sessions either.
    let created = server.create(session_request()).await;
    let r = client
        .post(&url)
        .bearer_auth(created.owner())
        .json(&session_request())
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = client
        .post(&url)
        .bearer_auth(CREATOR)
        .json(&session_request())
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_and_non_json_posts_are_refused() {
    let server = start().await;
    let url = format!("{}/api/sessions", server.base);
    let client = reqwest::Client::new();
    let body = session_request().to_string();
    // What a form or a `fetch` in `no-cors` mode on another site can send.
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let r = client
            .post(&url)
            .bearer_auth(CREATOR)
            .header("content-type", content_type)
            .body(body.clone())
            .send()
            .await
            .expect("answer");
        assert_eq!(
            r.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type}"
        );
        let e: Value = r.json().await.expect("json");
        assert!(e["error"]
            .as_str()
            .is_some_and(|e| e.contains("application/json")));
    }
    // Another site's page, whatever it sends.
    let r = client
        .post(&url)
        .bearer_auth(CREATOR)
        .header("origin", "https://evil.example")
        .json(&session_request())
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let e: Value = r.json().await.expect("json");
    assert!(e["error"]
        .as_str()
        .is_some_and(|e| e.contains("cross-site")));
    // This server's own page is fine.
    let r = client
        .post(&url)
        .bearer_auth(CREATOR)
        .header("origin", &server.base)
        .json(&session_request())
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), StatusCode::CREATED);
    // A WebSocket opened from another site is refused before it upgrades.
    let created = server.create(session_request()).await;
    let ws = format!(
        "{}/api/sessions/{}/ws",
        server.base.replace("http", "ws"),
        created.id()
    );
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(ws.as_str())
            .expect("request");
    request
        .headers_mut()
        .insert("origin", "https://evil.example".parse().expect("header"));
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status().as_u16(), 403)
        }
        other => panic!("a cross-site WebSocket must be refused, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_the_security_headers() {
    let server = start().await;
    let client = reqwest::Client::new();
    for path in [
        "/",
        "/room/x",
        "/assets/app.js",
        "/assets/style.css",
        "/api/scenarios",
        "/api/sessions/nope",
        "/no/such/page",
    ] {
        let r = client
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .expect("answer");
        let h = r.headers();
        let csp = h
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{path}: no Content-Security-Policy"));
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "object-src 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {directive} not in {csp}");
        }
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{csp}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
    }
    // The page has no inline script or style the policy would block.
    let page = client
        .get(format!("{}/", server.base))
        .send()
        .await
        .expect("answer")
        .text()
        .await
        .expect("text");
    assert!(
        !page.contains("<script>") && !page.contains("style="),
        "{page}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_are_normalised_and_invisible_characters_refused() {
    let server = start().await;
    let upload = |issue: &str, values: Vec<&str>, party: &str| {
        let evaluations: serde_json::Map<String, Value> = values
            .iter()
            .enumerate()
            .map(|(k, v)| (v.to_string(), json!(k as f64)))
            .collect();
        json!({
            "scenario": {"upload": {
                "name": "labels",
                "issues": [{"name": issue, "values": values}],
                "parties": [
                    {"name": party, "reservation": 0.0, "utility": {"kind": "linear", "issues": [{"issue": issue, "weight": 1.0, "values": evaluations}]}},
                    {"name": "b", "reservation": 0.0, "utility": {"kind": "linear", "issues": [{"issue": issue, "weight": 1.0, "values": evaluations}]}}
                ]
            }},
            "protocol": "saop", "rounds": 3,
            "roles": {party: {"seat": "program"}, "b": {"seat": "program"}}
        })
    };
    for (issue, values, party, expected) in [
        (
            "price\u{202e}",
            vec!["x", "y"],
            "a",
            "right-to-left override U+202E",
        ),
        (
            "price",
            vec!["x\u{200b}", "y"],
            "a",
            "zero-width space U+200B",
        ),
        ("price", vec!["x", "y"], "a\u{0}", "U+0000"),
        (
            "price",
            vec!["caf\u{e9}", "cafe\u{301}"],
            "a",
            "listed twice",
        ),
    ] {
        let r = server
            .call(
                "POST",
                "/api/sessions",
                None,
                Some(upload(issue, values.clone(), party)),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{issue:?} {values:?}: {}",
            r.body
        );
        let e = r.body["error"].as_str().unwrap_or_default();
        assert!(e.contains(expected), "{expected:?} not in {e:?}");
    }
    // An NFD spelling finds the NFC value.
    let created = server
        .create(upload("price", vec!["caf\u{e9}", "tea"], "a"))
        .await;
    let path = format!("/api/sessions/{}", created.id());
    for seat in ["a", "b"] {
        let r = server
            .call(
                "POST",
                &format!("{path}/join"),
                Some(created.seat(seat)),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let a = created.seat("a");
    server.wait_asked(&path, a).await;
    let r = server
        .call(
            "POST",
            &format!("{path}/actions"),
            Some(a),
            Some(json!({"type": "offer", "outcome": {"price": "cafe\u{301}"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_party_never_sees_an_internal_error() {
    let server = start().await;
    let created = server.create(session_request()).await;
    let path = format!("/api/sessions/{}", created.id());
    let seat = created.seat("candidate");
    let r = server
        .call("POST", &format!("{path}/join"), Some(seat), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    server.wait_asked(&path, seat).await;
    // The database starts refusing the engine's events, with a message of its own.
    sqlx::any::install_default_drivers();
    let db = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&server.url)
        .await
        .expect("db");
    sqlx::query(
        "CREATE TRIGGER refuse BEFORE INSERT ON log WHEN NEW.kind = 'event' \
         BEGIN SELECT RAISE(ABORT, 'disk quota of tenant 7 exceeded on /var/db'); END",
    )
    .execute(&db)
    .await
    .expect("trigger");
    let offer = json!({"type": "offer", "outcome": {"salary": "95", "start date": "in 1 month",
        "remote days": "2 days a week", "signing bonus": "5k", "title": "Senior Engineer"}});
    let r = server
        .call("POST", &format!("{path}/actions"), Some(seat), Some(offer))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let view = server.call("GET", &path, Some(seat), None).await.body;
    let text = view.to_string();
    let error = view["error"]
        .as_str()
        .expect("the view says the session stopped");
    assert!(error.contains("server's log"), "{error}");
    for secret in ["quota", "tenant", "/var/db", "database", "event"] {
        assert!(!error.contains(secret), "{secret:?} in {error:?}");
    }
    assert!(!text.contains("quota"), "{text}");
}

/// DNS rebinding: a page on another name made to resolve to 127.0.0.1 reaches a
/// loopback server with that name in `Host`; the server answers only IP addresses,
/// `localhost` and the names it was told.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loopback_server_answers_only_its_own_host_names() {
    let server = start().await;
    let port = server.base.rsplit(':').next().expect("port").to_string();
    let client = reqwest::Client::new();
    for (host, expected) in [
        (
            format!("evil.example:{port}"),
            StatusCode::MISDIRECTED_REQUEST,
        ),
        ("evil.example".to_string(), StatusCode::MISDIRECTED_REQUEST),
        (format!("localhost:{port}"), StatusCode::OK),
        (format!("LOCALHOST:{port}"), StatusCode::OK),
        (format!("127.0.0.1:{port}"), StatusCode::OK),
        (format!("[::1]:{port}"), StatusCode::OK),
    ] {
        let r = client
            .get(format!("{}/api/scenarios", server.base))
            .header("host", &host)
            .send()
            .await
            .expect("answer");
        assert_eq!(r.status(), expected, "{host}");
        if expected != StatusCode::OK {
            let e: Value = r.json().await.expect("json");
            assert!(
                e["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("--allow-host")),
                "{e}"
            );
        }
    }
    let listed = parley_server::HostPolicy::for_listener(
        "127.0.0.1:80".parse().expect("addr"),
        &["Talks.Example.org".to_string()],
    );
    assert!(listed.allows("talks.example.org:443"));
    assert!(!listed.allows("talks.example.org.evil.example"));
    let public = parley_server::HostPolicy::for_listener("0.0.0.0:80".parse().expect("addr"), &[]);
    assert!(public.allows("anything.example"));
}

/// A path that is not valid UTF-8 gets a JSON error like every other request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_path_gets_a_json_error() {
    let server = start().await;
    let r = server
        .call("GET", "/api/sessions/%FF%FE", Some("x"), None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body["error"]
            .as_str()
            .is_some_and(|e| e.contains("session id in the path")),
        "{}",
        r.body
    );
}
