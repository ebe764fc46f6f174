//! Whole negotiations over the API.

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::common::{start, start_on, Player, Server};

/// A flagship package: `enrichment` as given, middle values on every other issue.
fn package(enrichment: &str) -> Value {
    json!({"enrichment": enrichment, "stockpile": "down-blended",
        "inspections": "JCPOA-level", "sanctions relief": "phased lifting of secondary sanctions",
        "sequencing": "simultaneous step-for-step", "duration": "25 years"})
}

fn types(view: &Value) -> Vec<String> {
    view["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Joins the United States and Iran seats of `created` (confiding or not) and gives
/// each a player that holds out in the indirect phase (the US floor 0.55, Iran's 0.5).
async fn two_holding_seats(
    server: &Arc<Server>,
    created: &crate::common::Created,
    confide: bool,
) -> (Player, Player) {
    let id = created.id();
    for party in ["united-states", "iran"] {
        let r = server
            .call(
                "POST",
                &format!("/api/sessions/{id}/join"),
                Some(created.seat(party)),
                Some(json!({"confide": confide})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let mut us = Player::new(Arc::clone(server), id, created.seat("united-states"), 0.55).await;
    let mut iran = Player::new(Arc::clone(server), id, created.seat("iran"), 0.5).await;
    us.hold_out_indirect = true;
    iran.hold_out_indirect = true;
    (us, iran)
}

async fn staged_between_two_remote_seats(server: Server) {
    let server = Arc::new(server);
    let created = server
        .create(json!({
            "scenario": "oman-talks",
            "protocol": "staged",
            "rounds": 40,
            "threshold": 0.7,
            "indirect_rounds": 20,
            "roles": {
                "united-states": {"seat": "program"},
                "iran": {"seat": "program"},
                "mediator": {"agent": "shuttle"}
            }
        }))
        .await;
    let id = created.id().to_string();
    // Both confide and hold out in the indirect phase, so that the talks move to direct.
    let (us, iran) = two_holding_seats(&server, &created, true).await;
    let (a, b) = tokio::join!(us.play(), iran.play());

    // Each side saw the phase change, and neither saw the other's proposals.
    for (view, me, other) in [(&a, "united-states", "iran"), (&b, "iran", "united-states")] {
        let kinds = types(view);
        assert!(kinds.contains(&"phase".to_string()), "{kinds:?}");
        for e in view["events"].as_array().expect("events") {
            if e["type"] == "proposal" {
                assert_eq!(e["from"], me, "a party sees only its own proposals");
            }
            if e["type"] == "carry" {
                assert_eq!(e["to"], me, "a party sees only texts carried to it");
            }
            if e["type"] == "vote" {
                assert_eq!(e["by"], me, "a party sees only its own votes");
            }
            if e["type"] != "offer" {
                assert_ne!(
                    e["from"], other,
                    "only direct offers pass between the sides: {e}"
                );
            }
        }
        assert_eq!(view["status"], "ended");
        assert!(view["result"]["my_utility"].is_number());
    }
    let owner = server.analysed(&created).await;
    let kinds = types(&owner);
    assert!(kinds.contains(&"confide".to_string()));
    assert!(kinds.contains(&"proposal".to_string()));
    let phase = owner["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["type"] == "phase")
        .expect("a phase change");
    assert_eq!(phase["from"], "indirect");
    assert_eq!(phase["to"], "direct");
    assert_eq!(
        owner["result"]["reason"], "agreement",
        "{}",
        owner["result"]
    );
    assert!(owner["analysis"]["frontier"]
        .as_array()
        .is_some_and(|f| !f.is_empty()));
    let agreed = owner["analysis"]["agreement_utilities"]
        .as_array()
        .expect("utilities");
    assert_eq!(agreed.len(), 2);
    // The log verifies.
    let trace = server
        .call(
            "GET",
            &format!("/api/sessions/{id}/trace"),
            Some(created.owner()),
            None,
        )
        .await;
    assert_eq!(trace.body["chain_ok"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn staged_talks_between_two_remote_seats_and_a_built_in_mediator() {
    staged_between_two_remote_seats(start().await).await;
}

/// The same on PostgreSQL, through the same code path (`PARLEY_TEST_POSTGRES`, set by
/// `.ci/run`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: set PARLEY_TEST_POSTGRES=postgres://… (.ci/run starts one)"]
async fn staged_talks_on_postgresql() {
    let url = crate::common::postgres_url();
    staged_between_two_remote_seats(start_on(&url, None).await).await;
}

/// A person's seat against a built-in negotiator, following the talks over the
/// WebSocket and acting over HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_person_against_a_built_in_negotiator_over_the_websocket() {
    let server = Arc::new(start().await);
    let created = server
        .create(json!({
            "scenario": "job-offer",
            "protocol": "saop",
            "rounds": 30,
            "roles": {"candidate": {"seat": "person"}, "employer": {"agent": "conceder"}}
        }))
        .await;
    let id = created.id().to_string();
    let token = created.seat("candidate").to_string();
    let player = Player::new(Arc::clone(&server), &id, &token, 0.6).await;
    let ws_url = format!("{}/api/sessions/{id}/ws", server.base.replace("http", "ws"));
    let (mut socket, _) = tokio_tungstenite::connect_async(&ws_url).await.expect("ws");
    socket
        .send(Message::Text(json!({"token": token}).to_string().into()))
        .await
        .expect("hello");
    let first = socket.next().await.expect("a message").expect("ok");
    let first: Value = serde_json::from_str(first.to_text().expect("text")).expect("json");
    assert_eq!(first["type"], "view");
    assert_eq!(first["view"]["status"], "waiting");
    let r = server
        .call(
            "POST",
            &format!("/api/sessions/{id}/join"),
            Some(&token),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let mut views = 0;
    let mut last = Value::Null;
    while let Some(Ok(message)) = socket.next().await {
        let Ok(text) = message.to_text() else {
            continue;
        };
        let v: Value = serde_json::from_str(text).expect("json");
        views += 1;
        last = v["view"].clone();
        if last["status"] == "ended" {
            break;
        }
        if !last["pending"].is_null() {
            player.step().await;
        }
    }
    assert!(views > 3, "the socket streamed the talks ({views} views)");
    assert_eq!(last["status"], "ended");
    assert_eq!(last["result"]["reason"], "agreement", "{}", last["result"]);
    let mine = last["result"]["my_utility"].as_f64().expect("utility");
    assert!(mine >= 0.6 - 1e-9, "{mine}");
    // My utility of every offer is in my history; the employer's utilities are not.
    for e in last["events"].as_array().expect("events") {
        if e["type"] == "offer" {
            assert!(e["my_utility"].is_number());
        }
    }
    assert!(last["result"].get("utilities").is_none());
}

/// A delegate accepts outside its mandate: the acceptance waits; the other side sees
/// only that it is pending; the principal refuses, then confirms a later one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acceptances_outside_the_mandate_wait_for_the_principal() {
    let server = Arc::new(start().await);
    let created = server
        .create(json!({
            "scenario": "job-offer",
            "protocol": "saop",
            "rounds": 40,
            "roles": {"candidate": {"seat": "person"}, "employer": {"seat": "program"}},
            "mandates": {"candidate": {"min_utility": 0.9}}
        }))
        .await;
    let id = created.id().to_string();
    let path = format!("/api/sessions/{id}");
    let (cand, emp, principal) = (
        created.seat("candidate"),
        created.seat("employer"),
        created.principal("candidate"),
    );
    for t in [cand, emp] {
        assert_eq!(
            server
                .call("POST", &format!("{path}/join"), Some(t), Some(json!({})))
                .await
                .status,
            StatusCode::OK
        );
    }
    let employer = Player::new(Arc::clone(&server), &id, emp, 0.5).await;
    // The candidate opens; the employer counters with something modest for the candidate.
    let candidate = Player::new(Arc::clone(&server), &id, cand, 0.9).await;
    server.wait_asked(&path, cand).await;
    candidate.step().await;
    server.wait_asked(&path, emp).await;
    employer.step().await;
    let v = server.wait_asked(&path, cand).await;
    let standing = v["pending"]["standing_utility"]
        .as_f64()
        .expect("a standing offer");
    assert!(standing < 0.9, "{standing}");
    let before = server.log_state(&created).await;
    let r = server
        .call(
            "POST",
            &format!("{path}/actions"),
            Some(cand),
            Some(json!({"type": "accept"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(r.body["pending_ratification"], true);
    // The delegate cannot act again meanwhile.
    let again = server
        .call(
            "POST",
            &format!("{path}/actions"),
            Some(cand),
            Some(json!({"type": "walk-away"})),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    // The employer sees nothing of it: the hold is a private move of the candidate.
    let ev = server.call("GET", &path, Some(emp), None).await.body;
    assert!(
        ev["events"]
            .as_array()
            .expect("events")
            .iter()
            .all(|e| !e["type"]
                .as_str()
                .unwrap_or_default()
                .starts_with("ratification")),
        "{ev}"
    );
    // The delegate does, with what it holds.
    let cv = server.call("GET", &path, Some(cand), None).await.body;
    assert!(cv["events"]
        .as_array()
        .expect("events")
        .iter()
        .any(|e| e["type"] == "ratification-pending" && e["action"]["type"] == "accept"));
    // The principal sees the held acceptance and refuses it.
    let pv = server.call("GET", &path, Some(principal), None).await.body;
    assert_eq!(pv["ratification"]["status"], "pending");
    assert_eq!(pv["role"]["principal"], true);
    let wrong = server
        .call(
            "POST",
            &format!("{path}/ratify"),
            Some(cand),
            Some(json!({"confirm": true})),
        )
        .await;
    assert_eq!(
        wrong.status,
        StatusCode::FORBIDDEN,
        "a delegate cannot ratify itself"
    );
    let r = server
        .call(
            "POST",
            &format!("{path}/ratify"),
            Some(principal),
            Some(json!({"confirm": false})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let v = server.call("GET", &path, Some(cand), None).await.body;
    assert!(v["ratification"].is_null());
    assert_eq!(v["pending"]["kind"], "act", "the delegate acts again");
    // Now it accepts again and the principal confirms: a deal below the mandate.
    let r = server
        .call(
            "POST",
            &format!("{path}/actions"),
            Some(cand),
            Some(json!({"type": "accept"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = server
        .call(
            "POST",
            &format!("{path}/ratify"),
            Some(principal),
            Some(json!({"confirm": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    for _ in 0..500 {
        let v = server
            .call("GET", &path, Some(created.owner()), None)
            .await
            .body;
        if v["status"] == "ended" {
            assert_eq!(v["result"]["reason"], "agreement");
            let after = server.log_state(&created).await;
            assert!(after.0 > before.0);
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("no deal after ratification");
}

/// When an action is answered, everything it caused is in the log already: the event it
/// became, and the built-in negotiator's reply up to the next time the seat is asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_answered_action_and_all_it_caused_are_in_the_log() {
    let server = Arc::new(start().await);
    let created = server
        .create(json!({
            "scenario": "job-offer", "protocol": "saop", "rounds": 30,
            "roles": {"candidate": {"seat": "program"}, "employer": {"agent": "boulware"}}
        }))
        .await;
    let id = created.id().to_string();
    let seat = created.seat("candidate").to_string();
    let path = format!("/api/sessions/{id}");
    let r = server
        .call("POST", &format!("{path}/join"), Some(&seat), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let offer = json!({"type": "offer", "outcome": {"salary": "99", "start date": "in 2 months", "remote days": "fully remote", "signing bonus": "15k", "title": "Staff Engineer"}});
    for round in 0..5 {
        server.wait_asked(&path, &seat).await;
        let r = server
            .call(
                "POST",
                &format!("{path}/actions"),
                Some(&seat),
                Some(offer.clone()),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let receipt = r.body["receipt"]["hash"]
            .as_str()
            .expect("a receipt")
            .to_string();
        // Read the log right away: the input, the candidate's offer event, and the
        // employer's answer are all there.
        let trace = server
            .call("GET", &format!("{path}/trace"), Some(created.owner()), None)
            .await
            .body;
        let records = trace["records"].as_array().expect("records");
        let acked = records
            .iter()
            .position(|r| r["hash"] == receipt.as_str())
            .expect("the receipt names a logged record");
        assert_eq!(records[acked]["kind"], "input");
        let after: Vec<Value> = records[acked + 1..]
            .iter()
            .map(|r| serde_json::from_str(r["body"].as_str().expect("body")).expect("json"))
            .collect();
        assert!(
            after
                .iter()
                .any(|b| b["type"] == "offer" && b["from"] == "candidate"),
            "round {round}: {after:?}"
        );
        assert!(
            after
                .iter()
                .any(|b| b["from"] == "employer" || b["by"] == "employer"),
            "round {round}: the employer's reply is logged before the answer: {after:?}"
        );
        // And the seat is asked again (or the talks ended) by then.
        let v = server.call("GET", &path, Some(&seat), None).await.body;
        assert!(!v["pending"].is_null() || v["status"] == "ended", "{v}");
        if v["status"] == "ended" {
            break;
        }
    }
}

/// Staged talks over the API: going direct needs every seat's consent (answers public
/// to both seats); refused twice, the talks end at the indirect deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn going_direct_needs_every_seats_consent() {
    let server = Arc::new(start().await);
    let created = server
        .create(json!({
            "scenario": "oman-talks", "protocol": "staged", "rounds": 12,
            "threshold": 0.0, "indirect_rounds": 4,
            "roles": {"united-states": {"seat": "program"}, "iran": {"seat": "program"},
                      "mediator": {"agent": "shuttle"}}
        }))
        .await;
    let (mut us, iran) = two_holding_seats(&server, &created, false).await;
    us.consent = false;
    let (a, b) = tokio::join!(us.play(), iran.play());
    let owner = server.owner_view(&created).await;
    let calls = owner["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"] == "call-direct")
        .count();
    assert_eq!(
        calls, 2,
        "a call at the threshold, and a last one at the indirect deadline"
    );
    for view in [&a, &b] {
        assert_eq!(
            view["result"]["reason"], "indirect-deadline",
            "{}",
            view["result"]
        );
        let events = view["events"].as_array().expect("events");
        assert!(
            !events.iter().any(|e| e["type"] == "call-direct"),
            "the call and its progress measure are for the mediator and the owner"
        );
        for party in ["united-states", "iran"] {
            let answers: Vec<bool> = events
                .iter()
                .filter(|e| e["type"] == "consent" && e["by"] == party)
                .map(|e| e["accept"].as_bool().expect("accept"))
                .collect();
            assert_eq!(
                answers,
                vec![party == "iran"; 2],
                "{party}'s answers, seen by both"
            );
        }
        assert!(
            !types(view).contains(&"phase".to_string()),
            "the talks never went direct"
        );
    }
}

/// Staged talks on the flagship: the United States a program seat, Iran a confiding
/// boulware, a shuttle mediator calling for direct talks after the first round and at
/// the end of a four-round indirect phase. The seat has joined, confiding too.
async fn us_seat_against_a_confiding_boulware(
    server: &crate::common::Server,
    rounds: u32,
) -> (crate::common::Created, String, String) {
    let created = server
        .create(json!({
            "scenario": "oman-talks", "protocol": "staged", "rounds": rounds,
            "threshold": 0.0, "indirect_rounds": 4,
            "roles": {"united-states": {"seat": "program"}, "iran": {"agent": "boulware"},
                      "mediator": {"agent": "shuttle"}},
            "confide": ["iran"]
        }))
        .await;
    let us = created.seat("united-states").to_string();
    let path = format!("/api/sessions/{}", created.id());
    let r = server
        .call(
            "POST",
            &format!("{path}/join"),
            Some(&us),
            Some(json!({"confide": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    (created, us, path)
}

/// Once direct, a seat's counter-offer worth less to it than the default text is a 400
/// that says so, and nothing reaches the engine or the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_counter_offer_below_the_default_is_refused() {
    let server = Arc::new(start().await);
    let (_created, us, path) = us_seat_against_a_confiding_boulware(&server, 12).await;
    // Reject texts, consent at the first call, then stop at the first direct turn.
    let mut view = Value::Null;
    for _ in 0..2000 {
        view = server.call("GET", &path, Some(&us), None).await.body;
        let action = match view["pending"]["kind"].as_str() {
            Some("propose") => json!({"type": "pass"}),
            Some("vote") => json!({"type": "vote", "accept": false}),
            Some("consent") => json!({"type": "consent", "accept": true}),
            Some("act") => break,
            _ => {
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                continue;
            }
        };
        let r = server
            .call("POST", &format!("{path}/actions"), Some(&us), Some(action))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    assert_eq!(view["pending"]["kind"], "act", "{view}");
    let default = view["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["type"] == "default")
        .expect("both confided: the mediator's Nash text stands as the default")
        .clone();
    assert!(default["my_utility"].as_f64().is_some_and(|u| u > 0.5));
    let records = |v: &Value| v["events"].as_array().map_or(0, Vec::len);
    let before = records(&view);
    // The United States' worst outcome: worth less to it than the default.
    let worst = json!({"enrichment": "60%", "stockpile": "kept", "inspections": "minimal",
        "sanctions relief": "full lifting incl. primary", "sequencing": "sanctions relief first",
        "duration": "10 years"});
    let r = server
        .call(
            "POST",
            &format!("{path}/actions"),
            Some(&us),
            Some(json!({"type": "offer", "outcome": worst})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let message = r.body["error"].as_str().expect("an error");
    assert!(message.contains("worth at least the default"), "{message}");
    let after = server.call("GET", &path, Some(&us), None).await.body;
    assert_eq!(records(&after), before, "nothing was logged");
    assert_eq!(after["pending"]["kind"], "act", "still the seat's turn");
    // Offering the default itself is allowed.
    // Views show outcomes as issue → value: the default's is sent back as it is.
    let outcome = default["outcome"]
        .as_object()
        .expect("an outcome as issue → value")
        .clone();
    let r = server
        .call(
            "POST",
            &format!("{path}/actions"),
            Some(&us),
            Some(json!({"type": "offer", "outcome": outcome})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

/// A staged session that went direct replays from its log, consents and the default
/// included, into the same state on another server opened on the same database.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn staged_talks_replay_through_the_move_to_direct() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = parley_server::database_url(&dir.path().join("t.db").display().to_string());
    let server = Arc::new(crate::common::start_on(&url, None).await);
    let (created, us, path) = us_seat_against_a_confiding_boulware(&server, 30).await;
    let id = created.id().to_string();
    // Play up to a few turns into the direct talks.
    let player = Player::new(Arc::clone(&server), &id, &us, 0.55).await;
    let mut direct_turns = 0;
    for _ in 0..4000 {
        let view = player.step().await;
        if view["phase"] == "direct" && view["pending"]["kind"] == "act" {
            direct_turns += 1;
            if direct_turns == 3 {
                break;
            }
        }
        if view["status"] == "ended" {
            break;
        }
    }
    let owner = created.owner().to_string();
    let before = server.call("GET", &path, Some(&owner), None).await.body;
    let kinds = types(&before);
    for kind in ["call-direct", "consent", "phase", "default"] {
        assert!(
            kinds.contains(&kind.to_string()),
            "no {kind} event: {kinds:?}"
        );
    }
    // Another server on the same database rebuilds the session from its log.
    let again = crate::common::start_on(&url, None).await;
    let n = before["events"].as_array().map_or(0, Vec::len);
    let mut after = Value::Null;
    for _ in 0..2000 {
        after = again.call("GET", &path, Some(&owner), None).await.body;
        if after["events"].as_array().map_or(0, Vec::len) >= n || after.get("error").is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(after.get("error").is_none(), "{after}");
    assert_eq!(after["status"], before["status"]);
    assert_eq!(after["phase"], "direct");
    assert_eq!(
        after["events"].as_array().map(|e| e[..n].to_vec()),
        before["events"].as_array().cloned(),
        "the replay regenerates the logged events"
    );
    drop(dir);
}

/// `?since=N` gives the events from number N on, numbered as in the full view, with
/// `events_total`; a malformed `since` is a 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_since_an_event_lists_only_what_is_new() {
    let server = start().await;
    let created = server
        .create(
            json!({"scenario": "job-offer", "protocol": "saop", "rounds": 10,
            "roles": {"candidate": {"agent": "conceder"}, "employer": {"agent": "boulware"}}}),
        )
        .await;
    let path = format!("/api/sessions/{}", created.id());
    let mut full = server.owner_view(&created).await;
    for _ in 0..2000 {
        if full["status"] == "ended" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        full = server.owner_view(&created).await;
    }
    let events = full["events"].as_array().expect("events").clone();
    assert!(events.len() > 5);
    assert_eq!(full["events_total"], events.len());
    let since = server
        .call(
            "GET",
            &format!("{path}?since=5"),
            Some(created.owner()),
            None,
        )
        .await;
    assert_eq!(since.status, StatusCode::OK);
    assert_eq!(
        since.body["events"].as_array().expect("events")[..],
        events[5..]
    );
    assert_eq!(since.body["events"][0]["seq"], 5);
    assert_eq!(since.body["events_total"], events.len());
    let past = server
        .call(
            "GET",
            &format!("{path}?since=100000"),
            Some(created.owner()),
            None,
        )
        .await;
    assert_eq!(past.body["events"], json!([]));
    let bad = server
        .call(
            "GET",
            &format!("{path}?since=-1"),
            Some(created.owner()),
            None,
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    assert!(bad.body["error"]
        .as_str()
        .is_some_and(|e| e.contains("since")));
}

/// Red lines over the API: each seat sees its own (the mediator sees every party's,
/// not whose); an action across one is a 400 naming the issue, and nothing is logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn actions_across_a_red_line_are_refused() {
    let server = Arc::new(start().await);
    let created = server
        .create(json!({
            "scenario": "oman-talks", "protocol": "saop", "rounds": 10,
            "roles": {"united-states": {"seat": "program"}, "iran": {"seat": "program"}}
        }))
        .await;
    let path = format!("/api/sessions/{}", created.id());
    let (us, iran) = (created.seat("united-states"), created.seat("iran"));
    for seat in [us, iran] {
        let r = server
            .call("POST", &format!("{path}/join"), Some(seat), Some(json!({})))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let view = server.call("GET", &path, Some(us), None).await.body;
    assert_eq!(
        view["role"]["red_lines"],
        json!([{"issue": "enrichment", "refused": ["60%"]}])
    );
    let consequences = view["role"]["alternative"]["consequences"]
        .as_array()
        .expect("the US side's alternative is a lottery");
    assert_eq!(consequences.len(), 3);
    assert_eq!(consequences[0]["label"], "pressure continues");
    // What walking away is worth at the start: 0.9·0.55 + 0.08·0.5 + 0.02·0.1.
    let now = view["role"]["reservation_now"].as_f64().expect("a number");
    assert!((now - 0.537).abs() < 1e-9, "{now}");
    let briefing = view["role"]["briefing"].as_str().expect("a briefing");
    assert!(
        briefing.starts_with("You lead the US delegation"),
        "{briefing}"
    );
    let iran_view = server.call("GET", &path, Some(iran), None).await.body;
    let theirs = iran_view["role"]["briefing"].as_str().expect("a briefing");
    assert!(
        theirs.starts_with("You lead the Iranian delegation"),
        "{theirs}"
    );
    assert!(
        !iran_view.to_string().contains("US delegation"),
        "a briefing is shown in its own room only"
    );
    assert_eq!(
        iran_view["role"]["red_lines"],
        json!([{"issue": "enrichment", "refused": ["0% (none)"]}]),
        "each seat sees its own red lines only"
    );

    let package = |enrichment: &str| json!({"type": "offer", "outcome": package(enrichment)});
    let events = |v: &Value| v["events"].as_array().map_or(0, Vec::len);
    let mut view = view;
    for _ in 0..500 {
        if view["pending"]["kind"] == "act" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        view = server.call("GET", &path, Some(us), None).await.body;
    }
    assert_eq!(view["pending"]["kind"], "act", "the US side opens");
    let before = events(&view);
    let r = server
        .call(
            "POST",
            &format!("{path}/actions"),
            Some(us),
            Some(package("60%")),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let message = r.body["error"].as_str().expect("an error");
    assert!(
        message.contains("crosses your red line on issue \"enrichment\""),
        "{message}"
    );
    let after = server.call("GET", &path, Some(us), None).await.body;
    assert_eq!(events(&after), before, "nothing was logged");
    assert_eq!(after["pending"]["kind"], "act", "still the seat's turn");
    // Zero enrichment is not the US side's red line: it may offer it …
    let r = server
        .call(
            "POST",
            &format!("{path}/actions"),
            Some(us),
            Some(package("0% (none)")),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // … but Iran may not accept it.
    let mut refused = false;
    for _ in 0..500 {
        let v = server.call("GET", &path, Some(iran), None).await.body;
        if v["pending"]["kind"] == "act" {
            let r = server
                .call(
                    "POST",
                    &format!("{path}/actions"),
                    Some(iran),
                    Some(json!({"type": "accept"})),
                )
                .await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
            let message = r.body["error"].as_str().expect("an error");
            assert!(
                message.contains("accept: it crosses your red line"),
                "{message}"
            );
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    assert!(refused, "Iran's turn came");
}

/// The mediator is told every party's red lines and may not put a text across one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_mediators_text_across_a_red_line_is_refused() {
    let server = Arc::new(start().await);
    let created = server
        .create(json!({
            "scenario": "oman-talks", "protocol": "single-text", "rounds": 10,
            "roles": {"united-states": {"agent": "boulware"}, "iran": {"agent": "boulware"},
                      "mediator": {"seat": "program"}}
        }))
        .await;
    let path = format!("/api/sessions/{}", created.id());
    let mediator = created.seat("mediator");
    let r = server
        .call(
            "POST",
            &format!("{path}/join"),
            Some(mediator),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mut view = Value::Null;
    for _ in 0..500 {
        view = server.call("GET", &path, Some(mediator), None).await.body;
        if view["pending"]["kind"] == "text" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    assert_eq!(view["pending"]["kind"], "text", "{view}");
    assert_eq!(
        view["role"]["red_lines"],
        json!([{"issue": "enrichment", "refused": ["0% (none)", "60%"]}])
    );
    let text = |enrichment: &str| json!({"type": "text", "outcome": package(enrichment)});
    for across in ["0% (none)", "60%"] {
        let r = server
            .call(
                "POST",
                &format!("{path}/actions"),
                Some(mediator),
                Some(text(across)),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        let message = r.body["error"].as_str().expect("an error");
        assert!(message.contains("a party's red line"), "{message}");
    }
    // The mediator evaluates its drafts: nobody confided, so no utilities; but it is
    // told which drafts cross a red line.
    let draft = |enrichment: &str| json!({"outcome": package(enrichment)});
    let r = server
        .call(
            "POST",
            &format!("{path}/evaluate"),
            Some(mediator),
            Some(draft("60%")),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["utilities"], json!({}), "nobody confided");
    assert_eq!(r.body["crosses_red_line_on"], "enrichment");
    let r = server
        .call(
            "POST",
            &format!("{path}/actions"),
            Some(mediator),
            Some(text("regional consortium")),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

/// A mediator seat sees the utilities of its draft for the parties that confided in it,
/// and only for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_mediator_evaluates_its_draft_for_the_parties_that_confided() {
    let server = Arc::new(start().await);
    let created = server
        .create(json!({
            "scenario": "oman-talks", "protocol": "shuttle", "rounds": 10,
            "roles": {"united-states": {"seat": "program"}, "iran": {"seat": "program"},
                      "mediator": {"seat": "program"}}
        }))
        .await;
    let path = format!("/api/sessions/{}", created.id());
    for (party, confide) in [("united-states", true), ("iran", false)] {
        let r = server
            .call(
                "POST",
                &format!("{path}/join"),
                Some(created.seat(party)),
                Some(json!({"confide": confide})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let mediator = created.seat("mediator");
    let r = server
        .call(
            "POST",
            &format!("{path}/join"),
            Some(mediator),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let outcome = package("regional consortium");
    let r = server
        .call(
            "POST",
            &format!("{path}/evaluate"),
            Some(mediator),
            Some(json!({"outcome": outcome})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mine = server
        .call(
            "POST",
            &format!("{path}/evaluate"),
            Some(created.seat("united-states")),
            Some(json!({"outcome": outcome})),
        )
        .await;
    assert_eq!(r.body["utilities"]["united-states"], mine.body["utility"]);
    assert!(
        r.body["utilities"].get("iran").is_none(),
        "Iran did not confide: {}",
        r.body
    );
    assert!(r.body["crosses_red_line_on"].is_null());
}

/// A party's seat reads its whole utility function in one call (nobody else does), and
/// what it is asked carries the engine's clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_seat_reads_its_own_preferences_and_the_clock() {
    let server = Arc::new(start().await);
    let created = server
        .create(json!({
            "scenario": "oman-talks", "protocol": "saop", "rounds": 10,
            "roles": {"united-states": {"seat": "program"}, "iran": {"agent": "boulware"}}
        }))
        .await;
    let id = created.id();
    let path = format!("/api/sessions/{id}");
    let us = created.seat("united-states");
    let r = server
        .call("GET", &format!("{path}/preferences"), Some(us), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["party"], "united-states");
    let prefs = &r.body["preferences"];
    assert!(prefs.get("name").is_none(), "{prefs}");
    assert_eq!(prefs["utility"]["issues"].as_array().map(Vec::len), Some(6));
    assert_eq!(prefs["red_lines"][0]["issue"], "enrichment");
    assert_eq!(
        prefs["alternative"]["consequences"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    assert_eq!(r.body["issues"].as_array().map(Vec::len), Some(6));
    let mut party = prefs.clone();
    party["name"] = json!("united-states");
    // The preferences, read back as a one-party scenario, value outcomes as the seat's
    // own /evaluate does.
    let scenario = parley_formats::native::parse_json(
        &json!({"name": "mine", "issues": r.body["issues"], "parties": [party]}).to_string(),
        "preferences.json",
    )
    .expect("the preferences are a valid party");
    let outcome = package("regional consortium");
    let labels: Vec<String> = scenario
        .space()
        .issues()
        .iter()
        .map(|i| outcome[i.name()].as_str().expect("label").to_string())
        .collect();
    let local = scenario.utilities()[0].value(
        &scenario
            .space()
            .outcome_from_labels(&labels)
            .expect("an outcome"),
    );
    let remote = server
        .call(
            "POST",
            &format!("{path}/evaluate"),
            Some(us),
            Some(json!({"outcome": outcome})),
        )
        .await;
    assert_eq!(remote.status, StatusCode::OK, "{}", remote.body);
    assert!((remote.body["utility"].as_f64().expect("utility") - local).abs() < 1e-12);
    // Nobody else reads them: not the owner.
    let owner = server
        .call(
            "GET",
            &format!("{path}/preferences"),
            Some(created.owner()),
            None,
        )
        .await;
    assert_eq!(owner.status, StatusCode::FORBIDDEN, "{}", owner.body);

    // The clock: the United States opens at round 0, time 0; after Iran's answer it is
    // asked again at round 1, time 2/20 (two turns a round, ten rounds).
    let r = server
        .call("POST", &format!("{path}/join"), Some(us), Some(json!({})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mut times = Vec::new();
    for _ in 0..2000 {
        let view = server.call("GET", &path, Some(us), None).await.body;
        if view["pending"]["kind"] == "act" {
            let pending = &view["pending"];
            assert_eq!(pending["deadline"]["rounds"], 10);
            times.push((
                pending["round"].as_u64().expect("round"),
                pending["time"].as_f64().expect("time"),
            ));
            if times.len() == 2 {
                break;
            }
            let best = json!({"enrichment": "regional consortium", "stockpile": "shipped abroad",
                "inspections": "additional protocol + snap inspections", "sanctions relief": "none",
                "sequencing": "Iran first", "duration": "permanent"});
            let r = server
                .call(
                    "POST",
                    &format!("{path}/actions"),
                    Some(us),
                    Some(json!({"type": "offer", "outcome": best})),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    assert_eq!(times, vec![(0, 0.0), (1, 0.1)]);
}

/// Messages go where the policy says: to `all` every role (and the owner) sees it; a
/// party's note to the mediator only the mediator; while the talks go through the
/// mediator a party cannot write to another party; bad messages are 400s.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn messages_reach_only_whom_the_policy_allows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = parley_server::database_url(&dir.path().join("m.db").display().to_string());
    let server = Arc::new(crate::common::start_on(&url, None).await);
    let created = server
        .create(json!({
            "scenario": "oman-talks", "protocol": "shuttle", "rounds": 10,
            "owner_sees": "public",
            "roles": {"united-states": {"seat": "program"}, "iran": {"seat": "program"},
                      "mediator": {"seat": "program"}}
        }))
        .await;
    let path = format!("/api/sessions/{}", created.id());
    let (us, iran, mediator) = (
        created.seat("united-states"),
        created.seat("iran"),
        created.seat("mediator"),
    );
    let send = |token: &str, to: &str, text: &str| {
        let server = Arc::clone(&server);
        let (path, token, body) = (
            format!("{path}/messages"),
            token.to_string(),
            json!({"to": to, "text": text}),
        );
        async move { server.call("POST", &path, Some(&token), Some(body)).await }
    };
    let messages = |view: &Value| -> Vec<String> {
        view["events"]
            .as_array()
            .map(|events| {
                events
                    .iter()
                    .filter(|e| e["type"] == "message")
                    .map(|e| e["text"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let view = |token: &str| {
        let server = Arc::clone(&server);
        let (path, token) = (path.clone(), token.to_string());
        async move { server.call("GET", &path, Some(&token), None).await.body }
    };

    let r = send(
        us,
        "mediator",
        "Our red line is firm; the consortium idea interests us.",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = send(us, "iran", "Let us talk directly.").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body["error"]
        .as_str()
        .unwrap_or_default()
        .contains("mediator only"));
    let r = send(us, "all", "To everyone.").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = send(mediator, "all", "Welcome to Muscat.").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = send(mediator, "iran", "A word in private.").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    for (body, needle) in [
        (json!({"to": "nobody", "text": "hi"}), "no role"),
        (json!({"to": "mediator", "text": "  "}), "needs some words"),
        (
            json!({"to": "mediator", "text": "x".repeat(2001)}),
            "at most 2000",
        ),
        (json!({"to": "mediator"}), "text"),
    ] {
        let r = server
            .call("POST", &format!("{path}/messages"), Some(us), Some(body))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert!(
            r.body["error"]
                .as_str()
                .unwrap_or_default()
                .contains(needle),
            "{}",
            r.body
        );
    }
    let r = server
        .call(
            "POST",
            &format!("{path}/messages"),
            Some(created.owner()),
            Some(json!({"to": "all", "text": "from the host"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);

    assert_eq!(
        messages(&view(us).await),
        vec![
            "Our red line is firm; the consortium idea interests us.",
            "Welcome to Muscat."
        ]
    );
    assert_eq!(
        messages(&view(iran).await),
        vec!["Welcome to Muscat.", "A word in private."]
    );
    assert_eq!(messages(&view(mediator).await).len(), 3);
    // An owner who sees the public record sees the public message only.
    assert_eq!(
        messages(&view(created.owner()).await),
        vec!["Welcome to Muscat."]
    );
    let iran_view = view(iran).await.to_string();
    assert!(
        !iran_view.contains("red line is firm"),
        "a note to the mediator leaked"
    );

    // Stored before they were answered: another server on the same database shows
    // each role the same messages.
    let again = crate::common::start_on(&url, None).await;
    let iran_again = again.call("GET", &path, Some(iran), None).await.body;
    assert_eq!(
        messages(&iran_again),
        vec!["Welcome to Muscat.", "A word in private."]
    );
    let us_again = again.call("GET", &path, Some(us), None).await.body;
    assert_eq!(messages(&us_again).len(), 2);
}

/// A seat that does not act within `seat_timeout_seconds` forfeits: in direct talks it
/// walks away, logged as a timeout, so a silent seat cannot stall its session.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_silent_seat_times_out_and_the_session_ends() {
    let server = Arc::new(start().await);
    let request = |timeout: u64| {
        json!({
            "scenario": "job-offer", "protocol": "saop", "rounds": 10,
            "seat_timeout_seconds": timeout,
            "roles": {"candidate": {"seat": "program"}, "employer": {"agent": "boulware"}}
        })
    };
    let r = server
        .call("POST", "/api/sessions", None, Some(request(0)))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body["error"]
        .as_str()
        .unwrap_or_default()
        .contains("seat_timeout_seconds"));
    let created = server.create(request(1)).await;
    let path = format!("/api/sessions/{}", created.id());
    let seat = created.seat("candidate");
    let r = server
        .call("POST", &format!("{path}/join"), Some(seat), Some(json!({})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // The candidate opens, and says nothing.
    let mut view = Value::Null;
    for _ in 0..100 {
        view = server.call("GET", &path, Some(seat), None).await.body;
        if view["status"] == "ended" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(view["status"], "ended", "{view}");
    assert_eq!(view["result"]["reason"], "walk-away");
    let kinds = types(&view);
    assert!(kinds.contains(&"timeout".to_string()), "{kinds:?}");
    let trace = server.trace(&created).await;
    assert_eq!(trace.status, StatusCode::OK);
    // A notice record in the log says so (not only the configuration's field name).
    let logged = trace.body.to_string();
    assert!(
        logged.contains(r#"\"type\":\"timeout\""#) || logged.contains(r#""type":"timeout""#),
        "the timeout is in the log: {logged}"
    );
}

/// A mediator seat that falls silent puts its last text again; one that never put a
/// text ends the talks with no deal: a silent mediator cannot stall its session either.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_silent_mediator_seat_times_out() {
    let server = Arc::new(start().await);
    let request = json!({
        "scenario": "job-offer", "protocol": "single-text", "rounds": 3,
        "seat_timeout_seconds": 1,
        "roles": {"candidate": {"agent": "hardliner"}, "employer": {"agent": "hardliner"},
                  "mediator": {"seat": "program"}}
    });
    let wait_end = |server: Arc<crate::common::Server>, path: String, token: String| async move {
        let mut view = Value::Null;
        for _ in 0..100 {
            view = server.call("GET", &path, Some(&token), None).await.body;
            if view["status"] == "ended" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        view
    };
    // Silent from the start: the talks end.
    let created = server.create(request.clone()).await;
    let path = format!("/api/sessions/{}", created.id());
    let mediator = created.seat("mediator").to_string();
    let r = server
        .call(
            "POST",
            &format!("{path}/join"),
            Some(&mediator),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let view = wait_end(Arc::clone(&server), path.clone(), mediator.clone()).await;
    assert_eq!(view["status"], "ended", "{view}");
    assert_eq!(view["result"]["reason"], "mediator-timeout");
    assert!(types(&view).contains(&"timeout".to_string()), "{view}");

    // One text, then silence: the text is put again each round until the deadline.
    let created = server.create(request).await;
    let path = format!("/api/sessions/{}", created.id());
    let mediator = created.seat("mediator").to_string();
    server
        .call(
            "POST",
            &format!("{path}/join"),
            Some(&mediator),
            Some(json!({})),
        )
        .await;
    let asked = server.wait_asked(&path, &mediator).await;
    assert_eq!(asked["pending"]["kind"], "text", "{asked}");
    let text = json!({"salary": "95", "start date": "in 1 month", "remote days": "2 days a week",
                      "signing bonus": "5k", "title": "Senior Engineer"});
    let r = server
        .call(
            "POST",
            &format!("{path}/actions"),
            Some(&mediator),
            Some(json!({"type": "text", "outcome": text})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let view = wait_end(Arc::clone(&server), path, mediator).await;
    assert_eq!(view["status"], "ended", "{view}");
    assert_eq!(view["result"]["reason"], "deadline", "{view}");
    let texts: Vec<&Value> = view["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"] == "text")
        .map(|e| &e["outcome"])
        .collect();
    assert_eq!(texts.len(), 3, "{view}");
    assert!(
        texts.iter().all(|t| **t == text),
        "the same text each round: {texts:?}"
    );
}

/// The host's dashboard: with the creator token, every session the server holds; with
/// no token or another token, nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_creator_lists_every_session() {
    let server = Arc::new(start().await);
    let a = server
        .create(json!({"scenario": "job-offer", "protocol": "saop", "rounds": 5,
                       "roles": {"candidate": {"seat": "person"}, "employer": {"agent": "boulware"}}}))
        .await;
    let b = server
        .create(json!({"scenario": "oman-talks", "protocol": "staged", "rounds": 20,
                       "roles": {"united-states": {"seat": "program"}, "iran": {"agent": "boulware"},
                                 "mediator": {"agent": "shuttle"}}}))
        .await;
    let r = server
        .call("GET", "/api/sessions", Some(crate::common::CREATOR), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let sessions = r.body["sessions"].as_array().expect("a list");
    for (created, protocol, scenario) in [
        (&a, "saop", "Job offer"),
        (&b, "staged", "Oman talks (illustrative)"),
    ] {
        let s = sessions
            .iter()
            .find(|s| s["id"] == created.id())
            .expect("listed");
        assert_eq!(s["protocol"], protocol);
        assert_eq!(s["scenario"], scenario);
        assert_eq!(s["status"], "waiting");
        assert!(s["roles"].as_array().is_some_and(|r| !r.is_empty()));
        assert!(
            !s.to_string().contains("token"),
            "no tokens in the list: {s}"
        );
    }
    for token in [None, Some(a.owner()), Some(a.seat("candidate"))] {
        let r = server.call("GET", "/api/sessions", token, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{token:?}: {}", r.body);
    }
}
