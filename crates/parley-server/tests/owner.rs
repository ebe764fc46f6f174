//! The owner's controls: cancelling a session, and links that outlive the seats'.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{start, start_on};

#[tokio::test]
async fn the_owner_cancels_talks_in_progress_and_it_sticks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = parley_server::database_url(&dir.path().join("t.db").display().to_string());
    let server = start_on(&url, None).await;
    let created = server
        .create_as_is(json!({
            "scenario": "job-offer", "protocol": "saop", "rounds": 20,
            "roles": {"candidate": {"seat": "program"}, "employer": {"agent": "boulware"}}
        }))
        .await;
    let path = format!("/api/sessions/{}", created.id());
    let candidate = created.seat("candidate");
    let r = server
        .call(
            "POST",
            &format!("{path}/join"),
            Some(candidate),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let asked = server.wait_asked(&path, candidate).await;
    assert_eq!(asked["status"], "running");
    // Only the owner cancels.
    let r = server
        .call("POST", &format!("{path}/cancel"), Some(candidate), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = server
        .call(
            "POST",
            &format!("{path}/cancel"),
            Some(created.owner()),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "ended");
    assert_eq!(r.body["receipt"]["kind"], "ended", "{}", r.body);
    let view = server.call("GET", &path, Some(candidate), None).await.body;
    assert_eq!(view["status"], "ended", "{view}");
    assert_eq!(view["result"]["reason"], "cancelled");
    assert_eq!(view["result"]["agreement"], serde_json::Value::Null);
    assert_eq!(view["pending"], serde_json::Value::Null);
    // job-offer: the candidate's reservation value.
    let reservation = view["role"]["reservation"].as_f64().expect("reservation");
    assert_eq!(view["result"]["my_utility"].as_f64(), Some(reservation));
    // Nothing more happens: no action, no second cancellation.
    let r = server
        .call(
            "POST",
            &format!("{path}/actions"),
            Some(candidate),
            Some(json!({"type": "walk-away"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    let r = server
        .call(
            "POST",
            &format!("{path}/cancel"),
            Some(created.owner()),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    let events = view["events_total"].as_u64().expect("events");
    // A restarted server reads the cancellation back from the log, events and all.
    drop(server);
    let again = start_on(&url, Some(dir)).await;
    let view = again.call("GET", &path, Some(candidate), None).await.body;
    assert_eq!(view["status"], "ended", "{view}");
    assert_eq!(view["result"]["reason"], "cancelled");
    assert_eq!(view["events_total"].as_u64(), Some(events));
}

#[tokio::test]
async fn a_session_still_waiting_for_its_seats_can_be_cancelled() {
    let server = start().await;
    let created = server
        .create_as_is(json!({
            "scenario": "job-offer", "protocol": "single-text", "rounds": 10,
            "roles": {"candidate": {"seat": "person"}, "employer": {"seat": "person"},
                      "mediator": {"agent": "hill-climber"}}
        }))
        .await;
    let path = format!("/api/sessions/{}", created.id());
    let r = server
        .call(
            "POST",
            &format!("{path}/cancel"),
            Some(created.owner()),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = server
        .call(
            "POST",
            &format!("{path}/join"),
            Some(created.seat("candidate")),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    let owner = server
        .call("GET", &path, Some(created.owner()), None)
        .await
        .body;
    assert_eq!(owner["status"], "ended");
    assert_eq!(owner["result"]["reason"], "cancelled");
    let list = server
        .call("GET", "/api/sessions", Some(crate::common::CREATOR), None)
        .await
        .body;
    let listed = list["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .find(|s| s["id"] == created.id())
        .cloned()
        .expect("listed");
    assert_eq!(listed["status"], "ended");
}

#[tokio::test]
async fn the_owner_link_outlives_the_seat_links() {
    let server = start().await;
    let created = server
        .create_as_is(json!({
            "scenario": "job-offer", "protocol": "saop", "rounds": 10, "token_ttl_seconds": 1,
            "roles": {"candidate": {"seat": "person"}, "employer": {"agent": "boulware"}}
        }))
        .await;
    let path = format!("/api/sessions/{}", created.id());
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let seat = server
        .call("GET", &path, Some(created.seat("candidate")), None)
        .await;
    assert_eq!(seat.status, StatusCode::UNAUTHORIZED, "{}", seat.body);
    assert!(
        seat.body["error"]
            .as_str()
            .unwrap_or("")
            .contains("expired"),
        "{}",
        seat.body
    );
    let owner = server.call("GET", &path, Some(created.owner()), None).await;
    assert_eq!(owner.status, StatusCode::OK, "{}", owner.body);
    // It can still end what the expired seats cannot finish.
    let r = server
        .call(
            "POST",
            &format!("{path}/cancel"),
            Some(created.owner()),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_reissues_a_seat_link_and_the_old_one_stops_at_once() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let dir = tempfile::tempdir().expect("tempdir");
    let url = parley_server::database_url(&dir.path().join("t.db").display().to_string());
    let server = start_on(&url, None).await;
    let created = server
        .create_as_is(json!({
            "scenario": "job-offer", "protocol": "saop", "rounds": 10,
            "roles": {"candidate": {"seat": "person"}, "employer": {"agent": "boulware"}},
            "mandates": {"candidate": {"min_utility": 0.8}}
        }))
        .await;
    let id = created.id();
    let path = format!("/api/sessions/{id}");
    let old = created.seat("candidate").to_string();
    // The old link's live socket.
    let ws_url = format!("{}/api/sessions/{id}/ws", server.base.replace("http", "ws"));
    let (mut socket, _) = tokio_tungstenite::connect_async(&ws_url).await.expect("ws");
    socket
        .send(Message::Text(json!({"token": old}).to_string().into()))
        .await
        .expect("send");
    let first = socket.next().await.expect("a view").expect("ok");
    assert!(first.is_text());
    // Only the owner re-issues; the role must exist.
    for (token, body, status) in [
        (
            old.as_str(),
            json!({"role": "candidate"}),
            StatusCode::FORBIDDEN,
        ),
        (
            created.owner(),
            json!({"role": "cfo"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            created.owner(),
            json!({"role": "employer"}),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let r = server
            .call("POST", &format!("{path}/reissue"), Some(token), Some(body))
            .await;
        assert_eq!(r.status, status, "{}", r.body);
    }
    let r = server
        .call(
            "POST",
            &format!("{path}/reissue"),
            Some(created.owner()),
            Some(json!({"role": "candidate"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let new = r.body["token"].as_str().expect("token").to_string();
    assert_eq!(r.body["link"], format!("/room/{id}#token={new}"));
    // The old link: refused with a reason, its socket closed.
    let refused = server.call("GET", &path, Some(&old), None).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);
    assert!(
        refused.body["error"]
            .as_str()
            .unwrap_or("")
            .contains("replaced"),
        "{}",
        refused.body
    );
    let closed = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| f.reason.to_string()),
                Some(Ok(_)) => continue,
                _ => return None,
            }
        }
    })
    .await
    .expect("the old socket closes");
    assert!(closed.unwrap_or_default().contains("replaced"));
    // The new link works: joins and plays.
    let r = server
        .call("POST", &format!("{path}/join"), Some(&new), Some(json!({})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // The principal's link is re-issued on its own.
    let principal = created.principal("candidate").to_string();
    let r = server
        .call(
            "POST",
            &format!("{path}/reissue"),
            Some(created.owner()),
            Some(json!({"role": "candidate", "principal": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        server
            .call("GET", &path, Some(&principal), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        server.call("GET", &path, Some(&new), None).await.status,
        StatusCode::OK
    );
    // The log and the tokens table agree: the audit finds nothing; a restart keeps it.
    let report = parley_server::audit(&url, None, None).await.expect("audit");
    let problems: Vec<_> = report.problems.iter().filter(|(s, _)| s == id).collect();
    assert!(problems.is_empty(), "{problems:?}");
    drop(server);
    let again = start_on(&url, Some(dir)).await;
    assert_eq!(
        again.call("GET", &path, Some(&new), None).await.status,
        StatusCode::OK
    );
    let r = again.call("GET", &path, Some(&old), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    assert!(
        r.body["error"].as_str().unwrap_or("").contains("replaced"),
        "{}",
        r.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wall_clock_limit_ends_the_talks() {
    let server = start().await;
    let r = server
        .call(
            "POST",
            "/api/sessions",
            None,
            Some(json!({"scenario": "job-offer", "protocol": "saop", "rounds": 10, "time_limit_seconds": 0,
                        "roles": {"candidate": {"seat": "program"}, "employer": {"agent": "boulware"}}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(
        r.body["error"]
            .as_str()
            .unwrap_or("")
            .contains("time_limit_seconds"),
        "{}",
        r.body
    );
    let created = server
        .create_as_is(json!({
            "scenario": "job-offer", "protocol": "saop", "rounds": 10, "time_limit_seconds": 2,
            "roles": {"candidate": {"seat": "program"}, "employer": {"agent": "boulware"}}
        }))
        .await;
    let path = format!("/api/sessions/{}", created.id());
    let seat = created.seat("candidate");
    let waiting = server.call("GET", &path, Some(seat), None).await.body;
    assert_eq!(waiting["time_limit_seconds"], 2);
    assert_eq!(
        waiting["ends_at"],
        serde_json::Value::Null,
        "the clock starts with the talks"
    );
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    server
        .call("POST", &format!("{path}/join"), Some(seat), Some(json!({})))
        .await;
    let running = server.wait_asked(&path, seat).await;
    let ends_at = running["ends_at"].as_i64().expect("ends_at once running");
    assert!(
        (before + 2..=before + 3).contains(&ends_at),
        "{ends_at} vs {before}"
    );
    let mut view = running;
    for _ in 0..60 {
        view = server.call("GET", &path, Some(seat), None).await.body;
        if view["status"] == "ended" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(view["status"], "ended", "{view}");
    assert_eq!(view["result"]["reason"], "time-up");
}

/// `{"token", "incremental": true}`: each push carries only the events from the first
/// one that changed (`since`), and the story rebuilt from them is the whole view's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_pushes_carry_only_what_changed() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;

    let server = start().await;
    let created = server
        .create_as_is(json!({
            "scenario": "job-offer", "protocol": "saop", "rounds": 30,
            "roles": {"candidate": {"seat": "program"}, "employer": {"agent": "hardliner"}}
        }))
        .await;
    let id = created.id();
    let path = format!("/api/sessions/{id}");
    let seat = created.seat("candidate");
    let ws_url = format!("{}/api/sessions/{id}/ws", server.base.replace("http", "ws"));
    let (mut socket, _) = tokio_tungstenite::connect_async(&ws_url).await.expect("ws");
    socket
        .send(Message::Text(
            json!({"token": seat, "incremental": true})
                .to_string()
                .into(),
        ))
        .await
        .expect("send");
    let mut held: Vec<serde_json::Value> = Vec::new();
    let first = next_text(&mut socket).await;
    assert_eq!(first["view"]["since"], 0);
    held.extend(
        first["view"]["events"]
            .as_array()
            .expect("events")
            .iter()
            .cloned(),
    );
    server
        .call("POST", &format!("{path}/join"), Some(seat), Some(json!({})))
        .await;
    let best =
        server.call("GET", &path, Some(seat), None).await.body["role"]["best_outcome"].clone();
    let mut largest_push = 0;
    for _ in 0..6 {
        // Offer my best; the hardliner never takes it: the story grows each round.
        let asked = server.wait_asked(&path, seat).await;
        if asked["status"] == "ended" {
            break;
        }
        server
            .call(
                "POST",
                &format!("{path}/actions"),
                Some(seat),
                Some(json!({"type": "offer", "outcome": best})),
            )
            .await;
    }
    let whole = server.call("GET", &path, Some(seat), None).await.body;
    let total = whole["events_total"].as_u64().expect("total") as usize;
    while held.len() < total {
        let push = next_text(&mut socket).await;
        let since = push["view"]["since"].as_u64().expect("since") as usize;
        assert!(
            since <= held.len(),
            "since {since} beyond what was sent ({})",
            held.len()
        );
        let events = push["view"]["events"].as_array().expect("events");
        largest_push = largest_push.max(events.len());
        held.truncate(since);
        held.extend(events.iter().cloned());
        assert_eq!(
            push["view"]["events_total"].as_u64(),
            Some(held.len() as u64)
        );
    }
    assert_eq!(
        held,
        *whole["events"].as_array().expect("events"),
        "the story rebuilt from the pushes"
    );
    assert!(total >= 8, "the story grew: {total} events");
    assert!(
        largest_push < total,
        "pushes carried only what changed ({largest_push} of {total})"
    );
}

/// The next text message of a socket, as JSON.
async fn next_text<S>(socket: &mut S) -> serde_json::Value
where
    S: futures_util::Stream<
            Item = Result<
                tokio_tungstenite::tungstenite::Message,
                tokio_tungstenite::tungstenite::Error,
            >,
        > + Unpin,
{
    use futures_util::StreamExt;
    loop {
        match socket.next().await {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t))) => {
                return serde_json::from_str(t.as_str()).expect("json")
            }
            Some(Ok(_)) => continue,
            other => panic!("the socket closed: {other:?}"),
        }
    }
}
