//! Tampering behind the server's back, one case at a time: each is found by the audit
//! (`parley_server::audit`, what `parley audit` runs) and, where it applies, the server
//! refuses to serve the session when it starts.

use serde_json::{json, Value};

use crate::common::{options, pool, start, Created, Server};

/// A server with one session that ended (agents only), or that runs (a seat waits).
async fn fixture(running: bool) -> (Server, Created) {
    let server = start().await;
    let roles = if running {
        json!({"candidate": {"seat": "program"}, "employer": {"agent": "boulware"}})
    } else {
        json!({"candidate": {"agent": "conceder"}, "employer": {"agent": "boulware"}})
    };
    let created = server
        .create(json!({"scenario": "job-offer", "protocol": "saop", "rounds": 10, "roles": roles}))
        .await;
    let path = format!("/api/sessions/{}", created.id());
    if running {
        let seat = created.seat("candidate");
        let r = server
            .call("POST", &format!("{path}/join"), Some(seat), None)
            .await;
        assert!(r.status.is_success(), "{}", r.body);
        server.wait_asked(&path, seat).await;
    } else {
        ended(&server, &created).await;
    }
    (server, created)
}

/// Waits until a session of agents only has ended.
async fn ended(server: &Server, created: &Created) {
    for _ in 0..2000 {
        if server.owner_view(created).await["status"] == "ended" {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("the session did not end");
}

/// The audit's problems for `id` (and that it found none before the tampering).
async fn problems(server: &Server, id: &str) -> Vec<String> {
    let report = parley_server::audit(&server.url, None, None)
        .await
        .expect("the audit runs");
    report
        .problems
        .into_iter()
        .filter(|(s, _)| s == id)
        .map(|(_, p)| p)
        .collect()
}

/// Whether a server starting on this database serves the session.
async fn served(server: &Server, id: &str) -> bool {
    let app = parley_server::App::open(&options(&server.url))
        .await
        .expect("the server starts");
    app.load(id).await.expect("loads").is_some()
}

async fn clean(server: &Server, id: &str) {
    assert_eq!(problems(server, id).await, Vec::<String>::new());
    assert!(served(server, id).await);
}

/// Re-chains a session's log from record `from` on, as someone who can write the
/// database but does not have the server's key would: every hash follows, the MACs
/// cannot.
async fn rechain(server: &Server, id: &str, from: i64) {
    let store = parley_server::Store::connect(&server.url)
        .await
        .expect("store");
    let log = store.log(id).await.expect("log");
    let db = pool(&server.url).await;
    let mut prev = if from == 0 {
        parley_server::store::GENESIS.to_string()
    } else {
        log[from as usize - 1].hash.clone()
    };
    for r in &log[from as usize..] {
        let hash = parley_server::store::chain_hash(2, &prev, r.seq, &r.kind, &r.body, &r.at);
        sqlx::query("UPDATE log SET prev_hash = $1, hash = $2 WHERE session_id = $3 AND seq = $4")
            .bind(&prev)
            .bind(&hash)
            .bind(id)
            .bind(r.seq)
            .execute(&db)
            .await
            .expect("update");
        prev = hash;
    }
}

async fn exec(server: &Server, sql: &str, id: &str) {
    let db = pool(&server.url).await;
    sqlx::query(sql)
        .bind(id)
        .execute(&db)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Runs `sql` with `$1` bound to `value` and `$2` to the session id.
async fn set(server: &Server, sql: &str, value: &str, id: &str) {
    let db = pool(&server.url).await;
    sqlx::query(sql)
        .bind(value)
        .bind(id)
        .execute(&db)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// The text `sql` selects for the session id (`$1`).
async fn text(server: &Server, sql: &str, id: &str) -> String {
    let db = pool(&server.url).await;
    sqlx::query_scalar(sql)
        .bind(id)
        .fetch_one(&db)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn has(found: &[String], what: &str) -> bool {
    found.iter().any(|p| p.contains(what))
}

/// The anchor file of a test server's SQLite database.
fn anchors_file(server: &Server) -> String {
    let db_file = server.url.trim_start_matches("sqlite://");
    format!("{}.anchors", db_file.split('?').next().expect("file"))
}

/// Runs `sql` (each statement bound to the session id) against a clean session, then
/// checks that the audit names `expected` and, with `refused`, that a server starting
/// on the database does not serve the session.
async fn tampered(running: bool, sql: &[&str], expected: &str, refused: bool) {
    let (server, created) = fixture(running).await;
    let id = created.id();
    clean(&server, id).await;
    for statement in sql {
        exec(&server, statement, id).await;
    }
    let found = problems(&server, id).await;
    assert!(has(&found, expected), "{expected:?} not in {found:?}");
    if refused {
        assert!(!served(&server, id).await, "a tampered session was served");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncating_the_log_is_found() {
    tampered(
        false,
        &[
            "DELETE FROM log WHERE session_id = $1 AND seq >= (SELECT MAX(seq) - 2 FROM log WHERE session_id = $1)",
            // The status would give the missing `ended` record away too; make it agree.
            "UPDATE sessions SET status = 'running' WHERE id = $1",
        ],
        "truncated",
        true,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_and_rechained_log_is_found() {
    let (server, created) = fixture(false).await;
    let id = created.id();
    clean(&server, id).await;
    exec(
        &server,
        "UPDATE log SET body = replace(body, '\"round\":', '\"round\": ') WHERE session_id = $1 AND seq = 4",
        id,
    )
    .await;
    rechain(&server, id, 4).await;
    let found = problems(&server, id).await;
    assert!(has(&found, "not sealed by this server's key"), "{found:?}");
    assert!(!served(&server, id).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_reservation_with_its_config_hash_is_found() {
    let (server, created) = fixture(false).await;
    let id = created.id();
    clean(&server, id).await;
    let config = text(&server, "SELECT config FROM sessions WHERE id = $1", id).await;
    let mut spec: Value = serde_json::from_str(&config).expect("json");
    let mut scenario: Value =
        serde_json::from_str(spec["scenario"].as_str().expect("scenario")).expect("json");
    scenario["parties"][0]["reservation"] = json!(0.05);
    spec["scenario"] = scenario.to_string().into();
    let forged = spec.to_string();
    use sha2::Digest as _;
    let pinned = parley_server::store::hex(&sha2::Sha256::digest(forged.as_bytes()));
    set(
        &server,
        "UPDATE sessions SET config = $1 WHERE id = $2",
        &forged,
        id,
    )
    .await;
    // First the configuration alone: it no longer matches its pinned hash.
    let found = problems(&server, id).await;
    assert!(has(&found, "does not match the hash pinned"), "{found:?}");
    assert!(!served(&server, id).await);
    // Then the pinned hash too, and the chain recomputed: the MACs give it away.
    let first = text(
        &server,
        "SELECT body FROM log WHERE session_id = $1 AND seq = 0",
        id,
    )
    .await;
    let mut first: Value = serde_json::from_str(&first).expect("json");
    first["config_sha256"] = pinned.into();
    set(
        &server,
        "UPDATE log SET body = $1 WHERE session_id = $2 AND seq = 0",
        &first.to_string(),
        id,
    )
    .await;
    rechain(&server, id, 0).await;
    let found = problems(&server, id).await;
    assert!(!has(&found, "does not match the hash pinned"), "{found:?}");
    assert!(has(&found, "record 0 (created) is not sealed"), "{found:?}");
    assert!(!served(&server, id).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planted_owner_token_is_found_and_never_works() {
    let (server, created) = fixture(false).await;
    let id = created.id();
    clean(&server, id).await;
    let token = "a-token-the-attacker-knows";
    use sha2::Digest as _;
    let hash = parley_server::store::hex(&sha2::Sha256::digest(token.as_bytes()));
    let db = pool(&server.url).await;
    sqlx::query("INSERT INTO tokens (hash, session_id, role, expires_at) VALUES ($1, $2, 'owner', 99999999999)")
        .bind(&hash)
        .bind(id)
        .execute(&db)
        .await
        .expect("insert");
    let found = problems(&server, id).await;
    assert!(has(&found, "planted or altered"), "{found:?}");
    assert!(!served(&server, id).await);
    // Tokens of a session that does not exist are found too.
    sqlx::query("INSERT INTO tokens (hash, session_id, role, expires_at) VALUES ('00', 's_nowhere', 'owner', 1)")
        .execute(&db)
        .await
        .expect("insert");
    let report = parley_server::audit(&server.url, None, None)
        .await
        .expect("audit");
    assert!(report
        .problems
        .iter()
        .any(|(s, p)| s == "s_nowhere" && p.contains("planted")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extended_token_expiry_is_found() {
    tampered(
        false,
        &["UPDATE tokens SET expires_at = expires_at + 31536000 WHERE session_id = $1 AND role = 'owner'"],
        "(owner, expiring",
        true,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_session_is_found() {
    tampered(
        false,
        &[
            "DELETE FROM log WHERE session_id = $1",
            "DELETE FROM tokens WHERE session_id = $1",
            "DELETE FROM sessions WHERE id = $1",
        ],
        "deleted",
        false,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_status_is_found() {
    tampered(
        true,
        &["UPDATE sessions SET status = 'ended' WHERE id = $1"],
        "status is \"ended\" but its log says \"running\"",
        true,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_timestamp_is_found() {
    tampered(
        false,
        &["UPDATE log SET at = '2020-01-01T00:00:00.000Z' WHERE session_id = $1 AND seq = 2"],
        "record 2 (event) was changed",
        true,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripped_macs_and_forged_anchors_are_found() {
    // Without its MACs, a sealed log does not pass for one written before sealing.
    tampered(
        false,
        &["UPDATE log SET mac = NULL WHERE session_id = $1"],
        "has no MAC",
        true,
    )
    .await;
    // An anchor line written without the key is reported.
    let (server, created) = fixture(false).await;
    let anchors = anchors_file(&server);
    let mut text = std::fs::read_to_string(&anchors).expect("anchors");
    let last: Value = serde_json::from_str(text.lines().last().expect("a line")).expect("json");
    let n = last["n"].as_u64().expect("n");
    text.push_str(&format!(
        "{}\n",
        json!({"n": n + 1, "prev": last["mac"], "session": created.id(), "seq": 0, "head": "00", "mac": "00"})
    ));
    std::fs::write(&anchors, &text).expect("write");
    let anchor_problems = |report: parley_server::AuditReport| -> Vec<String> {
        report
            .problems
            .into_iter()
            .filter(|(s, _)| s == "(anchors)")
            .map(|(_, p)| p)
            .collect()
    };
    let report = parley_server::audit(&server.url, None, None)
        .await
        .expect("audit");
    let found = anchor_problems(report);
    assert!(has(&found, "does not verify"), "{found:?}");
    // The server keeps a forged anchor file as it is (evidence), not compacted away.
    assert!(served(&server, created.id()).await);
    assert_eq!(std::fs::read_to_string(&anchors).expect("anchors"), text);
}

/// Anchor lines are chained: removing one from the middle (to hide a session, or an
/// older head) is found, and the server does not compact the evidence away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_anchor_line_is_found() {
    let (server, _first) = fixture(false).await;
    let second = server
        .create(
            json!({"scenario": "job-offer", "protocol": "saop", "rounds": 10,
            "roles": {"candidate": {"agent": "conceder"}, "employer": {"agent": "boulware"}}}),
        )
        .await;
    ended(&server, &second).await;
    let anchors = anchors_file(&server);
    // The last commit's anchor line is written just after the view says "ended".
    let mut text = String::new();
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let now = std::fs::read_to_string(&anchors).expect("anchors");
        if now == text {
            break;
        }
        text = now;
    }
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 3, "{text}");
    let without = |cut: usize| -> String {
        lines
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != cut)
            .map(|(_, l)| format!("{l}\n"))
            .collect()
    };
    let anchor_problems = || async {
        parley_server::audit(&server.url, None, None)
            .await
            .expect("audit")
            .problems
            .into_iter()
            .filter(|(s, _)| s == "(anchors)")
            .map(|(_, p)| p)
            .collect::<Vec<String>>()
    };
    // The first line.
    std::fs::write(&anchors, without(0)).expect("write");
    let found = anchor_problems().await;
    assert!(has(&found, "the first lines were removed"), "{found:?}");
    // A line in the middle.
    let cut = without(1);
    std::fs::write(&anchors, &cut).expect("write");
    let found = anchor_problems().await;
    assert!(has(&found, "does not follow"), "{found:?}");
    parley_server::App::open(&options(&server.url))
        .await
        .expect("the server starts");
    assert_eq!(std::fs::read_to_string(&anchors).expect("anchors"), cut);
}

/// A session stored by a parley from before sealing (chain 1: no timestamps in the
/// hash, no MACs, no token list, no key and no anchors) is sealed by the first start
/// that makes the server's key, and served; from then on its MACs and anchor guard it
/// like any other (stripping its MACs again, or cutting its log, is found).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_from_before_sealing_is_sealed_on_the_first_start() {
    let (server, created) = fixture(true).await;
    let id = created.id();
    clean(&server, id).await;
    // Rewrite it as the earlier parley wrote it.
    let store = parley_server::Store::connect(&server.url)
        .await
        .expect("store");
    let log = store.log(id).await.expect("log");
    let db = pool(&server.url).await;
    let mut prev = parley_server::store::GENESIS.to_string();
    for r in &log {
        let mut body = r.body.clone();
        if r.seq == 0 {
            let mut first: Value = serde_json::from_str(&body).expect("json");
            let obj = first.as_object_mut().expect("object");
            obj.remove("chain");
            obj.remove("tokens");
            obj.remove("owner_sees");
            body = first.to_string();
        }
        let hash = parley_server::store::chain_hash(1, &prev, r.seq, &r.kind, &body, &r.at);
        sqlx::query(
            "UPDATE log SET body = $1, prev_hash = $2, hash = $3, mac = NULL WHERE session_id = $4 AND seq = $5",
        )
        .bind(&body)
        .bind(&prev)
        .bind(&hash)
        .bind(id)
        .bind(r.seq)
        .execute(&db)
        .await
        .expect("update");
        prev = hash;
    }
    // The earlier parley kept no key and no anchors.
    let anchors = anchors_file(&server);
    let key = anchors.replace(".anchors", ".key");
    std::fs::remove_file(&anchors).expect("remove the anchors");
    std::fs::remove_file(&key).expect("remove the key");
    // The first start makes the key and seals the log; the next one serves it too.
    assert!(served(&server, id).await);
    assert!(served(&server, id).await);
    let report = parley_server::audit(&server.url, None, None)
        .await
        .expect("audit");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert!(
        report
            .warnings
            .iter()
            .any(|(s, w)| s == id && w.contains("before tokens were logged")),
        "{:?}",
        report.warnings
    );
    // Stripped of its MACs once a key exists, it is refused, not sealed again.
    let macs: Vec<(i64, Option<String>)> =
        sqlx::query_as("SELECT seq, mac FROM log WHERE session_id = $1")
            .bind(id)
            .fetch_all(&db)
            .await
            .expect("macs");
    exec(
        &server,
        "UPDATE log SET mac = NULL WHERE session_id = $1",
        id,
    )
    .await;
    assert!(has(&problems(&server, id).await, "has no MAC"));
    assert!(!served(&server, id).await);
    for (seq, mac) in macs {
        sqlx::query("UPDATE log SET mac = $1 WHERE session_id = $2 AND seq = $3")
            .bind(mac)
            .bind(id)
            .bind(seq)
            .execute(&db)
            .await
            .expect("restore");
    }
    assert!(problems(&server, id).await.is_empty());
    // Its anchor guards it.
    exec(
        &server,
        "DELETE FROM log WHERE session_id = $1 AND seq = (SELECT MAX(seq) FROM log WHERE session_id = $1)",
        id,
    )
    .await;
    let found = problems(&server, id).await;
    assert!(has(&found, "truncated"), "{found:?}");
}
