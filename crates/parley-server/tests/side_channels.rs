//! Side channels, over HTTP and the WebSocket: for every protocol, sessions that
//! differ only in one party's private moves (what it proposes to the mediator, how it
//! votes, whether it confides, what it evaluates, the invalid actions it tries, an
//! acceptance held for its principal and refused) give the other party, and a host who
//! sees the public record, byte-identical views: the same HTTP views when asked, and
//! the same WebSocket pushes in the same order relative to their own actions. The
//! mediator is a scripted seat, so that nothing reaches the other party through the
//! mediator's own choices (a real mediator uses what it is told: that is mediation,
//! not a leak).

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::common::{start, Created, Server};

/// What the observed party was shown and did, in order.
#[derive(Debug, Default, Clone, PartialEq)]
struct Seen {
    /// Every WebSocket message, and each action it took (as `act: …`), interleaved.
    pushes: Vec<String>,
    /// The HTTP view it read before each action.
    views: Vec<String>,
}

/// How the varied party plays (its private moves).
#[derive(Clone, Copy, Debug)]
struct Variant {
    confide: bool,
    /// Proposal to the mediator: 0 passes, else an outcome by number.
    proposal: u32,
    vote: bool,
    /// Before every answer: evaluate outcomes, try invalid actions, read its view.
    noise: bool,
    /// In direct talks, first accept the standing offer (held: outside its mandate),
    /// have the principal refuse, then counter.
    held_accept: bool,
}

const VARIANTS: [Variant; 3] = [
    Variant {
        confide: false,
        proposal: 3,
        vote: false,
        noise: false,
        held_accept: false,
    },
    Variant {
        confide: true,
        proposal: 7,
        vote: true,
        noise: true,
        held_accept: true,
    },
    Variant {
        confide: false,
        proposal: 0,
        vote: true,
        noise: false,
        held_accept: false,
    },
];

/// Outcome number `k` of the job-offer scenario, as issue → value.
fn outcome(k: u32) -> Value {
    let remote = [
        "none",
        "1 day a week",
        "2 days a week",
        "3 days a week",
        "fully remote",
    ];
    let start = ["in 2 weeks", "in 1 month", "in 2 months", "in 3 months"];
    let bonus = ["none", "5k", "10k", "15k"];
    let title = ["Engineer", "Senior Engineer", "Staff Engineer"];
    json!({
        "salary": (90 + k % 11).to_string(),
        "start date": start[(k % 4) as usize],
        "remote days": remote[(k % 5) as usize],
        "signing bonus": bonus[(k % 4) as usize],
        "title": title[(k % 3) as usize],
    })
}

/// The default text of staged talks, if the view shows one, as issue → value.
fn default_text(view: &Value) -> Option<Value> {
    let e = view["events"]
        .as_array()?
        .iter()
        .rev()
        .find(|e| e["type"] == "default")?;
    e["outcome"].is_object().then(|| e["outcome"].clone())
}

async fn post(server: &Server, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
    let r = server.call("POST", path, Some(token), Some(body)).await;
    (r.status, r.body)
}

/// Opens a subscriber's WebSocket.
async fn subscribe(
    server: &Server,
    id: &str,
    token: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let url = format!("{}/api/sessions/{id}/ws", server.base.replace("http", "ws"));
    let (mut socket, _) = tokio_tungstenite::connect_async(&url).await.expect("ws");
    socket
        .send(Message::Text(json!({"token": token}).to_string().into()))
        .await
        .expect("hello");
    socket
}

/// The observed party: it acts on what the WebSocket pushes it, always the same way.
async fn observer(server: Arc<Server>, id: String, token: String) -> Seen {
    let path = format!("/api/sessions/{id}");
    let mut socket = subscribe(&server, &id, &token).await;
    let mut seen = Seen::default();
    let (status, _) = post(&server, &format!("{path}/join"), &token, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    loop {
        let msg = tokio::time::timeout(std::time::Duration::from_secs(30), socket.next())
            .await
            .expect("a push within 30 s")
            .expect("the socket is open")
            .expect("a message");
        let text = msg.to_text().expect("text").to_string();
        seen.pushes.push(text.clone());
        let view: Value = serde_json::from_str::<Value>(&text).expect("json")["view"].clone();
        if view["status"] == "ended" {
            return seen;
        }
        let action = match view["pending"]["kind"].as_str() {
            Some("act") => match default_text(&view) {
                Some(d) => json!({"type": "offer", "outcome": d}),
                None => json!({"type": "offer", "outcome": outcome(4)}),
            },
            Some("propose") => json!({"type": "propose", "outcome": outcome(2)}),
            Some("vote") => json!({"type": "vote", "accept": false}),
            Some("consent") => json!({"type": "consent", "accept": true}),
            _ => continue,
        };
        let http = server.call("GET", &path, Some(&token), None).await;
        seen.views.push(http.body.to_string());
        let (status, body) =
            post(&server, &format!("{path}/actions"), &token, action.clone()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        seen.pushes.push(format!("act: {action}"));
    }
}

/// Plays the varied party, its principal and the scripted mediator until the end.
async fn others(server: &Server, created: &Created, variant: Variant) {
    let id = created.id();
    let path = format!("/api/sessions/{id}");
    let (b, principal) = (created.seat("employer"), created.principal("employer"));
    let mediator = created.0["seats"]["mediator"]["token"].as_str();
    let (status, body) = post(
        server,
        &format!("{path}/join"),
        b,
        json!({"confide": variant.confide && mediator.is_some()}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    if let Some(m) = mediator {
        let (status, _) = post(server, &format!("{path}/join"), m, json!({})).await;
        assert_eq!(status, StatusCode::OK);
    }
    // Set once the principal refused an acceptance of the question now pending.
    let mut refused = false;
    for _ in 0..20_000 {
        let view = server.call("GET", &path, Some(b), None).await.body;
        if view["status"] == "ended" {
            return;
        }
        let kind = view["pending"]["kind"].as_str().map(str::to_string);
        if kind.is_some() && variant.noise {
            // Private moves that change nothing: evaluations, refused actions, reads.
            for k in 0..3 {
                let (s, _) = post(
                    server,
                    &format!("{path}/evaluate"),
                    b,
                    json!({"outcome": outcome(k)}),
                )
                .await;
                assert_eq!(s, StatusCode::OK);
            }
            let (s, _) = post(
                server,
                &format!("{path}/actions"),
                b,
                json!({"type": "offer", "outcome": {"salary": "1000"}}),
            )
            .await;
            assert_eq!(s, StatusCode::BAD_REQUEST);
            let (s, _) = post(
                server,
                &format!("{path}/actions"),
                b,
                json!({"type": "text", "outcome": outcome(0)}),
            )
            .await;
            assert_eq!(s, StatusCode::CONFLICT);
            let _ = server.call("GET", &path, Some(b), None).await;
        }
        let action = match kind.as_deref() {
            // Outside the mandate, an acceptance is held, then refused by the
            // principal (below), and the delegate is asked again.
            Some("act")
                if variant.held_accept && !refused && !view["pending"]["standing"].is_null() =>
            {
                Some(json!({"type": "accept"}))
            }
            Some("act") => match default_text(&view) {
                Some(d) => Some(json!({"type": "offer", "outcome": d})),
                None => Some(json!({"type": "offer", "outcome": outcome(5)})),
            },
            Some("propose") if variant.proposal == 0 => Some(json!({"type": "pass"})),
            Some("propose") => {
                Some(json!({"type": "propose", "outcome": outcome(variant.proposal)}))
            }
            Some("vote") => Some(json!({"type": "vote", "accept": variant.vote && !refused})),
            Some("consent") => Some(json!({"type": "consent", "accept": true})),
            _ => None,
        };
        if let Some(action) = action {
            let (s, body) = post(server, &format!("{path}/actions"), b, action).await;
            if s == StatusCode::ACCEPTED {
                // An acceptance outside the mandate: the principal refuses it, and the
                // delegate answers again.
                let (s, body) = post(
                    server,
                    &format!("{path}/ratify"),
                    principal,
                    json!({"confirm": false}),
                )
                .await;
                assert_eq!(s, StatusCode::OK, "{body}");
                refused = true;
                continue;
            }
            assert_eq!(s, StatusCode::OK, "{body}");
            refused = false;
            continue;
        }
        if let Some(m) = mediator {
            let mv = server.call("GET", &path, Some(m), None).await.body;
            if mv["pending"]["kind"] == "text" {
                // The same texts whatever it is told; ready for direct talks at once.
                let round = mv["round"].as_u64().unwrap_or(0) as u32;
                let (s, body) = post(
                    server,
                    &format!("{path}/actions"),
                    m,
                    json!({"type": "text", "outcome": outcome(11 + round), "progress": 1.0}),
                )
                .await;
                assert_eq!(s, StatusCode::OK, "{body}");
                continue;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    panic!("the session did not end");
}

/// Collects a subscriber's pushes until the session has ended.
async fn collect(server: Arc<Server>, id: String, token: String) -> Vec<String> {
    let mut socket = subscribe(&server, &id, &token).await;
    let mut pushes = Vec::new();
    loop {
        let msg = tokio::time::timeout(std::time::Duration::from_secs(30), socket.next())
            .await
            .expect("a push within 30 s")
            .expect("open")
            .expect("message");
        let text = msg.to_text().expect("text").to_string();
        let ended =
            serde_json::from_str::<Value>(&text).expect("json")["view"]["status"] == "ended";
        pushes.push(text);
        if ended {
            return pushes;
        }
    }
}

async fn run(server: Arc<Server>, protocol: Value, variant: Variant) -> (Seen, Vec<String>, Value) {
    let mut request = json!({
        "scenario": "job-offer", "rounds": 6,
        "roles": {"candidate": {"seat": "program"}, "employer": {"seat": "program"}},
        // The employer's delegate may accept alone only a salary of 91 (the text of
        // round 1); other acceptances wait for its principal (who refuses them).
        "mandates": {"employer": {"allowed": {"salary": ["91"]}}},
    });
    for (k, v) in protocol.as_object().expect("object") {
        request[k] = v.clone();
    }
    if request["protocol"] != "saop" {
        request["roles"]["mediator"] = json!({"seat": "program"});
    }
    // No owner_sees: the default, the public record when a seat mediates.
    let created = server.create_as_is(request).await;
    assert_eq!(created.0["owner_sees"], "public");
    let id = created.id().to_string();
    let owner = tokio::spawn(collect(
        Arc::clone(&server),
        id.clone(),
        created.owner().to_string(),
    ));
    // Let the owner's socket subscribe before anything happens.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let a = tokio::spawn(observer(
        Arc::clone(&server),
        id.clone(),
        created.seat("candidate").to_string(),
    ));
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    others(&server, &created, variant).await;
    let seen = a.await.expect("observer");
    let owner = owner.await.expect("owner");
    let trace = server
        .call(
            "GET",
            &format!("/api/sessions/{id}"),
            Some(created.seat("employer")),
            None,
        )
        .await
        .body;
    (seen, owner, trace)
}

/// Removes what differs between sessions whatever happens in them: ids and tokens.
fn anonymise(text: &str, id: &str) -> String {
    text.replace(id, "SESSION")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn private_moves_reach_no_other_party_over_http_or_websocket() {
    let server = Arc::new(start().await);
    let protocols = [
        json!({"protocol": "saop"}),
        json!({"protocol": "single-text"}),
        json!({"protocol": "shuttle"}),
        json!({"protocol": "staged", "indirect": "shuttle", "indirect_rounds": 3}),
        json!({"protocol": "staged", "indirect": "single-text", "indirect_rounds": 3}),
    ];
    for protocol in protocols {
        let mut runs = Vec::new();
        for variant in VARIANTS {
            let (seen, owner, varied) = run(Arc::clone(&server), protocol.clone(), variant).await;
            let id = varied["id"].as_str().expect("id").to_string();
            let seen = Seen {
                pushes: seen.pushes.iter().map(|p| anonymise(p, &id)).collect(),
                views: seen.views.iter().map(|v| anonymise(v, &id)).collect(),
            };
            let owner: Vec<String> = owner.iter().map(|p| anonymise(p, &id)).collect();
            runs.push((variant, seen, owner, anonymise(&varied.to_string(), &id)));
        }
        let (_, first, first_owner, first_varied) = &runs[0];
        assert!(
            first.views.len() >= 3,
            "{protocol}: the observed party acted ({} times)",
            first.views.len()
        );
        let mut varied_differs = false;
        for (variant, seen, owner, varied) in &runs[1..] {
            varied_differs |= varied != first_varied;
            assert_eq!(
                first.views.len(),
                seen.views.len(),
                "{protocol} {variant:?}: the observed party was asked a different number of times"
            );
            for (k, (a, b)) in first.views.iter().zip(&seen.views).enumerate() {
                assert_eq!(a, b, "{protocol} {variant:?}: HTTP view {k} differs");
            }
            assert_eq!(
                first.pushes.len(),
                seen.pushes.len(),
                "{protocol} {variant:?}: a different number of pushes or actions:\n{:#?}\n{:#?}",
                first.pushes,
                seen.pushes
            );
            for (k, (a, b)) in first.pushes.iter().zip(&seen.pushes).enumerate() {
                assert_eq!(a, b, "{protocol} {variant:?}: push {k} differs");
            }
            assert_eq!(
                first_owner, owner,
                "{protocol} {variant:?}: the host's pushes differ"
            );
        }
        assert!(
            varied_differs,
            "{protocol}: the varied party's own view did differ between the runs"
        );
        // No push repeats the one before it: a push means the view changed.
        for pushes in [&first.pushes, first_owner] {
            for w in pushes.windows(2) {
                assert_ne!(w[0], w[1], "{protocol}: a push with nothing new");
            }
        }
    }
}
