//! `docs/openapi.json` against real answers: every answer the server gives in a
//! session's life (bundled and agenda sessions, every role, errors) is checked against
//! the schema the document gives for its path, method and status — types, required
//! fields, and no field the document does not describe.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{start, Reply, Server, CREATOR};

fn doc() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/openapi.json"
    ))
    .expect("docs/openapi.json");
    serde_json::from_str(&text).expect("openapi.json is JSON")
}

fn resolve<'a>(doc: &'a Value, reference: &str) -> &'a Value {
    let path = reference.strip_prefix("#/").expect("a local $ref");
    path.split('/').fold(doc, |v, k| &v[k])
}

fn type_matches(v: &Value, t: &str) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "string" => v.is_string(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|x| x.fract() == 0.0),
        _ => false,
    }
}

/// Checks `v` against `schema` (the JSON Schema subset the document uses), noting
/// every mismatch with where it is.
fn check(v: &Value, schema: &Value, doc: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        check(v, resolve(doc, r), doc, at, errors);
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(branches) = schema.get(key).and_then(Value::as_array) {
            let mut first = None;
            let fits = branches.iter().any(|b| {
                let mut e = Vec::new();
                check(v, b, doc, at, &mut e);
                if first.is_none() {
                    first = Some(e.clone());
                }
                e.is_empty()
            });
            if !fits {
                errors.push(format!(
                    "{at}: fits none of the {key} branches (the first says: {:?})",
                    first.unwrap_or_default()
                ));
            }
        }
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for b in all {
            check(v, b, doc, at, errors);
        }
    }
    if let Some(c) = schema.get("const") {
        if v != c {
            errors.push(format!("{at}: {v} is not {c}"));
        }
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        if !values.contains(v) {
            errors.push(format!("{at}: {v} is none of {values:?}"));
        }
    }
    match schema.get("type") {
        Some(Value::String(t)) if !type_matches(v, t) => {
            errors.push(format!("{at}: {v} is not of type {t}"));
            return;
        }
        Some(Value::Array(ts)) if !ts.iter().any(|t| type_matches(v, t.as_str().unwrap_or(""))) => {
            errors.push(format!("{at}: {v} is none of the types {ts:?}"));
            return;
        }
        _ => {}
    }
    if let (Some(object), Some(props)) = (
        v.as_object(),
        schema.get("properties").and_then(Value::as_object),
    ) {
        for name in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = name.as_str().unwrap_or("");
            if !object.contains_key(name) {
                errors.push(format!("{at}: required field {name:?} is missing"));
            }
        }
        for (k, value) in object {
            match (props.get(k), schema.get("additionalProperties")) {
                (Some(s), _) => check(value, s, doc, &format!("{at}.{k}"), errors),
                (None, Some(extra)) if extra.is_object() => {
                    check(value, extra, doc, &format!("{at}.{k}"), errors)
                }
                (None, Some(Value::Bool(true))) => {}
                (None, _) => errors.push(format!("{at}: field {k:?} is not in the document")),
            }
        }
    } else if let (Some(object), Some(extra)) = (
        v.as_object(),
        schema.get("additionalProperties").filter(|e| e.is_object()),
    ) {
        for (k, value) in object {
            check(value, extra, doc, &format!("{at}.{k}"), errors);
        }
    }
    if let (Some(items), Some(s)) = (v.as_array(), schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            check(item, s, doc, &format!("{at}[{i}]"), errors);
        }
    }
}

/// The answers checked so far: (method path-template status) → how many.
struct Checker {
    doc: Value,
    errors: Vec<String>,
    checked: std::collections::BTreeSet<String>,
}

impl Checker {
    fn answer(&mut self, method: &str, template: &str, reply: &Reply) {
        let op = &self.doc["paths"][template][method.to_ascii_lowercase()];
        let key = format!("{method} {template} {}", reply.status.as_u16());
        if !op.is_object() {
            self.errors
                .push(format!("{method} {template} is not in the document"));
            return;
        }
        let documented = &op["responses"][reply.status.as_u16().to_string()];
        if !documented.is_object() {
            self.errors.push(format!(
                "{key}: this status is not documented ({})",
                reply.body
            ));
            return;
        }
        let schema = if reply.status.is_success() {
            documented["content"]["application/json"]["schema"].clone()
        } else {
            json!({"$ref": "#/components/schemas/Error"})
        };
        if !schema.is_null() {
            let doc = self.doc.clone();
            check(&reply.body, &schema, &doc, &key, &mut self.errors);
        }
        self.checked.insert(key);
    }
}

async fn call(
    server: &Server,
    checker: &mut Checker,
    method: &str,
    template: &str,
    id: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Value {
    let path = template.replace("{id}", id);
    let reply = server.call(method, &path, token, body).await;
    checker.answer(method, template, &reply);
    reply.body
}

#[tokio::test]
async fn the_document_describes_every_answer() {
    let server = Arc::new(start().await);
    let mut c = Checker {
        doc: doc(),
        errors: Vec::new(),
        checked: Default::default(),
    };
    let ck = &mut c;
    call(&server, ck, "GET", "/api/scenarios", "", None, None).await;
    let agenda = json!({
        "name": "lease", "description": "A shop lease.",
        "issues": [{"name": "rent", "values": ["900", "1100"]}, {"name": "term", "values": ["1", "3"]}],
        "parties": [{"name": "tenant", "briefing": "You bake."}, {"name": "landlord"}]
    });
    call(
        &server,
        ck,
        "POST",
        "/api/scenarios/preview",
        "",
        Some(CREATOR),
        Some(json!({"scenario": {"upload": agenda}})),
    )
    .await;
    call(
        &server,
        ck,
        "POST",
        "/api/scenarios/preview",
        "",
        Some(CREATOR),
        Some(json!({"scenario": {"upload_toml": "name = "}})),
    )
    .await;

    // A staged session: a program seat, a built-in party that confides, a mediator seat.
    let created = call(&server, ck, "POST", "/api/sessions", "", Some(CREATOR), Some(json!({
        "scenario": "job-offer", "protocol": "staged", "rounds": 8, "owner_sees": "all",
        "roles": {"candidate": {"seat": "program"}, "employer": {"agent": "conceder"}, "mediator": {"seat": "program"}},
        "confide": ["employer"], "mandates": {"candidate": {"min_utility": 0.9}}
    }))).await;
    let id = created["id"].as_str().expect("id").to_string();
    let seat = created["seats"]["candidate"]["token"]
        .as_str()
        .expect("seat")
        .to_string();
    let principal = created["seats"]["candidate"]["principal_token"]
        .as_str()
        .expect("principal")
        .to_string();
    let mediator = created["seats"]["mediator"]["token"]
        .as_str()
        .expect("mediator")
        .to_string();
    let owner = created["owner_token"].as_str().expect("owner").to_string();
    call(&server, ck, "GET", "/api/sessions", "", Some(CREATOR), None).await;
    call(
        &server,
        ck,
        "GET",
        "/api/sessions/{id}",
        &id,
        Some(&seat),
        None,
    )
    .await;
    call(
        &server,
        ck,
        "POST",
        "/api/sessions/{id}/join",
        &id,
        Some(&seat),
        Some(json!({"confide": true})),
    )
    .await;
    call(
        &server,
        ck,
        "POST",
        "/api/sessions/{id}/join",
        &id,
        Some(&seat),
        Some(json!({})),
    )
    .await;
    call(
        &server,
        ck,
        "POST",
        "/api/sessions/{id}/join",
        &id,
        Some(&mediator),
        Some(json!({})),
    )
    .await;
    call(
        &server,
        ck,
        "GET",
        "/api/sessions/{id}/preferences",
        &id,
        Some(&seat),
        None,
    )
    .await;
    call(
        &server,
        ck,
        "GET",
        "/api/sessions/{id}/preferences",
        &id,
        Some(&owner),
        None,
    )
    .await;
    let view = call(
        &server,
        ck,
        "GET",
        "/api/sessions/{id}",
        &id,
        Some(&seat),
        None,
    )
    .await;
    let outcome = view["role"]["best_outcome"].clone();
    assert!(outcome.is_object(), "{view}");
    call(
        &server,
        ck,
        "POST",
        "/api/sessions/{id}/evaluate",
        &id,
        Some(&seat),
        Some(json!({"outcome": outcome})),
    )
    .await;
    call(
        &server,
        ck,
        "POST",
        "/api/sessions/{id}/evaluate",
        &id,
        Some(&mediator),
        Some(json!({"outcome": outcome})),
    )
    .await;
    call(
        &server,
        ck,
        "POST",
        "/api/sessions/{id}/evaluate",
        &id,
        Some(&seat),
        Some(json!({"outcome": {"salary": "7"}})),
    )
    .await;
    call(
        &server,
        ck,
        "POST",
        "/api/sessions/{id}/messages",
        &id,
        Some(&seat),
        Some(json!({"to": "mediator", "text": "Salary first."})),
    )
    .await;
    // Play to the end: the seat proposes its best and accepts what it is put; the
    // mediator puts the candidate's proposal and moves to direct talks.
    for _ in 0..200 {
        let view = call(
            &server,
            ck,
            "GET",
            "/api/sessions/{id}",
            &id,
            Some(&seat),
            None,
        )
        .await;
        if view["status"] == "ended" {
            break;
        }
        if view["ratification"]["status"] == "pending" {
            call(
                &server,
                ck,
                "GET",
                "/api/sessions/{id}",
                &id,
                Some(&principal),
                None,
            )
            .await;
            call(
                &server,
                ck,
                "POST",
                "/api/sessions/{id}/ratify",
                &id,
                Some(&principal),
                Some(json!({"confirm": true})),
            )
            .await;
            continue;
        }
        let med = call(
            &server,
            ck,
            "GET",
            "/api/sessions/{id}",
            &id,
            Some(&mediator),
            None,
        )
        .await;
        if med["pending"]["kind"] == "text" {
            call(
                &server,
                ck,
                "POST",
                "/api/sessions/{id}/actions",
                &id,
                Some(&mediator),
                Some(json!({"type": "text", "outcome": outcome, "progress": 1.0})),
            )
            .await;
            continue;
        }
        let body = match view["pending"]["kind"].as_str() {
            Some("propose") => json!({"type": "propose", "outcome": outcome}),
            Some("vote") => json!({"type": "vote", "accept": true}),
            Some("consent") => json!({"type": "consent", "accept": true}),
            Some("act") if view["pending"]["standing"].is_object() => json!({"type": "accept"}),
            Some("act") => json!({"type": "offer", "outcome": outcome}),
            _ => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                continue;
            }
        };
        call(
            &server,
            ck,
            "POST",
            "/api/sessions/{id}/actions",
            &id,
            Some(&seat),
            Some(body),
        )
        .await;
    }
    for token in [&seat, &principal, &mediator, &owner] {
        let view = call(
            &server,
            ck,
            "GET",
            "/api/sessions/{id}",
            &id,
            Some(token),
            None,
        )
        .await;
        assert_eq!(view["status"], "ended", "{view}");
    }
    call(
        &server,
        ck,
        "GET",
        "/api/sessions/{id}/trace",
        &id,
        Some(&owner),
        None,
    )
    .await;
    call(
        &server,
        ck,
        "POST",
        "/api/sessions/{id}/cancel",
        &id,
        Some(&owner),
        None,
    )
    .await;
    call(
        &server,
        ck,
        "POST",
        "/api/sessions/{id}/actions",
        &id,
        Some(&seat),
        Some(json!({"type": "pass"})),
    )
    .await;

    // An agenda session: preferences set, then cancelled.
    let created = call(
        &server,
        ck,
        "POST",
        "/api/sessions",
        "",
        Some(CREATOR),
        Some(json!({
            "scenario": {"upload": agenda}, "protocol": "saop", "rounds": 8,
            "roles": {"tenant": {"seat": "person"}, "landlord": {"seat": "program"}}
        })),
    )
    .await;
    let id = created["id"].as_str().expect("id").to_string();
    let tenant = created["seats"]["tenant"]["token"]
        .as_str()
        .expect("seat")
        .to_string();
    call(
        &server,
        ck,
        "GET",
        "/api/sessions/{id}/preferences",
        &id,
        Some(&tenant),
        None,
    )
    .await;
    let prefs = json!({"reservation": 0.2, "utility": {"issues": [{"issue": "rent", "weight": 1, "values": {"900": 1, "1100": 0}}]}});
    call(
        &server,
        ck,
        "PUT",
        "/api/sessions/{id}/preferences",
        &id,
        Some(&tenant),
        Some(prefs),
    )
    .await;
    call(
        &server,
        ck,
        "PUT",
        "/api/sessions/{id}/preferences",
        &id,
        Some(&tenant),
        Some(json!({"utility": 3})),
    )
    .await;
    call(
        &server,
        ck,
        "GET",
        "/api/sessions/{id}/preferences",
        &id,
        Some(&tenant),
        None,
    )
    .await;
    call(
        &server,
        ck,
        "GET",
        "/api/sessions/{id}",
        &id,
        Some(&tenant),
        None,
    )
    .await;
    call(
        &server,
        ck,
        "GET",
        "/api/sessions/{id}",
        &id,
        Some(created["owner_token"].as_str().expect("owner")),
        None,
    )
    .await;
    call(
        &server,
        ck,
        "POST",
        "/api/sessions/{id}/cancel",
        &id,
        Some(&tenant),
        None,
    )
    .await;
    call(
        &server,
        ck,
        "POST",
        "/api/sessions/{id}/cancel",
        &id,
        Some(created["owner_token"].as_str().expect("owner")),
        None,
    )
    .await;
    call(
        &server,
        ck,
        "GET",
        "/api/sessions/{id}",
        &id,
        Some(&tenant),
        None,
    )
    .await;

    assert!(
        c.errors.is_empty(),
        "docs/openapi.json does not describe these answers:\n  {}",
        c.errors.join("\n  ")
    );
    // Every operation with a JSON answer was exercised, each with a success.
    for needed in [
        "POST /api/scenarios/preview 200",
        "POST /api/sessions 201",
        "GET /api/sessions 200",
        "GET /api/sessions/{id} 200",
        "POST /api/sessions/{id}/join 200",
        "POST /api/sessions/{id}/evaluate 200",
        "GET /api/sessions/{id}/preferences 200",
        "PUT /api/sessions/{id}/preferences 200",
        "POST /api/sessions/{id}/messages 200",
        "POST /api/sessions/{id}/actions 200",
        "POST /api/sessions/{id}/actions 202",
        "POST /api/sessions/{id}/ratify 200",
        "GET /api/sessions/{id}/trace 200",
        "POST /api/sessions/{id}/cancel 200",
    ] {
        assert!(
            c.checked.contains(needed),
            "not exercised: {needed} (exercised: {:?})",
            c.checked
        );
    }
    let _ = StatusCode::OK;
}
