//! Confidentiality: one seat's token against every endpoint and the WebSocket.

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::common::start;

/// Every number and string in a JSON value.
fn leaves(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                out.push(k.clone());
                leaves(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| leaves(x, out)),
        other => out.push(other.to_string()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_seat_token_yields_nothing_private_of_another_party() {
    let server = start().await;
    // Shuttle talks: proposals go to the mediator only. Iran confides; the US does not.
    let created = server
        .create(json!({
            "scenario": "oman-talks",
            "protocol": "shuttle",
            "rounds": 6,
            "roles": {"united-states": {"seat": "person"}, "iran": {"seat": "program"}, "mediator": {"agent": "shuttle"}}
        }))
        .await;
    let id = created.id().to_string();
    let path = format!("/api/sessions/{id}");
    let us = created.seat("united-states").to_string();
    let iran = created.seat("iran").to_string();
    assert_eq!(
        server
            .call("POST", &format!("{path}/join"), Some(&us), Some(json!({})))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        server
            .call(
                "POST",
                &format!("{path}/join"),
                Some(&iran),
                Some(json!({"confide": true}))
            )
            .await
            .status,
        StatusCode::OK
    );
    // Iran proposes something; the US passes; a few rounds.
    let secret_offer = json!({"enrichment": "20%", "stockpile": "kept under IAEA seal", "inspections": "declared sites only", "sanctions relief": "full lifting incl. primary", "sequencing": "sanctions relief first", "duration": "15 years"});
    for _ in 0..3 {
        for (token, action) in [
            (&iran, json!({"type": "propose", "outcome": secret_offer})),
            (&us, json!({"type": "pass"})),
        ] {
            for _ in 0..200 {
                let v = server.call("GET", &path, Some(token), None).await.body;
                if v["pending"]["kind"] == "propose" {
                    let r = server
                        .call(
                            "POST",
                            &format!("{path}/actions"),
                            Some(token),
                            Some(action.clone()),
                        )
                        .await;
                    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
                    break;
                }
                if v["pending"]["kind"] == "vote" {
                    server
                        .call(
                            "POST",
                            &format!("{path}/actions"),
                            Some(token),
                            Some(json!({"type": "vote", "accept": false})),
                        )
                        .await;
                }
                tokio::time::sleep(std::time::Duration::from_millis(3)).await;
            }
        }
    }

    // What the US seat can get, through every endpoint.
    let mut seen = Vec::new();
    let view = server.call("GET", &path, Some(&us), None).await;
    assert_eq!(view.status, StatusCode::OK);
    leaves(&view.body, &mut seen);
    for (method, endpoint, body) in [
        ("GET", format!("{path}/trace"), None),
        (
            "POST",
            format!("{path}/ratify"),
            Some(json!({"confirm": true})),
        ),
        (
            "POST",
            format!("{path}/join"),
            Some(json!({"confide": false})),
        ),
        (
            "POST",
            format!("{path}/actions"),
            Some(json!({"type": "text", "outcome": secret_offer})),
        ),
        (
            "POST",
            format!("{path}/evaluate"),
            Some(json!({"outcome": secret_offer})),
        ),
        // Its own preferences only.
        ("GET", format!("{path}/preferences"), None),
        ("GET", "/api/scenarios".to_string(), None),
        ("GET", "/api/openapi.json".to_string(), None),
    ] {
        let r = server.call(method, &endpoint, Some(&us), body).await;
        leaves(&r.body, &mut seen);
        if endpoint.ends_with("/trace") || endpoint.ends_with("/ratify") {
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{endpoint}: {}", r.body);
        }
    }
    let ws_url = format!("{}/api/sessions/{id}/ws", server.base.replace("http", "ws"));
    let (mut socket, _) = tokio_tungstenite::connect_async(&ws_url).await.expect("ws");
    socket
        .send(Message::Text(json!({"token": us}).to_string().into()))
        .await
        .expect("send");
    let msg = socket.next().await.expect("message").expect("ok");
    let v: Value = serde_json::from_str(msg.to_text().expect("text")).expect("json");
    leaves(&v, &mut seen);

    // Iran's preferences: its reservation value and every utility it gives an outcome.
    let scenario = parley_formats::native::parse_toml(
        include_str!("../../../scenarios/oman-talks.toml"),
        "oman",
    )
    .expect("scenario");
    let iran_party = &scenario.parties()[1];
    let own_eval = {
        let r = server
            .call(
                "POST",
                &format!("{path}/evaluate"),
                Some(&us),
                Some(json!({"outcome": secret_offer})),
            )
            .await;
        r.body["utility"].as_f64().expect("my utility")
    };
    let o: Vec<u32> = scenario
        .space()
        .issues()
        .iter()
        .map(|i| {
            i.value_index(secret_offer[i.name()].as_str().expect("label"))
                .expect("value")
        })
        .collect();
    assert!(
        (own_eval - scenario.utilities()[0].value(&o)).abs() < 1e-12,
        "evaluate gives my own utility"
    );
    let iran_utility = scenario.utilities()[1].value(&o);
    for e in view.body["events"].as_array().expect("events") {
        assert_ne!(
            e["type"], "proposal",
            "the US passed, and Iran's proposals go to the mediator only: {e}"
        );
        assert!(e["type"] != "vote" || e["by"] == "united-states", "{e}");
        assert!(
            e["type"] != "confide",
            "who confided is between that party and the mediator: {e}"
        );
    }
    assert!(
        iran_utility > 0.05 && iran_utility < 0.95,
        "a distinctive value: {iran_utility}"
    );
    for secret in [iran_party.reservation, iran_utility] {
        assert!(
            !seen
                .iter()
                .any(|s| s.parse::<f64>().is_ok_and(|x| (x - secret).abs() < 1e-12)),
            "{secret} leaked"
        );
    }
    for key in ["utilities", "plane", "analysis", "agent"] {
        assert!(
            !view.body.to_string().contains(&format!("\"{key}\":{{")),
            "{key}"
        );
    }
    assert!(view.body["roles"][1]["agent"].is_null());

    // Tokens: none, unknown, another session's, expired.
    let r = server.call("GET", &path, None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    let r = server.call("GET", &path, Some("not-a-token"), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let other = server
        .create(json!({"scenario": "job-offer", "protocol": "saop", "rounds": 5, "token_ttl_seconds": 1,
                       "roles": {"candidate": {"seat": "person"}, "employer": {"agent": "boulware"}}}))
        .await;
    let r = server
        .call("GET", &path, Some(other.seat("candidate")), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = server.call("GET", &path, Some(other.owner()), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let (mut socket, _) = tokio_tungstenite::connect_async(&ws_url).await.expect("ws");
    socket
        .send(Message::Text(
            json!({"token": other.seat("candidate")}).to_string().into(),
        ))
        .await
        .expect("send");
    match socket.next().await {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 4403),
        other => panic!("expected a 4403 close, got {other:?}"),
    }
    let (mut socket, _) = tokio_tungstenite::connect_async(&ws_url).await.expect("ws");
    socket
        .send(Message::Text(json!({"token": "wrong"}).to_string().into()))
        .await
        .expect("send");
    match socket.next().await {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 4401),
        other => panic!("expected a 4401 close, got {other:?}"),
    }
    // A socket opened with a token about to expire is closed when it does.
    let other_ws = format!(
        "{}/api/sessions/{}/ws",
        server.base.replace("http", "ws"),
        other.id()
    );
    let (mut live_socket, _) = tokio_tungstenite::connect_async(&other_ws)
        .await
        .expect("ws");
    live_socket
        .send(Message::Text(
            json!({"token": other.seat("candidate")}).to_string().into(),
        ))
        .await
        .expect("send");
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let closed = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            match live_socket.next().await {
                Some(Ok(Message::Close(Some(frame)))) => return u16::from(frame.code),
                Some(Ok(_)) => continue,
                other => panic!("expected a close, got {other:?}"),
            }
        }
    })
    .await
    .expect("the socket is closed when its token expires");
    assert_eq!(closed, 4401);
    let r = server
        .call(
            "GET",
            &format!("/api/sessions/{}", other.id()),
            Some(other.seat("candidate")),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body["error"]
        .as_str()
        .is_some_and(|e| e.contains("expired")));
}

/// The host sees what the session's `owner_sees` says, and every party is told which.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_sees_what_owner_sees_allows() {
    let server = crate::common::start().await;
    let ended = |created: &crate::common::Created| {
        let path = format!("/api/sessions/{}", created.id());
        let token = created.owner().to_string();
        let server = &server;
        async move {
            for _ in 0..2000 {
                let v = server.call("GET", &path, Some(&token), None).await.body;
                // Ended, and its closing analysis (if the viewer gets one) computed.
                if v["status"] == "ended" && v["analysis"]["pending"].is_null() {
                    return v;
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            panic!("the session did not end");
        }
    };
    let kinds = |v: &Value| -> Vec<String> {
        v["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| e["type"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let roles = json!({"candidate": {"agent": "conceder"}, "employer": {"agent": "boulware"},
                       "mediator": {"agent": "shuttle"}});
    // A built-in mediator: by default the host sees what the parties tell it.
    let created = server
        .create_as_is(
            json!({"scenario": "job-offer", "protocol": "shuttle", "rounds": 30,
                             "roles": roles, "confide": ["employer"]}),
        )
        .await;
    assert_eq!(created.0["owner_sees"], "confided");
    assert!(
        created.0["auditor_token"].is_null(),
        "no auditor without owner_sees all"
    );
    let v = ended(&created).await;
    assert_eq!(v["role"]["sees"], "confided");
    let k = kinds(&v);
    assert!(
        k.contains(&"proposal".to_string()) && k.contains(&"confide".to_string()),
        "{k:?}"
    );
    assert!(
        v["analysis"].is_null() && v["result"]["utilities"].is_null(),
        "{v}"
    );
    let r = server.trace(&created).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    // Said so to the parties too (here, agents: the owner's view carries the setting).
    assert_eq!(v["owner_sees"], "confided");

    // Asked for the public record only: no proposal, vote or confidence.
    let created = server
        .create_as_is(
            json!({"scenario": "job-offer", "protocol": "shuttle", "rounds": 30,
                             "roles": roles, "confide": ["employer"], "owner_sees": "public"}),
        )
        .await;
    let v = ended(&created).await;
    let k = kinds(&v);
    for private in ["proposal", "carry", "vote", "confide", "call-direct"] {
        assert!(!k.contains(&private.to_string()), "{private} in {k:?}");
    }
    assert!(k.contains(&"end".to_string()));
    assert!(v["result"]["reason"].is_string());

    // Everything: the full log and the analysis, and an auditor link.
    let created = server
        .create_as_is(
            json!({"scenario": "job-offer", "protocol": "shuttle", "rounds": 30,
                             "roles": roles, "owner_sees": "all"}),
        )
        .await;
    assert!(created.0["auditor_token"].is_string());
    let v = ended(&created).await;
    assert!(v["analysis"]["frontier"].is_array() && v["result"]["utilities"].is_array());
    let r = server.trace(&created).await;
    assert_eq!(r.status, StatusCode::OK);

    // A seat mediates: the host does not run the mediator, and sees the public record.
    let created = server
        .create_as_is(
            json!({"scenario": "job-offer", "protocol": "shuttle", "rounds": 4,
            "roles": {"candidate": {"seat": "person"}, "employer": {"agent": "boulware"},
                      "mediator": {"seat": "person"}}}),
        )
        .await;
    assert_eq!(created.0["owner_sees"], "public");
    let seat = server
        .call(
            "GET",
            &format!("/api/sessions/{}", created.id()),
            Some(created.seat("candidate")),
            None,
        )
        .await
        .body;
    assert_eq!(
        seat["owner_sees"], "public",
        "every party is told what the host sees"
    );
    let bad = server
        .call(
            "POST",
            "/api/sessions",
            None,
            Some(json!({"scenario": "job-offer", "protocol": "saop",
            "rounds": 4, "owner_sees": "everything",
            "roles": {"candidate": {"agent": "conceder"}, "employer": {"agent": "boulware"}}})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.body["error"]
            .as_str()
            .is_some_and(|e| e.contains("owner_sees")),
        "{}",
        bad.body
    );
}
