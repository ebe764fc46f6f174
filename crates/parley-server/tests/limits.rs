//! Resource limits (`docs/api.md`, "Limits"): slow and idle connections are cut off,
//! the connection cap, the body timeout, oversized or impossible sessions refused
//! before they cost anything, rate limits per address and per token, the cap on
//! live sessions, and the WebSocket limits.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use parley_server::{Limits, Rate};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use crate::common::{options, start_with, Server, CREATOR};

/// A server on a fresh SQLite file, with the test options' limits changed by `set`.
async fn server_with(set: impl FnOnce(&mut Limits)) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = parley_server::database_url(&dir.path().join("t.db").display().to_string());
    let mut options = options(&url);
    set(&mut options.limits);
    start_with(&options, Some(dir)).await
}

fn addr(server: &Server) -> String {
    server.base.trim_start_matches("http://").to_string()
}

/// Reads until the server closes the connection (or `within` passes): what it sent,
/// and whether it closed.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> (Vec<u8>, bool) {
    let deadline = tokio::time::Instant::now() + within;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return (got, false),
            Ok(Ok(0)) | Ok(Err(_)) => return (got, true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// `GET /healthz` on a new connection: its status and how long it took.
async fn healthz(server: &Server) -> (StatusCode, Duration) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let t0 = Instant::now();
    let r = client
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .expect("healthz answers");
    (r.status(), t0.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_and_healthz_still_answers() {
    let server = server_with(|l| l.header_timeout = Duration::from_secs(1)).await;
    let opened = Instant::now();
    let mut held = Vec::new();
    for k in 0..200 {
        let mut s = TcpStream::connect(addr(&server)).await.expect("connect");
        if k % 2 == 0 {
            // Slowloris: headers begun and never finished.
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a")
                .await
                .expect("write");
        }
        // The others send nothing at all.
        held.push(s);
    }
    // The server still answers while the 200 are open.
    let (status, took) = healthz(&server).await;
    assert_eq!(status, StatusCode::OK);
    assert!(took < Duration::from_millis(500), "healthz took {took:?}");
    // Every one of them is closed once its second is up, without an answer.
    let closed = futures_util::future::join_all(
        held.iter_mut()
            .map(|s| read_until_closed(s, Duration::from_secs(4))),
    )
    .await;
    let elapsed = opened.elapsed();
    for (k, (got, closed)) in closed.iter().enumerate() {
        assert!(closed, "connection {k} is still open after {elapsed:?}");
        // hyper may answer a timed-out request head with 408; never with a page.
        assert!(
            got.is_empty() || got.starts_with(b"HTTP/1.1 408"),
            "connection {k} got {:?}",
            String::from_utf8_lossy(got)
        );
    }
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
    let (status, took) = healthz(&server).await;
    assert_eq!(status, StatusCode::OK);
    assert!(took < Duration::from_millis(500), "healthz took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_are_closed() {
    let server = server_with(|l| l.keep_alive_timeout = Duration::from_millis(500)).await;
    let mut s = TcpStream::connect(addr(&server)).await.expect("connect");
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .expect("write");
    let t0 = Instant::now();
    let (got, closed) = read_until_closed(&mut s, Duration::from_secs(3)).await;
    assert!(closed, "an idle keep-alive connection stays open");
    assert!(got.starts_with(b"HTTP/1.1 200"), "{got:?}");
    let idle = t0.elapsed();
    assert!(
        idle >= Duration::from_millis(400) && idle < Duration::from_secs(2),
        "closed after {idle:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_are_refused_at_once() {
    let server = server_with(|l| l.max_connections = 8).await;
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(TcpStream::connect(addr(&server)).await.expect("connect"));
    }
    // Let the server accept them all.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t0 = Instant::now();
    let mut extra = TcpStream::connect(addr(&server)).await.expect("connect");
    let (got, closed) = read_until_closed(&mut extra, Duration::from_secs(2)).await;
    assert!(closed && t0.elapsed() < Duration::from_secs(1));
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("retry-after: 1"),
        "{text}"
    );
    assert!(text.contains("--max-connections"), "{text}");
    // Their places come back when they close.
    drop(held);
    let t0 = Instant::now();
    loop {
        let client = reqwest::Client::new();
        if let Ok(r) = client.get(format!("{}/healthz", server.base)).send().await {
            if r.status() == StatusCode::OK {
                break;
            }
        }
        assert!(t0.elapsed() < Duration::from_secs(3), "no place came back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_does_not_arrive_gets_408() {
    let server = server_with(|l| l.body_timeout = Duration::from_millis(500)).await;
    let mut s = TcpStream::connect(addr(&server)).await.expect("connect");
    s.write_all(
        format!(
            "POST /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {CREATOR}\r\n\
             Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"scenario\""
        )
        .as_bytes(),
    )
    .await
    .expect("write");
    let t0 = Instant::now();
    let (got, _) = read_until_closed(&mut s, Duration::from_secs(3)).await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("--body-timeout"), "{text}");
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
}

/// `(VmRSS, VmHWM)` of this process, in kB: the server runs in it.
fn memory_kb() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .expect("field")
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn upload(issues: Value, parties: usize) -> Value {
    let parties: Vec<Value> = (0..parties)
        .map(|p| json!({"name": format!("p{p}"), "utility": {"issues": []}}))
        .collect();
    json!({"scenario": {"upload": {"name": "big", "issues": issues, "parties": parties}},
           "protocol": "saop", "rounds": 10,
           "roles": {"p0": {"seat": "person"}, "p1": {"seat": "person"}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_scenarios_are_refused_before_they_cost_anything() {
    let server = server_with(|_| {}).await;
    // Warm up (the first request pays for lazily built state).
    let r = server
        .call("POST", "/api/sessions", None, Some(upload(json!([]), 2)))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let discrete: Vec<String> = (0..100_001).map(|v| v.to_string()).collect();
    // The review's request: a few hundred bytes whose parsing alone would allocate
    // per-value tables of 2^24 entries (half a gigabyte).
    let mut tables = upload(
        json!([{"name": "n", "type": "integer", "min": 0, "max": (1 << 24) - 1}]),
        2,
    );
    for p in 0..2 {
        tables["scenario"]["upload"]["parties"][p]["utility"]["issues"] =
            json!([{"issue": "n", "weight": 1, "values": {"0": 1}}]);
    }
    let cases = [
        ("per-value tables of 2^24 entries", tables, "16777216 values"),
        (
            "an integer issue of 2^24 values",
            upload(
                json!([{"name": "n", "type": "integer", "min": 0, "max": (1 << 24) - 1}]),
                2,
            ),
            "16777216 values",
        ),
        (
            "an integer issue of 100,001 values",
            upload(
                json!([{"name": "n", "type": "integer", "min": 0, "max": 100_000}]),
                2,
            ),
            "100001 values",
        ),
        (
            "a discrete issue of 100,001 values",
            upload(json!([{"name": "d", "values": discrete}]), 2),
            "100001 values",
        ),
        (
            "a real issue of 100,001 steps",
            upload(
                json!([{"name": "r", "type": "real", "min": 0, "max": 1, "steps": 100_001}]),
                2,
            ),
            "100001 values",
        ),
        (
            "10^7 outcomes from seven issues",
            upload(
                Value::Array(
                    (0..7)
                        .map(|i| json!({"name": format!("i{i}"), "type": "integer", "min": 1, "max": 10}))
                        .collect(),
                ),
                2,
            ),
            "10000000 outcomes",
        ),
        (
            "65 issues",
            upload(
                Value::Array(
                    (0..65)
                        .map(|i| json!({"name": format!("i{i}"), "values": ["a"]}))
                        .collect(),
                ),
                2,
            ),
            "65 issues",
        ),
    ];
    let (rss0, hwm0) = memory_kb();
    for (what, request, says) in cases {
        let t0 = Instant::now();
        let r = server
            .call("POST", "/api/sessions", None, Some(request))
            .await;
        let took = t0.elapsed();
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{what}: {}", r.body);
        let error = r.body["error"].as_str().unwrap_or_default();
        assert!(error.contains(says), "{what}: {error}");
        assert!(error.contains("--max-"), "{what}: names the flag: {error}");
        assert!(took < Duration::from_secs(1), "{what}: took {took:?}");
    }
    let (rss1, hwm1) = memory_kb();
    let grew = |a: u64, b: u64| b.saturating_sub(a) / 1024;
    assert!(grew(rss0, rss1) < 50, "RSS grew by {} MB", grew(rss0, rss1));
    assert!(
        grew(hwm0, hwm1) < 50,
        "peak RSS grew by {} MB",
        grew(hwm0, hwm1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_the_engine_would_refuse_are_refused_at_creation() {
    let server = server_with(|_| {}).await;
    // One party.
    let mut one = upload(
        json!([{"name": "n", "type": "integer", "min": 0, "max": 3}]),
        1,
    );
    one["roles"] = json!({"p0": {"seat": "person"}});
    let r = server.call("POST", "/api/sessions", None, Some(one)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(
        r.body["error"]
            .as_str()
            .is_some_and(|e| e.contains("at least two parties")),
        "{}",
        r.body
    );
    // Seventeen parties: more roles than a session may have.
    let mut many = upload(
        json!([{"name": "n", "type": "integer", "min": 0, "max": 3}]),
        17,
    );
    many["roles"] = (0..17)
        .map(|p| (format!("p{p}"), json!({"agent": "boulware"})))
        .collect::<serde_json::Map<_, _>>()
        .into();
    let r = server.call("POST", "/api/sessions", None, Some(many)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(
        r.body["error"]
            .as_str()
            .is_some_and(|e| e.contains("--max-roles")),
        "{}",
        r.body
    );
    // Rounds × roles: 10,000 rounds of two parties fit, with a mediator they do not.
    let direct = json!({"scenario": "job-offer", "protocol": "saop", "rounds": 10_000,
        "roles": {"candidate": {"seat": "person"}, "employer": {"seat": "person"}}});
    let r = server
        .call("POST", "/api/sessions", None, Some(direct))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let mediated = json!({"scenario": "job-offer", "protocol": "shuttle", "rounds": 10_000,
        "roles": {"candidate": {"seat": "person"}, "employer": {"seat": "person"},
                  "mediator": {"agent": "shuttle"}}});
    let r = server
        .call("POST", "/api/sessions", None, Some(mediated))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let error = r.body["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("rounds:") && error.contains("--max-role-rounds"),
        "{error}"
    );
    // Twenty agents over 10,000 rounds (the 174,139 log rows of the review).
    let mut twenty = upload(
        json!([{"name": "n", "type": "integer", "min": 0, "max": 3}]),
        20,
    );
    twenty["rounds"] = 10_000.into();
    twenty["roles"] = (0..20)
        .map(|p| (format!("p{p}"), json!({"agent": "boulware"})))
        .collect::<serde_json::Map<_, _>>()
        .into();
    let r = server
        .call("POST", "/api/sessions", None, Some(twenty))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
}

/// A POST to `/api/sessions` with the creator token: status, Retry-After, body.
async fn create_raw(server: &Server, body: &Value) -> (StatusCode, Option<u64>, Value) {
    let r = server
        .client
        .post(format!("{}/api/sessions", server.base))
        .bearer_auth(CREATOR)
        .json(body)
        .send()
        .await
        .expect("answer");
    get_parts(r).await
}

async fn get_parts(r: reqwest::Response) -> (StatusCode, Option<u64>, Value) {
    let status = r.status();
    let retry = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let body = r.json().await.unwrap_or(Value::Null);
    (status, retry, body)
}

fn seats() -> Value {
    json!({"scenario": "job-offer", "protocol": "saop", "rounds": 10,
           "roles": {"candidate": {"seat": "person"}, "employer": {"seat": "program"}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_creation_is_rate_limited_per_address() {
    // Three at once, then one every 100 s.
    let server = server_with(|l| l.create_rate = Some(Rate::new(0.01, 3.0))).await;
    for _ in 0..3 {
        let (status, _, body) = create_raw(&server, &seats()).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, retry, body) = create_raw(&server, &seats()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(retry.is_some_and(|s| (1..=100).contains(&s)), "{retry:?}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("--create-rate")),
        "{body}"
    );
    // Nothing else is limited by it.
    let (status, _) = healthz(&server).await;
    assert_eq!(status, StatusCode::OK);
    let r = server.call("GET", "/api/scenarios", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hammered_token_is_limited_and_the_others_are_not() {
    let server = server_with(|l| {
        l.token_rate = Some(Rate::new(0.01, 5.0));
        l.address_rate = Some(Rate::new(0.01, 3.0));
    })
    .await;
    let created = server.create_as_is(seats()).await;
    let path = format!("/api/sessions/{}", created.id());
    let (a, b) = (created.seat("candidate"), created.seat("employer"));
    let get = |token: &str| {
        server
            .client
            .get(format!("{}{path}", server.base))
            .bearer_auth(token)
            .send()
    };
    for _ in 0..5 {
        assert_eq!(get(a).await.expect("answer").status(), StatusCode::OK);
    }
    let (status, retry, body) = get_parts(get(a).await.expect("answer")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(retry.is_some_and(|s| s >= 1), "{retry:?}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("--token-rate")),
        "{body}"
    );
    // Another token of the same session, from the same address, is not affected.
    assert_eq!(get(b).await.expect("answer").status(), StatusCode::OK);
    assert_eq!(
        get(created.owner()).await.expect("answer").status(),
        StatusCode::OK
    );
    // Requests without a valid token count per address: made-up tokens share one
    // bucket, so guessing gets nowhere fast.
    for k in 0..3 {
        let (status, _, body) =
            get_parts(get(&format!("made-up-{k}")).await.expect("answer")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }
    let (status, retry, body) = get_parts(get("made-up-3").await.expect("answer")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(retry.is_some_and(|s| s >= 1), "{retry:?}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("--address-rate")),
        "{body}"
    );
    let r = server.call("GET", "/api/scenarios", None, None).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    // The valid tokens and /healthz still get through.
    assert_eq!(get(b).await.expect("answer").status(), StatusCode::OK);
    let (status, _) = healthz(&server).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_sessions_are_capped() {
    let server = server_with(|l| l.max_live_sessions = 3).await;
    // Two wait for their seats; one of agents runs to its end at once.
    server.create_as_is(seats()).await;
    server.create_as_is(seats()).await;
    let agents = server
        .create_as_is(
            json!({"scenario": "job-offer", "protocol": "saop", "rounds": 5,
            "roles": {"candidate": {"agent": "boulware"}, "employer": {"agent": "conceder"}}}),
        )
        .await;
    let t0 = Instant::now();
    while server.owner_view(&agents).await["status"] != "ended" {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "the agents never ended"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Two live: one more fits, then none.
    let (status, _, body) = create_raw(&server, &seats()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, retry, body) = create_raw(&server, &seats()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(retry.is_some_and(|s| s >= 1), "{retry:?}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("--max-live-sessions")),
        "{body}"
    );
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// A WebSocket to `session` with `token` sent: the socket and its first message.
async fn open_socket(server: &Server, session: &str, token: &str) -> (Socket, Message) {
    let url = format!(
        "{}/api/sessions/{session}/ws",
        server.base.replace("http", "ws")
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(&url).await.expect("ws");
    socket
        .send(Message::Text(json!({"token": token}).to_string().into()))
        .await
        .expect("hello");
    let first = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("an answer in time")
        .expect("a message")
        .expect("ok");
    (socket, first)
}

fn close_code(message: &Message) -> Option<u16> {
    match message {
        Message::Close(Some(frame)) => Some(u16::from(frame.code)),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_per_token_are_capped() {
    let server = server_with(|l| l.max_sockets_per_token = 2).await;
    let created = server.create_as_is(seats()).await;
    let (id, a, b) = (
        created.id(),
        created.seat("candidate"),
        created.seat("employer"),
    );
    let (first, view) = open_socket(&server, id, a).await;
    assert!(view.is_text(), "{view:?}");
    let (_second, view) = open_socket(&server, id, a).await;
    assert!(view.is_text(), "{view:?}");
    let (_, refused) = open_socket(&server, id, a).await;
    assert_eq!(close_code(&refused), Some(4429), "{refused:?}");
    // Another token is not affected.
    let (_other, view) = open_socket(&server, id, b).await;
    assert!(view.is_text(), "{view:?}");
    // A closed socket gives its place back.
    drop(first);
    let t0 = Instant::now();
    loop {
        let (_socket, message) = open_socket(&server, id, a).await;
        if message.is_text() {
            break;
        }
        assert_eq!(close_code(&message), Some(4429));
        assert!(
            t0.elapsed() < Duration::from_secs(3),
            "the place never came back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_websockets_are_closed_and_answering_ones_kept() {
    let server = server_with(|l| {
        l.ws_ping_interval = Duration::from_millis(100);
        l.ws_idle_timeout = Duration::from_millis(600);
    })
    .await;
    let created = server.create_as_is(seats()).await;
    let id = created.id();
    // The silent client speaks WebSocket by hand, so that it answers no ping (a
    // WebSocket library answers them whenever it reads).
    let mut silent = TcpStream::connect(addr(&server)).await.expect("connect");
    silent
        .write_all(
            format!(
                "GET /api/sessions/{id}/ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                 Sec-WebSocket-Version: 13\r\n\r\n",
                addr(&server)
            )
            .as_bytes(),
        )
        .await
        .expect("upgrade");
    let hello = json!({"token": created.seat("candidate")}).to_string();
    assert!(hello.len() < 126);
    // A masked text frame (mask 0: the payload as it is).
    let mut frame = vec![0x81, 0x80 | hello.len() as u8, 0, 0, 0, 0];
    frame.extend_from_slice(hello.as_bytes());
    silent.write_all(&frame).await.expect("hello");
    let t0 = Instant::now();
    let (answering_task, silent_read) = tokio::join!(
        async {
            // The answering client reads (and so answers every ping with a pong)
            // for 1.5 s: it is kept.
            let (mut answering, view) = open_socket(&server, id, created.seat("employer")).await;
            assert!(view.is_text());
            let t0 = Instant::now();
            let mut pings = 0;
            while t0.elapsed() < Duration::from_millis(1500) {
                match tokio::time::timeout(Duration::from_millis(200), answering.next()).await {
                    Err(_) => {}
                    Ok(Some(Ok(Message::Ping(_)))) => pings += 1,
                    Ok(other) => panic!("the answering socket got {other:?}"),
                }
            }
            pings
        },
        async {
            let read = read_until_closed(&mut silent, Duration::from_secs(4)).await;
            (read, t0.elapsed())
        },
    );
    assert!(answering_task >= 5, "{answering_task} pings");
    let ((got, closed), silent_for) = silent_read;
    assert!(closed, "the silent socket is still open");
    assert!(got.starts_with(b"HTTP/1.1 101"), "{got:?}");
    // Its last frame: close (0x88), code 4408 (0x1138).
    let close = got
        .windows(4)
        .any(|w| w[0] == 0x88 && w[2] == 0x11 && w[3] == 0x38);
    assert!(close, "no close frame with 4408 in {got:?}");
    assert!(
        silent_for >= Duration::from_millis(500) && silent_for < Duration::from_millis(2500),
        "closed after {silent_for:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_accept_loop_shuts_down_gracefully() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = parley_server::database_url(&dir.path().join("t.db").display().to_string());
    let options = options(&url);
    let app = parley_server::App::open(&options).await.expect("opens");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let local = listener.local_addr().expect("addr");
    *app.hosts.write().expect("hosts") = parley_server::HostPolicy::for_listener(local, &[]);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let limits = options.limits.clone();
    let served = tokio::spawn(async move {
        parley_server::serve_listener(app, listener, &limits, async {
            let _ = stopped.await;
        })
        .await
    });
    let client = reqwest::Client::new();
    let r = client
        .get(format!("http://{local}/healthz"))
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), StatusCode::OK);
    // An idle keep-alive connection (the client's) does not hold the shutdown.
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(3), served)
        .await
        .expect("the loop returns")
        .expect("joined")
        .expect("no error");
    assert!(TcpStream::connect(local).await.is_err(), "still accepting");
}
