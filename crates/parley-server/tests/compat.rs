//! A database written by the previous release is served by this one, and upgraded:
//! its schema migrated, its anchor file rewritten in the current (chained) form, its
//! sessions — ended and running — served as they were.

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use sqlx::any::AnyPoolOptions;

use crate::common::start_on;

/// HMAC-SHA256 as the server computes its MACs: the domain, then each part,
/// length-prefixed.
fn mac(key: &[u8], domain: &str, parts: &[&[u8]]) -> String {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("a key");
    for part in std::iter::once(domain.as_bytes()).chain(parts.iter().copied()) {
        m.update(&(part.len() as u64).to_be_bytes());
        m.update(part);
    }
    m.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_from_the_previous_release_is_served_and_upgraded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("t.db");
    let url = parley_server::database_url(&file.display().to_string());
    let server = start_on(&url, None).await;
    // An ended session (agents only), and a running one whose seat has acted.
    let ended = server
        .create(
            json!({"scenario": "job-offer", "protocol": "saop", "rounds": 10,
            "roles": {"candidate": {"agent": "conceder"}, "employer": {"agent": "boulware"}}}),
        )
        .await;
    let running = server
        .create(
            json!({"scenario": "job-offer", "protocol": "saop", "rounds": 30,
            "roles": {"candidate": {"seat": "program"}, "employer": {"agent": "boulware"}}}),
        )
        .await;
    let path = format!("/api/sessions/{}", running.id());
    let seat = running.seat("candidate");
    let r = server
        .call("POST", &format!("{path}/join"), Some(seat), None)
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    let view = server.wait_asked(&path, seat).await;
    let offer = json!({"type": "offer", "outcome": view["scenario"]["issues"]
        .as_array().expect("issues").iter()
        .map(|i| (i["name"].as_str().expect("name").to_string(), i["values"][0].clone()))
        .collect::<serde_json::Map<String, Value>>()});
    let r = server
        .call(
            "POST",
            &format!("{path}/actions"),
            Some(seat),
            Some(offer.clone()),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    for _ in 0..2000 {
        if server.owner_view(&ended).await["status"] == "ended" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let asked = server.wait_asked(&path, seat).await;
    let events_before = asked["events"].as_array().map_or(0, Vec::len);
    let ended_before = server.owner_view(&ended).await;
    assert_eq!(ended_before["status"], "ended");

    // Make it what the previous release left: schema version 2 (no probe table) and
    // unchained anchor lines sealed with the first anchor MAC.
    sqlx::any::install_default_drivers();
    let db = AnyPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .expect("db");
    for statement in [
        "DROP TABLE parley_probe",
        "DELETE FROM parley_schema WHERE version > 2",
    ] {
        sqlx::query(statement).execute(&db).await.expect(statement);
    }
    let key_hex = std::fs::read_to_string(dir.path().join("t.db.key")).expect("key");
    let key: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&key_hex.trim()[2 * i..2 * i + 2], 16).expect("hex"))
        .collect();
    let store = parley_server::Store::connect(&url).await.expect("store");
    let mut lines = String::new();
    for id in [ended.id(), running.id()] {
        let log = store.log(id).await.expect("log");
        let last = log.last().expect("a record");
        let line = json!({
            "session": id,
            "seq": last.seq,
            "head": last.hash,
            "mac": mac(&key, "parley-anchor-v1", &[id.as_bytes(), &last.seq.to_be_bytes(), last.hash.as_bytes()]),
        });
        lines.push_str(&format!("{line}\n"));
    }
    let anchors = dir.path().join("t.db.anchors");
    std::fs::write(&anchors, lines).expect("anchors");

    // This release starts on it: both sessions served as they were.
    let upgraded = start_on(&url, Some(dir)).await;
    let report = parley_server::audit(&url, None, None).await.expect("audit");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let ended_after = upgraded.owner_view(&ended).await;
    assert_eq!(ended_after["result"], ended_before["result"]);
    assert_eq!(ended_after["events"], ended_before["events"]);
    let view = upgraded.wait_asked(&path, seat).await;
    assert_eq!(view["events"].as_array().map_or(0, Vec::len), events_before);
    let r = upgraded
        .call("POST", &format!("{path}/actions"), Some(seat), Some(offer))
        .await;
    assert!(
        r.status.is_success(),
        "the running session goes on: {}",
        r.body
    );
    // Upgraded in place: the probe table is back, the anchor file is chained.
    let version: i64 = sqlx::query_scalar("SELECT MAX(version) FROM parley_schema")
        .fetch_one(&db)
        .await
        .expect("version");
    assert_eq!(version, 3);
    let text = std::fs::read_to_string(&anchors).expect("anchors");
    assert!(text.lines().all(|l| l.contains("\"n\":")), "{text}");
}
