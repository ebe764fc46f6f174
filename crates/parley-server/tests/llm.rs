//! A language-model agent seat in live talks (against a scripted OpenAI-compatible
//! endpoint in the test process): a person's message reaches its prompt; the owner's
//! trace holds its model calls and nobody else's view does; after a restart the
//! session replays from the log without asking the model again and goes on.

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::common::start_on;

#[path = "../../parley-llm/tests/fake/mod.rs"]
#[allow(dead_code)]
mod fake;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_llm_seat_hears_a_person_keeps_its_calls_private_and_survives_a_restart() {
    // The model always counter-offers the employer's best package.
    let best = json!({"salary": "90", "start date": "in 2 weeks", "remote days": "none",
                      "signing bonus": "none", "title": "Engineer"});
    let offer = best.clone();
    // On the supplier contract it is slow (two seconds a reply, none valid).
    let model = fake::start(move |r, _| {
        if fake::prompt(r).contains("Supplier contract") {
            return fake::Reply::Slow(std::time::Duration::from_secs(2), "{}".into());
        }
        fake::Reply::Content(
            json!({"action": "offer", "offer": offer, "message": "This is our best package."})
                .to_string(),
        )
    });
    // The engine reads the endpoint from the environment, as every front end does; no
    // other test of this binary seats a model.
    std::env::set_var("OPENAI_BASE_URL", &model.url);
    let dir = tempfile::tempdir().expect("tempdir");
    let url = parley_server::database_url(&dir.path().join("llm.db").display().to_string());
    let server = Arc::new(start_on(&url, None).await);
    let created = server
        .create(json!({
            "scenario": "job-offer", "protocol": "saop", "rounds": 20,
            "roles": {"candidate": {"seat": "program"}, "employer": {"agent": "llm:retries=0"}}
        }))
        .await;
    let path = format!("/api/sessions/{}", created.id());
    let cand = created.seat("candidate").to_string();
    let r = server
        .call(
            "POST",
            &format!("{path}/join"),
            Some(&cand),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mine = json!({"salary": "100", "start date": "in 2 months", "remote days": "fully remote",
                      "signing bonus": "15k", "title": "Staff Engineer"});
    let wait_turn = |server: Arc<crate::common::Server>| {
        let (path, cand) = (path.clone(), cand.clone());
        async move {
            for _ in 0..2000 {
                let view = server.call("GET", &path, Some(&cand), None).await.body;
                if view["pending"]["kind"] == "act" || view["status"] == "ended" {
                    return view;
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            panic!("the candidate was never asked");
        }
    };
    let view = wait_turn(Arc::clone(&server)).await;
    assert_eq!(view["status"], "running", "{view}");
    let r = server
        .call(
            "POST",
            &format!("{path}/messages"),
            Some(&cand),
            Some(json!({"to": "employer", "text": "I need to work fully remote."})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = server
        .call(
            "POST",
            &format!("{path}/actions"),
            Some(&cand),
            Some(json!({"type": "offer", "outcome": mine})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let view = wait_turn(Arc::clone(&server)).await;
    // The person's words reached the model, quoted as the candidate's.
    let asked = model.requests();
    assert!(!asked.is_empty());
    let last = fake::prompt(asked.last().expect("a request"));
    assert!(
        last.contains("candidate said to you: \"I need to work fully remote.\""),
        "{last}"
    );
    // The seat's words are in the candidate's view; its model calls are not.
    let events = view["events"].as_array().expect("events");
    assert!(events
        .iter()
        .any(|e| e["type"] == "message" && e["text"] == "This is our best package."));
    assert!(events.iter().all(|e| e["type"] != "model-call"), "{view}");
    let owner = server
        .call("GET", &path, Some(created.owner()), None)
        .await
        .body;
    let calls = owner["events"]
        .as_array()
        .map(|e| e.iter().filter(|e| e["type"] == "model-call").count())
        .unwrap_or(0);
    assert_eq!(calls, asked.len(), "the owner reads every call: {owner}");

    // The drafting assistant: a draft for the candidate's next offer, from its own
    // view, returned and not sent.
    assert_eq!(
        view["drafting"], true,
        "the room offers the assistant: {view}"
    );
    let before = model.requests().len();
    let total = view["events_total"].clone();
    let r = server
        .call(
            "POST",
            &format!("{path}/draft"),
            Some(&cand),
            Some(json!({"outcome": mine, "persona": "neutral"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["text"], "This is our best package.");
    assert_eq!(r.body["sent"], false);
    assert_eq!(model.requests().len(), before + 1);
    let asked_for = fake::prompt(model.requests().last().expect("the draft's request"));
    assert!(
        asked_for.contains("You help candidate")
            && asked_for.contains("salary=100")
            && asked_for.contains("employer said: \"This is our best package.\""),
        "{asked_for}"
    );
    // The employer's briefing (scenarios/job-offer.toml) is not the candidate's.
    assert!(
        !asked_for.contains("budget for this role is tight"),
        "the employer's briefing reached the candidate's draft"
    );
    assert!(asked_for.contains("another offer in hand"), "{asked_for}");
    let after = server.call("GET", &path, Some(&cand), None).await.body;
    assert_eq!(after["events_total"], total, "a draft sends nothing");
    for (token, body, status) in [
        (
            created.owner(),
            json!({"outcome": mine}),
            StatusCode::FORBIDDEN,
        ),
        (
            &cand[..],
            json!({"outcome": {"salary": "a million"}}),
            StatusCode::BAD_REQUEST,
        ),
        (
            &cand[..],
            json!({"outcome": mine, "persona": "grumpy"}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let r = server
            .call("POST", &format!("{path}/draft"), Some(token), Some(body))
            .await;
        assert_eq!(r.status, status, "{}", r.body);
    }
    assert_eq!(
        model.requests().len(),
        before + 1,
        "refused drafts ask nothing"
    );
    let asked = model.requests();

    // A restart: the session is read back from its log and replayed; the model is not
    // asked again for the moves it already made.
    drop(server);
    let again = Arc::new(start_on(&url, Some(dir)).await);
    let view = wait_turn(Arc::clone(&again)).await;
    assert_eq!(view["status"], "running", "{view}");
    assert_eq!(
        model.requests().len(),
        asked.len(),
        "the replay asked the model"
    );
    // And the talks go on: the next offer is answered by the model afresh.
    let r = again
        .call(
            "POST",
            &format!("{path}/actions"),
            Some(&cand),
            Some(json!({"type": "offer", "outcome": mine})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let view = wait_turn(Arc::clone(&again)).await;
    assert_eq!(view["status"], "running", "{view}");
    assert_eq!(model.requests().len(), asked.len() + 1);
    let _: Value = view;

    // Sessions whose model is slow do not hold up others: each runs on a thread of
    // its own, not on the workers other sessions share. More of them than there are
    // workers, then a session of two built-ins: it ends while they still wait.
    let pool = parley_server::engines::Pool::global();
    let slow: Vec<String> = {
        let mut ids = Vec::new();
        for _ in 0..=pool.workers() {
            let c = again
                .create(json!({
                    "scenario": "supplier-contract", "protocol": "saop", "rounds": 100,
                    "roles": {"buyer": {"agent": "llm:retries=0:timeout=5"},
                              "supplier": {"agent": "boulware"}}
                }))
                .await;
            ids.push(c.id().to_string());
        }
        ids
    };
    let quick = again
        .create(json!({
            "scenario": "job-offer", "protocol": "saop", "rounds": 100,
            "roles": {"candidate": {"agent": "boulware"}, "employer": {"agent": "conceder"}}
        }))
        .await;
    let started = std::time::Instant::now();
    let quick_path = format!("/api/sessions/{}", quick.id());
    let mut ended = false;
    for _ in 0..400 {
        let view = again
            .call("GET", &quick_path, Some(quick.owner()), None)
            .await
            .body;
        if view["status"] == "ended" {
            ended = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(
        ended,
        "the built-ins' session did not end in 10 s beside slow models"
    );
    assert!(
        pool.running_alone() > pool.workers(),
        "{} sessions with a slow model run alone",
        pool.running_alone()
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let _ = slow;
}
