//! Faults: a full disk, a client that gives up mid-request, retried actions. Nothing
//! acknowledged is lost, no session is left stuck, and no action counts twice.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt as _;

use crate::common::{options, pool, start_on, start_with, Created, Server};

/// A session of a program seat (the candidate) against a hard-headed agent.
async fn seat_session(server: &Server, rounds: u32) -> (Created, String) {
    let created = server
        .create(
            json!({"scenario": "job-offer", "protocol": "saop", "rounds": rounds,
            "roles": {"candidate": {"seat": "program"}, "employer": {"agent": "boulware"}}}),
        )
        .await;
    let path = format!("/api/sessions/{}", created.id());
    let r = server
        .call(
            "POST",
            &format!("{path}/join"),
            Some(created.seat("candidate")),
            None,
        )
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    (created, path)
}

/// An offer the employer will not take early: the candidate's best package.
fn greedy_offer(view: &Value) -> Value {
    let mut outcome = serde_json::Map::new();
    for issue in view["scenario"]["issues"].as_array().expect("issues") {
        let values = issue["values"].as_array().expect("values");
        // The last value of each issue is as good as any for the test's purpose: the
        // point is a valid action the agent answers.
        let value = values.last().expect("a value").clone();
        outcome.insert(issue["name"].as_str().expect("name").to_string(), value);
    }
    json!({"type": "offer", "outcome": outcome})
}

/// The seat is asked again, and an ordinary action is taken (unless the talks ended).
async fn goes_on(server: &Server, path: &str, seat: &str) {
    let view = server.wait_asked(path, seat).await;
    if view["status"] != "ended" {
        let r = server
            .call(
                "POST",
                &format!("{path}/actions"),
                Some(seat),
                Some(greedy_offer(&view)),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
}

/// `POST {path}/actions` with an `Idempotency-Key`: the status and the JSON answer.
async fn keyed_action(
    server: &Server,
    path: &str,
    seat: &str,
    key: &str,
    body: Value,
) -> (StatusCode, Value) {
    let r = server
        .client
        .post(format!("{}{path}/actions", server.base))
        .bearer_auth(seat)
        .header("idempotency-key", key)
        .json(&body)
        .send()
        .await
        .expect("answer");
    let status = r.status();
    (status, r.json::<Value>().await.expect("json"))
}

/// A full disk (a SQLite size cap reached): the server answers 503 with `Retry-After`
/// and acknowledges nothing it did not store; once space is freed it stores again;
/// after a restart every acknowledged action is in the log and the audit is clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = parley_server::database_url(&dir.path().join("t.db").display().to_string());
    // The schema, then ballast to free later, then a cap a little above the size.
    drop(
        parley_server::App::open(&options(&url))
            .await
            .expect("opens"),
    );
    let db = pool(&url).await;
    for statement in [
        "CREATE TABLE ballast (b TEXT NOT NULL)",
        "INSERT INTO ballast SELECT hex(randomblob(2000)) FROM (WITH RECURSIVE c(x) AS \
         (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300) SELECT x FROM c)",
    ] {
        sqlx::query(statement).execute(&db).await.expect("ballast");
    }
    let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
        .fetch_one(&db)
        .await
        .expect("page count");
    let mut capped = options(&url);
    capped.sqlite_max_pages = Some(pages as u64 + 12);
    let server = start_with(&capped, None).await;
    let (created, path) = seat_session(&server, 400).await;
    let seat = created.seat("candidate");
    let view = server.wait_asked(&path, seat).await;
    let offer = greedy_offer(&view);

    let started = std::time::Instant::now();
    let mut acknowledged: Vec<Value> = Vec::new();
    let mut unavailable = 0;
    let act = |server: &Server| {
        let offer = offer.clone();
        let path = path.clone();
        let seat = seat.to_string();
        let client = server.client.clone();
        let base = server.base.clone();
        async move {
            let r = client
                .post(format!("{base}{path}/actions"))
                .bearer_auth(&seat)
                .json(&offer)
                .send()
                .await
                .expect("answer");
            let status = r.status();
            let retry_after = r.headers().get("retry-after").cloned();
            let body: Value = r.json().await.expect("json");
            (status, retry_after, body)
        }
    };
    // Until the disk is full: acknowledged actions, then 503s.
    for _ in 0..3000 {
        let (status, retry_after, body) = act(&server).await;
        match status {
            StatusCode::OK => acknowledged.push(body["receipt"].clone()),
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(retry_after.is_some(), "a 503 says when to retry");
                unavailable += 1;
                if unavailable >= 3 {
                    break;
                }
            }
            StatusCode::CONFLICT => {}
            other => panic!("unexpected {other}: {body}"),
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(
        unavailable >= 3,
        "the disk never filled ({} acknowledged)",
        acknowledged.len()
    );
    let before = acknowledged.len();
    assert!(before > 0);
    eprintln!(
        "full after {before} acknowledged actions ({:?})",
        started.elapsed()
    );
    // Health says so too.
    let health = server
        .client
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
    // Free the space: the server stores again by itself.
    sqlx::query("DELETE FROM ballast")
        .execute(&db)
        .await
        .expect("free");
    let mut recovered = 0;
    for _ in 0..3000 {
        let (status, _, body) = act(&server).await;
        match status {
            StatusCode::OK => {
                acknowledged.push(body["receipt"].clone());
                recovered += 1;
                if recovered >= 5 {
                    break;
                }
            }
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::CONFLICT => {}
            other => panic!("unexpected {other}: {body}"),
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(recovered >= 5, "the server never stored again");
    eprintln!("stored again ({:?})", started.elapsed());
    // A restart: every acknowledged action is in the log, and the log is whole.
    let restarted = start_on(&url, Some(dir)).await;
    let mut store_ok = 0;
    for receipt in &acknowledged {
        let checked = parley_server::verify_receipt(&url, None, receipt)
            .await
            .expect("the check runs");
        assert!(checked.is_ok(), "{checked:?}");
        store_ok += 1;
    }
    assert_eq!(store_ok, acknowledged.len());
    let report = parley_server::audit(&url, None, None).await.expect("audit");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let view = restarted.call("GET", &path, Some(seat), None).await;
    assert_eq!(view.status, StatusCode::OK);
    assert_ne!(view.body["status"], "failed", "{}", view.body);
}

/// A client that drops its request right after sending it: the action is applied or
/// not, never half-applied, and the seat is asked again either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_request_leaves_no_session_stuck() {
    let server = crate::common::start().await;
    let (created, path) = seat_session(&server, 200).await;
    let seat = created.seat("candidate");
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut applied = 0;
    for i in 0..40 {
        let view = server.wait_asked(&path, seat).await;
        if view["status"] == "ended" {
            break;
        }
        let before = view["events"].as_array().map_or(0, Vec::len);
        let body = greedy_offer(&view).to_string();
        let request = format!(
            "POST {path}/actions HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {seat}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let mut stream = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        stream.write_all(request.as_bytes()).await.expect("send");
        // Gone at once, or after a moment (while the action is being logged).
        if i % 2 == 1 {
            tokio::time::sleep(Duration::from_micros(300)).await;
        }
        drop(stream);
        // The seat is asked again (by a later round if the action went through).
        tokio::time::sleep(Duration::from_millis(20)).await;
        let v = server.wait_asked(&path, seat).await;
        if v["events"].as_array().map_or(0, Vec::len) > before {
            applied += 1;
        }
    }
    // The talks go on.
    goes_on(&server, &path, seat).await;
    assert!(
        applied > 0,
        "no dropped request was applied: the test did not exercise it"
    );
}

/// With an `Idempotency-Key`, a retried action returns the first answer and does not
/// act twice, even after a restart; the same key for another action is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_action_counts_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = parley_server::database_url(&dir.path().join("t.db").display().to_string());
    let server = start_on(&url, None).await;
    let (created, path) = seat_session(&server, 50).await;
    let seat = created.seat("candidate");
    let view = server.wait_asked(&path, seat).await;
    let offer = greedy_offer(&view);
    let (status, first) = keyed_action(&server, &path, seat, "offer-1", offer.clone()).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let inputs = |trace: Value| {
        trace["records"]
            .as_array()
            .expect("records")
            .iter()
            .filter(|r| r["kind"] == "input")
            .count()
    };
    let logged = inputs(server.trace(&created).await.body);
    for _ in 0..3 {
        let (status, again) = keyed_action(&server, &path, seat, "offer-1", offer.clone()).await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(again["receipt"], first["receipt"]);
    }
    assert_eq!(inputs(server.trace(&created).await.body), logged);
    // The same key for another action.
    let (status, refused) = keyed_action(
        &server,
        &path,
        seat,
        "offer-1",
        json!({"type": "walk-away"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    // After a restart, the retry still gets its first answer.
    let restarted = start_on(&url, Some(dir)).await;
    let (status, again) = keyed_action(&restarted, &path, seat, "offer-1", offer.clone()).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["receipt"], first["receipt"]);
    assert_eq!(inputs(restarted.trace(&created).await.body), logged);
    // A malformed key is refused.
    let r = restarted
        .client
        .post(format!("{}{path}/actions", restarted.base))
        .bearer_auth(seat)
        .header("idempotency-key", "has space")
        .json(&offer)
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

/// One server per database: a second one refuses to start, saying why; once the first
/// is gone, a new one starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_one_database_refuses_to_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = parley_server::database_url(&dir.path().join("t.db").display().to_string());
    let mut locked = options(&url);
    locked.lock = true;
    let first = parley_server::App::open(&locked)
        .await
        .expect("the first starts");
    let second = parley_server::App::open(&locked).await;
    let error = second.err().expect("the second is refused").to_string();
    assert!(
        error.contains("another parley server is using this database"),
        "{error}"
    );
    drop(first);
    parley_server::App::open(&locked)
        .await
        .expect("a server starts once the first is gone");
}

/// A file that is not a database, or a damaged one: a clear error within seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_database_is_refused_quickly_and_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("t.db");
    std::fs::write(
        &file,
        b"this is not a database, it is a text file\n".repeat(200),
    )
    .expect("write");
    let url = parley_server::database_url(&file.display().to_string());
    let started = std::time::Instant::now();
    let error = parley_server::App::open(&options(&url))
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        error.contains("t.db"),
        "the error names the database: {error}"
    );
    assert!(
        error.contains("not a database") || error.contains("corrupt"),
        "{error}"
    );
    // The file is left as it was, and no server key was made for it.
    assert!(std::fs::read(&file)
        .expect("read")
        .starts_with(b"this is not a database"));
    assert!(!dir.path().join("t.db.key").exists());
}

/// Ended sessions leave memory when nobody asks about them, and come back, unchanged,
/// when someone does; at start, ended sessions are not loaded at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ended_sessions_leave_memory_and_come_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = parley_server::database_url(&dir.path().join("t.db").display().to_string());
    let app = parley_server::App::open(&options(&url))
        .await
        .expect("opens");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let served = std::sync::Arc::clone(&app);
    tokio::spawn(async move {
        let _ = axum::serve(listener, parley_server::router(served)).await;
    });
    let server = Server {
        base,
        url: url.clone(),
        client: reqwest::Client::new(),
        _dir: None,
    };
    let created = server
        .create(
            json!({"scenario": "job-offer", "protocol": "saop", "rounds": 10,
            "roles": {"candidate": {"agent": "conceder"}, "employer": {"agent": "boulware"}}}),
        )
        .await;
    let before = server.analysed(&created).await;
    assert_eq!(before["status"], "ended");
    assert!(app.session(created.id()).is_some());
    // Not idle long enough: stays.
    assert_eq!(app.evict(3600), 0);
    assert_eq!(app.evict(0), 1);
    assert!(app.session(created.id()).is_none(), "left memory");
    // Asked for: read back from the store, the same view (its closing analysis is
    // computed again off the request path, and shows once it is there).
    let mut after = server.owner_view(&created).await;
    assert_eq!(after["events"], before["events"]);
    for _ in 0..2000 {
        if after["analysis"]["pending"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        after = server.owner_view(&created).await;
    }
    assert_eq!(after, before);
    assert!(app.session(created.id()).is_some());
    // A seat token of an evicted session still authenticates, another session's
    // still gets 403.
    assert_eq!(app.evict(0), 1);
    let r = server
        .call(
            "GET",
            &format!("/api/sessions/{}", created.id()),
            Some("not-a-token"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // A restarted server does not load ended sessions until asked.
    let restarted = parley_server::App::open(&options(&url))
        .await
        .expect("opens");
    assert!(restarted.session(created.id()).is_none());
    assert!(restarted.load(created.id()).await.expect("loads").is_some());
}

/// A database of its own on the test PostgreSQL server (`PARLEY_TEST_POSTGRES`), so
/// that an outage can be made for it alone: the server's URL and the database's.
async fn own_postgres_database(name: &str) -> (String, String) {
    let base = crate::common::postgres_url();
    let db = format!("{name}_{}_{}", std::process::id(), rand_suffix());
    let admin = pool(&base).await;
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(&admin)
        .await
        .expect("create database");
    let (prefix, _) = base.rsplit_once('/').expect("a database in the URL");
    (base.clone(), format!("{prefix}/{db}"))
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
}

/// PostgreSQL: one server per database (the advisory lock), and an outage of the
/// database in the middle of talks: requests get 503, nothing acknowledged is lost,
/// and once the database is back the session goes on (a retry with the same
/// `Idempotency-Key` learns what became of the action sent during the outage).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: set PARLEY_TEST_POSTGRES=postgres://… (.ci/run starts one)"]
async fn a_postgresql_outage_leaves_no_session_stuck() {
    let (base, url) = own_postgres_database("parley_outage").await;
    let db_name = url.rsplit('/').next().expect("name").to_string();
    // The lock: a second server on the same database refuses.
    let mut locked = options(&url);
    locked.lock = true;
    let first = parley_server::App::open(&locked)
        .await
        .expect("the first starts");
    let error = parley_server::App::open(&locked)
        .await
        .err()
        .expect("the second is refused")
        .to_string();
    assert!(error.contains("another parley server"), "{error}");
    drop(first);

    let server = start_on(&url, None).await;
    let (created, path) = seat_session(&server, 100).await;
    let seat = created.seat("candidate");
    let view = server.wait_asked(&path, seat).await;
    let offer = greedy_offer(&view);
    let admin = pool(&base).await;
    // The outage: no new connections, and the server's own cut off.
    for statement in [
        format!("ALTER DATABASE {db_name} ALLOW_CONNECTIONS false"),
        format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db_name}'"
        ),
    ] {
        sqlx::query(&statement)
            .execute(&admin)
            .await
            .expect("outage");
    }
    let post = |key: &'static str| keyed_action(&server, &path, seat, key, offer.clone());
    let (status, body) = post("during-outage").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let health = server
        .client
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
    // The database comes back: the server stores again by itself.
    sqlx::query(&format!("ALTER DATABASE {db_name} ALLOW_CONNECTIONS true"))
        .execute(&admin)
        .await
        .expect("back");
    let mut answered = None;
    for _ in 0..400 {
        let (status, body) = post("during-outage").await;
        if status == StatusCode::OK {
            answered = Some(body);
            break;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let answered = answered.expect("the action's outcome is known once the database is back");
    let receipt = &answered["receipt"];
    let key = dir_free_key_path(&url);
    let checked = parley_server::verify_receipt(&url, Some(&key), receipt)
        .await
        .expect("the check runs");
    assert!(checked.is_ok(), "{checked:?}");
    // Not stuck.
    goes_on(&server, &path, seat).await;
    drop(server);
    let _ = sqlx::query(&format!("DROP DATABASE {db_name} WITH (FORCE)"))
        .execute(&admin)
        .await;
}

/// The key file the test servers use on PostgreSQL (see `common::options`).
fn dir_free_key_path(url: &str) -> std::path::PathBuf {
    options(url).key.expect("a key file for PostgreSQL")
}
