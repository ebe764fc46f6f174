//! Bad input: each gets a clear 4xx and leaves the stored log as it was.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::start;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_requests_get_clear_errors_and_change_nothing() {
    let server = start().await;
    let created = server
        .create(json!({
            "scenario": "job-offer", "protocol": "saop", "rounds": 10,
            "roles": {"candidate": {"seat": "person"}, "employer": {"seat": "program"}}
        }))
        .await;
    let id = created.id().to_string();
    let path = format!("/api/sessions/{id}");
    let cand = created.seat("candidate").to_string();
    let emp = created.seat("employer").to_string();

    // Before the talks start.
    let before = server.log_state(&created).await;
    let r = server
        .call(
            "POST",
            &format!("{path}/actions"),
            Some(&cand),
            Some(json!({"type": "walk-away"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(
        r.body["error"]
            .as_str()
            .is_some_and(|e| e.contains("not started")),
        "{}",
        r.body
    );
    assert_eq!(server.log_state(&created).await, before);
    for t in [&cand, &emp] {
        assert_eq!(
            server
                .call("POST", &format!("{path}/join"), Some(t), Some(json!({})))
                .await
                .status,
            StatusCode::OK
        );
    }
    let r = server
        .call(
            "POST",
            &format!("{path}/join"),
            Some(&cand),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "joining twice");
    // Wait until the candidate is asked (it opens).
    server.wait_asked(&path, &cand).await;
    let before = server.log_state(&created).await;
    let good = json!({"salary": "95", "start date": "in 1 month", "remote days": "2 days a week", "signing bonus": "5k", "title": "Senior Engineer"});
    let mut outside = good.clone();
    outside["title"] = json!("CEO");
    let mut missing = good.clone();
    missing.as_object_mut().expect("object").remove("salary");
    let mut extra = good.clone();
    extra["parking"] = json!("yes");
    let cases: Vec<(Vec<u8>, StatusCode, &str)> = vec![
        (
            b"{\"type\": \"offer\", \"outcome\": ".to_vec(),
            StatusCode::BAD_REQUEST,
            "EOF",
        ),
        (
            b"not json at all".to_vec(),
            StatusCode::BAD_REQUEST,
            "expected",
        ),
        (
            json!({"type": "offer", "outcome": good, "note": "hi"})
                .to_string()
                .into_bytes(),
            StatusCode::BAD_REQUEST,
            "unknown field `note`",
        ),
        (
            json!({"type": "bribe"}).to_string().into_bytes(),
            StatusCode::BAD_REQUEST,
            "unknown variant `bribe`",
        ),
        (
            json!({"type": "offer", "outcome": outside})
                .to_string()
                .into_bytes(),
            StatusCode::BAD_REQUEST,
            "\"CEO\" is not a value of issue \"title\"",
        ),
        (
            json!({"type": "offer", "outcome": missing})
                .to_string()
                .into_bytes(),
            StatusCode::BAD_REQUEST,
            "issue \"salary\" has no value",
        ),
        (
            json!({"type": "offer", "outcome": extra})
                .to_string()
                .into_bytes(),
            StatusCode::BAD_REQUEST,
            "no issue \"parking\"",
        ),
        (
            json!({"type": "offer", "outcome": {"salary": 95}})
                .to_string()
                .into_bytes(),
            StatusCode::BAD_REQUEST,
            "invalid type",
        ),
        (
            json!({"type": "accept"}).to_string().into_bytes(),
            StatusCode::CONFLICT,
            "no standing offer",
        ),
        (
            json!({"type": "vote", "accept": true})
                .to_string()
                .into_bytes(),
            StatusCode::CONFLICT,
            "not a vote",
        ),
        (
            json!({"type": "text", "outcome": good})
                .to_string()
                .into_bytes(),
            StatusCode::CONFLICT,
            "only the mediator",
        ),
        (
            vec![b' '; 2 * 1024 * 1024],
            StatusCode::PAYLOAD_TOO_LARGE,
            "larger than",
        ),
    ];
    for (body, status, expected) in cases {
        let r = server
            .raw(&format!("{path}/actions"), Some(&cand), body)
            .await;
        assert_eq!(r.status, status, "{}", r.body);
        let message = r.body["error"].as_str().unwrap_or_default();
        assert!(
            message.contains(expected),
            "{expected:?} not in {message:?}"
        );
        assert_eq!(
            server.log_state(&created).await,
            before,
            "the log changed after {message}"
        );
    }
    // Out of turn: the employer is not asked yet.
    let r = server
        .call(
            "POST",
            &format!("{path}/actions"),
            Some(&emp),
            Some(json!({"type": "offer", "outcome": good})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(
        r.body["error"]
            .as_str()
            .is_some_and(|e| e.contains("not your turn")),
        "{}",
        r.body
    );
    assert_eq!(server.log_state(&created).await, before);
    // A good action is logged.
    let r = server
        .call(
            "POST",
            &format!("{path}/actions"),
            Some(&cand),
            Some(json!({"type": "offer", "outcome": good})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(server.log_state(&created).await.0 > before.0);

    // Session creation: every field is checked.
    for (request, expected) in [
        (
            json!({"scenario": "atlantis", "protocol": "saop", "rounds": 5, "roles": {}}),
            "no bundled scenario",
        ),
        (
            json!({"scenario": "job-offer", "protocol": "auction", "rounds": 5, "roles": {}}),
            "protocol",
        ),
        (
            json!({"scenario": "job-offer", "protocol": "saop", "rounds": 0, "roles": {}}),
            "rounds",
        ),
        (
            json!({"scenario": "job-offer", "protocol": "saop", "rounds": 5, "roles": {"candidate": {"seat": "person"}}}),
            "\"employer\" needs an agent or a seat",
        ),
        (
            json!({"scenario": "job-offer", "protocol": "saop", "rounds": 5, "roles": {"candidate": {"agent": "oracle"}, "employer": {"seat": "person"}}}),
            "unknown negotiator",
        ),
        (
            json!({"scenario": "job-offer", "protocol": "saop", "rounds": 5, "roles": {"candidate": {"seat": "person"}, "employer": {"seat": "person"}, "mediator": {"agent": "shuttle"}}}),
            "not a role",
        ),
        (
            json!({"scenario": "job-offer", "protocol": "saop", "rounds": 5, "roles": {"candidate": {"seat": "robot"}, "employer": {"seat": "person"}}}),
            "expected \"person\" or \"program\"",
        ),
        (
            json!({"scenario": "job-offer", "protocol": "saop", "rounds": 5, "roles": {"candidate": {"seat": "person"}, "employer": {"seat": "person"}}, "mandates": {"candidate": {"min_utility": 2}}}),
            "min_utility",
        ),
        (
            json!({"scenario": {"upload": {"name": "x"}}, "protocol": "saop", "rounds": 5, "roles": {}}),
            "scenario.upload",
        ),
        (
            json!({"scenario": "job-offer", "protocol": "saop", "rounds": 5, "roles": {}, "colour": "red"}),
            "unknown field `colour`",
        ),
    ] {
        let r = server
            .call("POST", "/api/sessions", None, Some(request))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        let message = r.body["error"].as_str().unwrap_or_default();
        assert!(
            message.contains(expected),
            "{expected:?} not in {message:?}"
        );
    }
    let r = server
        .call("GET", "/api/sessions/s_nothing", Some(&cand), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = server.call("GET", "/api/nowhere", None, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body["error"].is_string());
    // A wrong method, and plain HTTP on the WebSocket endpoint: JSON errors too.
    let r = server
        .call("GET", &format!("{path}/actions"), Some(&cand), None)
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(r.body["error"].is_string(), "{}", r.body);
    let r = server.call("GET", &format!("{path}/ws"), None, None).await;
    assert!(r.status.is_client_error());
    assert!(
        r.body["error"]
            .as_str()
            .is_some_and(|e| e.contains("WebSocket")),
        "{}",
        r.body
    );
    // An upload with a stray field is refused like any other unknown field.
    let r = server
        .call("POST", "/api/sessions", None, Some(json!({"scenario": {"upload": {}, "extra": 1}, "protocol": "saop", "rounds": 5, "roles": {}})))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
}

/// Random and mutated bodies on every endpoint: always a 2xx or 4xx with a JSON reason,
/// never a 5xx or a dropped connection; the log stays a valid chain; the session goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fuzzed_bodies_never_break_the_server() {
    use rand::{Rng, SeedableRng};
    let server = start().await;
    let created = server
        .create(json!({
            "scenario": "oman-talks", "protocol": "staged", "rounds": 200,
            "roles": {"united-states": {"seat": "person"}, "iran": {"agent": "boulware"}, "mediator": {"seat": "person"}}
        }))
        .await;
    let id = created.id().to_string();
    let path = format!("/api/sessions/{id}");
    let seeds: Vec<String> = vec![
        json!({"type": "propose", "outcome": {"enrichment": "20%", "stockpile": "kept", "inspections": "minimal", "sanctions relief": "none", "sequencing": "Iran first", "duration": "permanent"}}).to_string(),
        json!({"type": "text", "outcome": {"enrichment": "20%"}, "progress": 0.5}).to_string(),
        json!({"type": "vote", "accept": true}).to_string(),
        json!({"confide": true}).to_string(),
        json!({"confirm": true}).to_string(),
        json!({"outcome": {"enrichment": "60%"}}).to_string(),
        json!({"scenario": "job-offer", "protocol": "saop", "rounds": 3, "roles": {"candidate": {"seat": "person"}, "employer": {"agent": "linear"}}}).to_string(),
    ];
    let endpoints = ["/join", "/actions", "/evaluate", "/ratify"];
    let tokens = [
        created.seat("united-states").to_string(),
        created.seat("mediator").to_string(),
        created.owner().to_string(),
    ];
    let mut rng = rand::rngs::SmallRng::seed_from_u64(20261126);
    let alphabet = b"{}[]\":,0123456789.-eEtrufalsnxyz \\\n\t\x00\xff";
    for case in 0..600 {
        let mut body = seeds[rng.gen_range(0..seeds.len())].clone().into_bytes();
        match case % 4 {
            0 => {
                // Random bytes.
                body = (0..rng.gen_range(0..64))
                    .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
                    .collect();
            }
            1 => {
                // Flip, insert or delete a few bytes.
                for _ in 0..rng.gen_range(1..4) {
                    if body.is_empty() {
                        break;
                    }
                    let at = rng.gen_range(0..body.len());
                    match rng.gen_range(0..3) {
                        0 => body[at] = alphabet[rng.gen_range(0..alphabet.len())],
                        1 => body.insert(at, alphabet[rng.gen_range(0..alphabet.len())]),
                        _ => {
                            body.remove(at);
                        }
                    }
                }
            }
            2 => body.truncate(rng.gen_range(0..body.len().max(1))),
            _ => {}
        }
        let endpoint = if case % 7 == 6 {
            "/api/sessions".to_string()
        } else {
            format!("{path}{}", endpoints[rng.gen_range(0..endpoints.len())])
        };
        let token = &tokens[rng.gen_range(0..tokens.len())];
        let r = server.raw(&endpoint, Some(token), body.clone()).await;
        assert!(
            r.status.is_success() || r.status.is_client_error(),
            "{endpoint} {:?}: {} {}",
            String::from_utf8_lossy(&body),
            r.status,
            r.body
        );
        if r.status.is_client_error() {
            assert!(
                r.body["error"].as_str().is_some_and(|e| !e.is_empty()),
                "{}",
                r.body
            );
        }
    }
    let trace = server
        .call("GET", &format!("{path}/trace"), Some(created.owner()), None)
        .await;
    assert_eq!(trace.body["chain_ok"], true);
    assert!(server
        .call("GET", "/healthz", None, None)
        .await
        .status
        .is_success());
}
