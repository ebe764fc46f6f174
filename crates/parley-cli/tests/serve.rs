//! `parley serve` killed with SIGKILL in the middle of live sessions, restarted on the
//! same database: no acknowledged record is lost and the sessions go on.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde_json::{json, Value};

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

struct Server {
    child: Child,
    base: String,
}

/// The creator token the test servers are started with.
const CREATOR: &str = "serve-test-creator-token-42";

/// `parley serve` on `db` and `port`; `creator` sets `PARLEY_CREATE_TOKEN` (else the
/// server makes one up); the server's stdout goes to `stdout`.
fn spawn(db: &Path, port: u16, creator: Option<&str>, stdout: Stdio) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_parley"));
    command
        .args([
            "serve",
            "--db",
            db.to_str().expect("utf-8"),
            "--addr",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(stdout)
        .stderr(Stdio::null());
    match creator {
        Some(token) => command.env("PARLEY_CREATE_TOKEN", token),
        None => command.env_remove("PARLEY_CREATE_TOKEN"),
    };
    command.spawn().expect("the server starts")
}

fn start(db: &Path, port: u16) -> Server {
    let child = spawn(db, port, Some(CREATOR), Stdio::null());
    let base = format!("http://127.0.0.1:{port}");
    let client = Client::new();
    let started = Instant::now();
    while client.get(format!("{base}/healthz")).send().is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the server did not come up"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Server { child, base }
}

fn call(
    client: &Client,
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = if method == "GET" {
        client.get(url)
    } else {
        client.post(url)
    };
    if let Some(t) = token {
        req = req.bearer_auth(t);
    } else if url.ends_with("/api/sessions") {
        req = req.bearer_auth(CREATOR);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    match req.send() {
        Ok(resp) => {
            let status = resp.status().as_u16();
            (status, resp.json().unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}

/// The owner's log of a session: (seq, kind, hash) per record.
fn log(client: &Client, base: &str, id: &str, owner: &str) -> Vec<(i64, String, String)> {
    let (status, body) = call(
        client,
        "GET",
        &format!("{base}/api/sessions/{id}/trace"),
        Some(owner),
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["chain_ok"], true);
    body["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| {
            (
                r["seq"].as_i64().expect("seq"),
                r["kind"].as_str().expect("kind").to_string(),
                r["hash"].as_str().expect("hash").to_string(),
            )
        })
        .collect()
}

const OFFERS: [&str; 3] = ["100", "99", "98"];

fn offer(salary: &str) -> Value {
    json!({"type": "offer", "outcome": {"salary": salary, "start date": "in 2 months",
        "remote days": "fully remote", "signing bonus": "15k", "title": "Staff Engineer"}})
}

#[test]
fn a_killed_server_loses_no_acknowledged_record_and_its_sessions_go_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("live.db");
    let port = free_port();
    let mut server = start(&db, port);
    let client = Client::new();
    let base = server.base.clone();
    // Four live sessions, each a person's seat against a tough built-in negotiator, so
    // that they last: the seats hold out with high offers.
    let mut sessions = Vec::new();
    for _ in 0..4 {
        let (status, created) = call(
            &client,
            "POST",
            &format!("{base}/api/sessions"),
            None,
            Some(json!({
                "scenario": "job-offer", "protocol": "saop", "rounds": 400, "owner_sees": "all",
                "roles": {"candidate": {"seat": "program"}, "employer": {"agent": "hardliner"}}
            })),
        );
        assert_eq!(status, 201, "{created}");
        let id = created["id"].as_str().expect("id").to_string();
        let seat = created["seats"]["candidate"]["token"]
            .as_str()
            .expect("token")
            .to_string();
        let owner = created["owner_token"].as_str().expect("owner").to_string();
        let (status, _) = call(
            &client,
            "POST",
            &format!("{base}/api/sessions/{id}/join"),
            Some(&seat),
            Some(json!({})),
        );
        assert_eq!(status, 200);
        sessions.push((id, seat, owner));
    }
    // Every seat plays as fast as it can; each acknowledged action's receipt is kept.
    let acked: Arc<Mutex<Vec<(usize, Value)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let players: Vec<_> = sessions
        .iter()
        .enumerate()
        .map(|(k, (id, seat, _))| {
            let (url, seat, acked, stop) = (
                format!("{base}/api/sessions/{id}"),
                seat.clone(),
                Arc::clone(&acked),
                Arc::clone(&stop),
            );
            std::thread::spawn(move || {
                let client = Client::new();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let (status, view) = call(&client, "GET", &url, Some(&seat), None);
                    if status != 200 {
                        return;
                    }
                    if view["pending"]["kind"] == "act" {
                        let (status, body) = call(
                            &client,
                            "POST",
                            &format!("{url}/actions"),
                            Some(&seat),
                            Some(offer(OFFERS[n % 3])),
                        );
                        if status == 200 {
                            acked
                                .lock()
                                .expect("lock")
                                .push((k, body["receipt"].clone()));
                            n += 1;
                        }
                    }
                }
            })
        })
        .collect();
    let started = Instant::now();
    while acked.lock().expect("lock").len() < 60 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the seats are not being answered"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reaped");
    stop.store(true, Ordering::Relaxed);
    for p in players {
        p.join().expect("player");
    }
    let acked = acked.lock().expect("lock").clone();

    // Restart on the same database.
    let mut server = start(&db, port);
    for (k, (id, seat, owner)) in sessions.iter().enumerate() {
        let records = log(&client, &base, id, owner);
        for (_, receipt) in acked.iter().filter(|(s, _)| *s == k) {
            let hash = receipt["hash"]
                .as_str()
                .expect("a receipt names its record");
            let record = records
                .iter()
                .find(|r| r.2 == hash)
                .unwrap_or_else(|| panic!("acknowledged record {hash} of session {k} is lost"));
            assert_eq!(record.1, "input");
        }
        // The session goes on: the seat is asked again, and its next action is taken.
        let url = format!("{base}/api/sessions/{id}");
        let started = Instant::now();
        loop {
            let (status, view) = call(&client, "GET", &url, Some(seat), None);
            assert_eq!(status, 200);
            assert_eq!(view["status"], "running", "{view}");
            assert!(view.get("error").is_none(), "{view}");
            if view["pending"]["kind"] == "act" {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the session did not resume"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let (status, body) = call(
            &client,
            "POST",
            &format!("{url}/actions"),
            Some(seat),
            Some(json!({"type": "walk-away"})),
        );
        assert_eq!(status, 200, "{body}");
        let started = Instant::now();
        loop {
            let (_, view) = call(&client, "GET", &url, Some(owner), None);
            if view["status"] == "ended" {
                assert_eq!(view["result"]["reason"], "walk-away");
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the session did not end"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let after = log(&client, &base, id, owner);
        assert_eq!(
            &after[..records.len()],
            &records[..],
            "the log was only appended to"
        );
    }
    // Ended sessions come back from the log as they ended, events and result, without
    // running the engine again.
    let ended: Vec<Value> = sessions
        .iter()
        .map(|(id, _, owner)| {
            call(
                &client,
                "GET",
                &format!("{base}/api/sessions/{id}"),
                Some(owner),
                None,
            )
            .1
        })
        .collect();
    server.child.kill().expect("stop");
    server.child.wait().expect("reaped");
    let mut server = start(&db, port);
    for ((id, seat, owner), before) in sessions.iter().zip(&ended) {
        let (status, after) = call(
            &client,
            "GET",
            &format!("{base}/api/sessions/{id}"),
            Some(owner),
            None,
        );
        assert_eq!(status, 200);
        assert_eq!(after["status"], "ended");
        assert!(after.get("error").is_none(), "{after}");
        assert_eq!(after["events"], before["events"]);
        assert_eq!(after["result"], before["result"]);
        let (_, seat_view) = call(
            &client,
            "GET",
            &format!("{base}/api/sessions/{id}"),
            Some(seat),
            None,
        );
        assert_eq!(seat_view["result"]["reason"], "walk-away");
        assert!(seat_view["pending"].is_null());
    }
    server.child.kill().expect("stop");
    server.child.wait().expect("reaped");
    let audit = Command::new(env!("CARGO_BIN_EXE_parley"))
        .args(["audit", "--db", db.to_str().expect("utf-8")])
        .output()
        .expect("audit runs");
    let stdout = String::from_utf8_lossy(&audit.stdout);
    assert!(audit.status.success(), "{stdout}");
    assert!(
        stdout.contains("4 sessions: every hash chain, MAC"),
        "{stdout}"
    );
    // A seat proves its action was logged with its receipt; a forged one is refused.
    let (_, receipt) = acked.last().expect("some action was acknowledged");
    let file = dir.path().join("receipt.json");
    std::fs::write(&file, receipt.to_string()).expect("write");
    let check = |file: &Path| {
        Command::new(env!("CARGO_BIN_EXE_parley"))
            .args(["audit", "--db", db.to_str().expect("utf-8"), "--receipt"])
            .arg(file)
            .output()
            .expect("audit runs")
    };
    let genuine = check(&file);
    let stdout = String::from_utf8_lossy(&genuine.stdout);
    assert!(genuine.status.success(), "{stdout}");
    assert!(stdout.contains("receipt OK"), "{stdout}");
    let mut forged = receipt.clone();
    forged["at"] = "2020-01-01T00:00:00.000Z".into();
    std::fs::write(&file, forged.to_string()).expect("write");
    let refused = check(&file);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("MAC does not verify"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

#[test]
fn audit_finds_a_tampered_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let port = free_port();
    let mut server = start(&db, port);
    let client = Client::new();
    let (status, created) = call(
        &client,
        "POST",
        &format!("{}/api/sessions", server.base),
        None,
        Some(json!({
            "scenario": "job-offer", "protocol": "saop", "rounds": 20, "owner_sees": "all",
            "roles": {"candidate": {"agent": "conceder"}, "employer": {"agent": "boulware"}}
        })),
    );
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_string();
    let owner = created["owner_token"].as_str().expect("owner").to_string();
    let started = Instant::now();
    while call(
        &client,
        "GET",
        &format!("{}/api/sessions/{id}", server.base),
        Some(&owner),
        None,
    )
    .1["status"]
        != "ended"
    {
        assert!(started.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(10));
    }
    server.child.kill().expect("stop");
    server.child.wait().expect("reaped");
    let ok = Command::new(env!("CARGO_BIN_EXE_parley"))
        .args(["audit", "--db", db.to_str().expect("utf-8")])
        .output()
        .expect("audit");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    // Change one offer in the log behind the server's back.
    let sqlite = Command::new("python3")
        .args(["-c", &format!(
            "import sqlite3; c=sqlite3.connect({:?}); c.execute(\"UPDATE log SET body=replace(body, 'offer', 'offre') WHERE seq=3\"); c.commit()",
            db.to_str().expect("utf-8")
        )])
        .status()
        .expect("python3 edits the database");
    assert!(sqlite.success());
    let bad = Command::new(env!("CARGO_BIN_EXE_parley"))
        .args(["audit", "--db", db.to_str().expect("utf-8")])
        .output()
        .expect("audit");
    let stdout = String::from_utf8_lossy(&bad.stdout);
    assert!(!bad.status.success());
    assert!(
        stdout.contains("record 3") && stdout.contains("was changed"),
        "{stdout}"
    );
}

#[test]
fn serve_prints_the_lobby_address_with_a_fresh_creator_token() {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("t.db");
    let port = free_port();
    let mut child = spawn(&db, port, None, Stdio::piped());
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("a line");
    let token = line
        .split("#create=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no lobby address with a creator token in {line:?}"));
    assert!(token.len() >= 40, "a long random token: {token}");
    let client = Client::new();
    let url = format!("http://127.0.0.1:{port}/api/sessions");
    let request = json!({"scenario": "job-offer", "protocol": "saop", "rounds": 5,
        "roles": {"candidate": {"agent": "conceder"}, "employer": {"agent": "boulware"}}});
    let without = client.post(&url).json(&request).send().expect("answer");
    assert_eq!(without.status().as_u16(), 401);
    let with = client
        .post(&url)
        .bearer_auth(token)
        .json(&request)
        .send()
        .expect("answer");
    assert_eq!(with.status().as_u16(), 201);
    // The key was made next to the database, readable by its owner only.
    let key = dir.path().join("t.db.key");
    let mode = std::fs::metadata(&key).expect("a key file").permissions();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.mode() & 0o777, 0o600);
    }
    let _ = mode;
    child.kill().expect("stop");
    child.wait().expect("reaped");
}

/// One server per database: a second `parley serve` on the same database exits at
/// once with a message saying why, and the first goes on serving.
#[test]
fn a_second_server_on_the_same_database_refuses_to_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("talks.db");
    let mut first = start(&db, free_port());
    let output = Command::new(env!("CARGO_BIN_EXE_parley"))
        .args([
            "serve",
            "--db",
            db.to_str().expect("utf-8"),
            "--addr",
            &format!("127.0.0.1:{}", free_port()),
        ])
        .env("PARLEY_CREATE_TOKEN", CREATOR)
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("another parley server is using this database"),
        "{stderr}"
    );
    let client = Client::new();
    let health = client
        .get(format!("{}/healthz", first.base))
        .send()
        .expect("the first server still answers");
    assert!(health.status().is_success());
    first.child.kill().expect("stop");
    let _ = first.child.wait();
}
