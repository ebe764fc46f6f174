//! Agenda sessions: a scenario without the parties' preferences; each seat sets its
//! own, privately, and the talks start when all have.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{start, start_on, Player, Server};

/// A lease: two issues, two parties, no preferences.
fn agenda() -> Value {
    json!({
        "name": "shop lease",
        "description": "A bakery leases a shop.",
        "issues": [
            {"name": "rent", "values": ["900", "1100", "1300"]},
            {"name": "term", "values": ["1 year", "3 years", "5 years"]},
            {"name": "repairs", "values": ["tenant", "landlord"]}
        ],
        "parties": [
            {"name": "tenant", "briefing": "You bake; you need the shop for years."},
            {"name": "landlord", "briefing": "You own the block."}
        ]
    })
}

/// Preferences with weights no scenario file in this test uses elsewhere: if any view
/// but the party's own carries one of them, it leaked.
fn tenant_preferences() -> Value {
    json!({
        "reservation": 0.3,
        "red_lines": [{"issue": "rent", "never": ["1300"]}],
        "utility": {"issues": [
            {"issue": "rent", "weight": 0.4172, "values": {"900": 1, "1100": 0.5, "1300": 0}},
            {"issue": "term", "weight": 0.3391, "values": {"1 year": 0, "3 years": 0.6, "5 years": 1}},
            {"issue": "repairs", "weight": 0.2437, "values": {"tenant": 0, "landlord": 1}}
        ]}
    })
}

fn landlord_preferences() -> Value {
    json!({
        "reservation": 0.25,
        "utility": {"issues": [
            {"issue": "rent", "weight": 0.5813, "values": {"900": 0, "1100": 0.7, "1300": 1}},
            {"issue": "term", "weight": 0.2519, "values": {"1 year": 0.2, "3 years": 1, "5 years": 0.8}},
            {"issue": "repairs", "weight": 0.1668, "values": {"tenant": 1, "landlord": 0}}
        ]}
    })
}

const TENANT_MARKS: [&str; 3] = ["0.4172", "0.3391", "0.2437"];
const LANDLORD_MARKS: [&str; 3] = ["0.5813", "0.2519", "0.1668"];

async fn create(server: &Server, protocol: &str) -> crate::common::Created {
    let mut roles = json!({"tenant": {"seat": "person"}, "landlord": {"seat": "program"}});
    if protocol != "saop" {
        roles["mediator"] = json!({"agent": "hill-climber"});
    }
    server
        .create_as_is(json!({
            "scenario": {"upload": agenda()}, "protocol": protocol, "rounds": 30,
            "roles": roles
        }))
        .await
}

/// The same preferences (numbers compared as numbers, maps as maps).
fn same(a: &Value, b: &Value) -> bool {
    let read = |v: &Value| {
        serde_json::from_value::<parley_formats::native::Preferences>(v.clone())
            .expect("preferences")
    };
    read(a) == read(b)
}

fn leaks(body: &Value, marks: &[&str]) -> Option<String> {
    let text = body.to_string();
    marks
        .iter()
        .find(|m| text.contains(*m))
        .map(|m| m.to_string())
}

#[tokio::test]
async fn each_seat_sets_its_own_preferences_and_nobody_else_sees_them() {
    let server = Arc::new(start().await);
    let created = create(&server, "single-text").await;
    let id = created.id();
    let path = format!("/api/sessions/{id}");
    let tenant = created.seat("tenant");
    let landlord = created.seat("landlord");
    for token in [tenant, landlord] {
        let r = server
            .call(
                "POST",
                &format!("{path}/join"),
                Some(token),
                Some(json!({})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    // Joined, but no preferences: the talks wait, and the room says why.
    let view = server.call("GET", &path, Some(tenant), None).await.body;
    assert_eq!(view["status"], "waiting");
    assert_eq!(view["role"]["sets_own_preferences"], true);
    assert_eq!(view["role"]["preferences_set"], false);
    assert_eq!(
        view["role"]["briefing"],
        "You bake; you need the shop for years."
    );
    assert!(view["role"].get("reservation").is_none(), "{view}");
    let r = server
        .call("GET", &format!("{path}/preferences"), Some(tenant), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["preferences"], Value::Null);
    assert_eq!(r.body["sets_own"], true);
    let r = server
        .call(
            "POST",
            &format!("{path}/evaluate"),
            Some(tenant),
            Some(json!({"outcome": {"rent": "900", "term": "1 year", "repairs": "tenant"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);

    // The tenant sets its preferences; it reads them back, the landlord does not.
    let r = server
        .call(
            "PUT",
            &format!("{path}/preferences"),
            Some(tenant),
            Some(tenant_preferences()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "waiting");
    assert_eq!(r.body["receipt"]["kind"], "preferences", "{}", r.body);
    let mine = server
        .call("GET", &format!("{path}/preferences"), Some(tenant), None)
        .await;
    assert!(
        same(&mine.body["preferences"], &tenant_preferences()),
        "{}",
        mine.body
    );
    assert_eq!(mine.body["preferences"]["reservation"], 0.3);
    let theirs = server
        .call("GET", &format!("{path}/preferences"), Some(landlord), None)
        .await;
    assert_eq!(theirs.body["preferences"], Value::Null, "{}", theirs.body);
    let owner = server
        .call(
            "GET",
            &format!("{path}/preferences"),
            Some(created.owner()),
            None,
        )
        .await;
    assert_eq!(owner.status, StatusCode::FORBIDDEN, "{}", owner.body);
    let view = server.call("GET", &path, Some(tenant), None).await.body;
    assert_eq!(view["role"]["preferences_set"], true);
    assert_eq!(view["role"]["reservation"], 0.3);
    // Who has set preferences is public (it is why the talks wait); what is not.
    let landlord_view = server.call("GET", &path, Some(landlord), None).await.body;
    let roles = landlord_view["roles"].as_array().expect("roles");
    assert_eq!(roles[0]["preferences_set"], true);
    assert_eq!(roles[1]["preferences_set"], false);
    assert_eq!(
        leaks(&landlord_view, &TENANT_MARKS),
        None,
        "{landlord_view}"
    );
    // The tenant may change its mind before the talks start.
    let mut changed = tenant_preferences();
    changed["reservation"] = json!(0.35);
    let r = server
        .call(
            "PUT",
            &format!("{path}/preferences"),
            Some(tenant),
            Some(changed),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // The landlord's preferences complete the scenario: the talks start.
    let r = server
        .call(
            "PUT",
            &format!("{path}/preferences"),
            Some(landlord),
            Some(landlord_preferences()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "running");
    // Fixed from now on.
    let r = server
        .call(
            "PUT",
            &format!("{path}/preferences"),
            Some(tenant),
            Some(tenant_preferences()),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(
        r.body["error"].as_str().unwrap_or("").contains("fixed"),
        "{}",
        r.body
    );

    // Both seats play to the end, each from its own utility function.
    let t = Player::new(Arc::clone(&server), id, tenant, 0.5).await;
    assert_eq!(t.red_lines.get("rent"), Some(&vec!["1300".to_string()]));
    let l = Player::new(Arc::clone(&server), id, landlord, 0.5).await;
    let (a, b) = tokio::join!(t.play(), l.play());
    assert_eq!(a["status"], "ended", "{a}");
    let result = &a["result"];
    assert!(result["agreement"].is_object(), "{a}");
    let my = result["my_utility"].as_f64().expect("my utility");
    assert!(my >= 0.35, "the tenant ended below its reservation: {my}");
    assert_ne!(result["agreement"]["rent"], "1300", "across its red line");
    assert!(b["result"]["my_utility"].as_f64().expect("utility") >= 0.25);

    // Nobody else's view, at any point to the end, carried another's preferences.
    let owner = server
        .call("GET", &path, Some(created.owner()), None)
        .await
        .body;
    assert_eq!(leaks(&owner, &TENANT_MARKS), None, "{owner}");
    assert_eq!(leaks(&owner, &LANDLORD_MARKS), None, "{owner}");
    assert!(owner.get("analysis").is_none(), "{owner}");
    let landlord_view = server.call("GET", &path, Some(landlord), None).await.body;
    assert_eq!(leaks(&landlord_view, &TENANT_MARKS), None);
    let mediator = server.call("GET", &path, Some(tenant), None).await.body;
    assert_eq!(leaks(&mediator, &LANDLORD_MARKS), None);
    let trace = server.trace(&created).await;
    assert_eq!(trace.status, StatusCode::FORBIDDEN, "{}", trace.body);
}

#[tokio::test]
async fn agenda_mistakes_are_named() {
    let server = start().await;
    // A party without preferences cannot be an agent: nobody would set them.
    let r = server
        .call(
            "POST",
            "/api/sessions",
            Some(crate::common::CREATOR),
            Some(json!({
                "scenario": {"upload": agenda()}, "protocol": "saop", "rounds": 10,
                "roles": {"tenant": {"agent": "boulware"}, "landlord": {"seat": "person"}}
            })),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(
        r.body["error"]
            .as_str()
            .unwrap_or("")
            .contains("roles.tenant.agent"),
        "{}",
        r.body
    );
    // The owner cannot be shown what the parties keep to themselves.
    let r = server
        .call(
            "POST",
            "/api/sessions",
            Some(crate::common::CREATOR),
            Some(json!({
                "scenario": {"upload": agenda()}, "protocol": "saop", "rounds": 10,
                "owner_sees": "all",
                "roles": {"tenant": {"seat": "person"}, "landlord": {"seat": "person"}}
            })),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(
        r.body["error"]
            .as_str()
            .unwrap_or("")
            .contains("owner_sees"),
        "{}",
        r.body
    );

    let created = create(&server, "saop").await;
    let path = format!("/api/sessions/{}/preferences", created.id());
    let tenant = created.seat("tenant");
    let cases = [
        (
            json!({"utility": {"issues": [{"issue": "deposit", "weight": 1}]}}),
            "deposit",
        ),
        (
            json!({"utility": {"issues": [{"issue": "rent", "weight": 1, "values": {"2000": 1}}]}}),
            "2000",
        ),
        (
            json!({"reservation": 2, "utility": {"issues": []}}),
            "reservation",
        ),
        (json!({"reservation": 0.2}), "utility"),
        (json!({"utility": {"issues": []}, "name": "x"}), "name"),
        (
            json!({"red_lines": [{"issue": "rent", "never": ["900", "1100", "1300"]}],
                "utility": {"issues": []}}),
            "rent",
        ),
    ];
    for (body, what) in cases {
        let r = server
            .call("PUT", &path, Some(tenant), Some(body.clone()))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.body);
        let error = r.body["error"].as_str().unwrap_or("");
        assert!(error.contains(what), "{body}: {error}");
    }
    // Nothing was stored: the tenant's preferences are still unset.
    let r = server.call("GET", &path, Some(tenant), None).await;
    assert_eq!(r.body["preferences"], Value::Null);
    // Only a party's seat sets preferences.
    let r = server
        .call(
            "PUT",
            &path,
            Some(created.owner()),
            Some(tenant_preferences()),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);

    // In a scenario with every party's preferences, nobody sets their own.
    let full = server
        .create(json!({
            "scenario": "job-offer", "protocol": "saop", "rounds": 10,
            "roles": {"candidate": {"seat": "person"}, "employer": {"agent": "boulware"}}
        }))
        .await;
    let r = server
        .call(
            "PUT",
            &format!("/api/sessions/{}/preferences", full.id()),
            Some(full.seat("candidate")),
            Some(tenant_preferences()),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(
        r.body["error"]
            .as_str()
            .unwrap_or("")
            .contains("scenario's"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn preferences_set_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = parley_server::database_url(&dir.path().join("t.db").display().to_string());
    let server = start_on(&url, None).await;
    let created = create(&server, "saop").await;
    let path = format!("/api/sessions/{}", created.id());
    let r = server
        .call(
            "PUT",
            &format!("{path}/preferences"),
            Some(created.seat("tenant")),
            Some(tenant_preferences()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    drop(server);
    // A second server on the same database reads the session back from its log.
    let again = start_on(&url, Some(dir)).await;
    let r = again
        .call(
            "GET",
            &format!("{path}/preferences"),
            Some(created.seat("tenant")),
            None,
        )
        .await;
    assert!(
        same(&r.body["preferences"], &tenant_preferences()),
        "{}",
        r.body
    );
    let r = again
        .call(
            "PUT",
            &format!("{path}/preferences"),
            Some(created.seat("landlord")),
            Some(landlord_preferences()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    for role in ["tenant", "landlord"] {
        let r = again
            .call(
                "POST",
                &format!("{path}/join"),
                Some(created.seat(role)),
                Some(json!({})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let view = again
        .call("GET", &path, Some(created.seat("tenant")), None)
        .await
        .body;
    assert_eq!(view["status"], "running", "{view}");
    let r = again
        .call(
            "POST",
            &format!("{path}/evaluate"),
            Some(created.seat("tenant")),
            Some(json!({"outcome": {"rent": "900", "term": "5 years", "repairs": "landlord"}})),
        )
        .await;
    assert!(
        (r.body["utility"].as_f64().expect("utility") - 1.0).abs() < 1e-9,
        "{}",
        r.body
    );
}
