//! A server on a free loopback port, and a small client.

use std::collections::BTreeMap;
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{json, Value};

pub struct Server {
    pub base: String,
    /// The database URL.
    pub url: String,
    pub client: reqwest::Client,
    pub _dir: Option<tempfile::TempDir>,
}

/// The creator token of every test server.
pub const CREATOR: &str = "test-creator-token-0123456789";

/// The options of a test server on `url`: its key next to a SQLite file, or, for
/// PostgreSQL, one key file per test process (every test shares the database). The
/// tests drive the server flat out from one address and token, so the rate limits are
/// off (they have tests of their own, in `limits.rs`); every other limit is the
/// default.
pub fn options(url: &str) -> parley_server::Options {
    let mut options = parley_server::Options::new(url, CREATOR);
    options.limits.create_rate = None;
    options.limits.address_rate = None;
    options.limits.token_rate = None;
    // Tests open a second server on a database in the same process (a restart, or a
    // check of what a restarted server would serve): no lock (a test of the lock
    // turns it on).
    options.lock = false;
    if url.starts_with("postgres") {
        options.key =
            Some(std::env::temp_dir().join(format!("parley-test-pg-{}.key", std::process::id())));
    }
    options
}

/// The test PostgreSQL server (`PARLEY_TEST_POSTGRES`, which `.ci/run` sets). Tests
/// that need it are ignored unless run with `--include-ignored`; then its absence is a
/// failure that says what to set.
pub fn postgres_url() -> String {
    std::env::var("PARLEY_TEST_POSTGRES").unwrap_or_else(|_| {
        panic!(
            "this test needs PostgreSQL: set PARLEY_TEST_POSTGRES=postgres://user@host:port/db \
             (.ci/run starts a throwaway cluster and sets it)"
        )
    })
}

/// Starts a server on a fresh SQLite file (or on `PARLEY_TEST_POSTGRES` when `postgres`).
pub async fn start() -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = parley_server::database_url(&dir.path().join("t.db").display().to_string());
    start_on(&url, Some(dir)).await
}

pub async fn start_on(url: &str, dir: Option<tempfile::TempDir>) -> Server {
    start_with(&options(url), dir).await
}

/// Starts a server with these options.
pub async fn start_with(
    options: &parley_server::Options,
    dir: Option<tempfile::TempDir>,
) -> Server {
    let url = options.db.as_str();
    let app = parley_server::App::open(options)
        .await
        .expect("server opens");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    // As `parley serve` does on a loopback address.
    *app.hosts.write().expect("hosts") = parley_server::HostPolicy::for_listener(addr, &[]);
    // Through the accept loop of `parley serve`, with the options' limits.
    let limits = options.limits.clone();
    tokio::spawn(async move {
        let _ = parley_server::serve_listener(app, listener, &limits, std::future::pending()).await;
    });
    Server {
        base: format!("http://{addr}"),
        url: url.to_string(),
        client: reqwest::Client::new(),
        _dir: dir,
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

impl Server {
    /// The owner's view of a session once it has ended and its closing analysis is
    /// computed (it is computed after the end, off the request path).
    pub async fn analysed(&self, created: &Created) -> Value {
        for _ in 0..4000 {
            let v = self.owner_view(created).await;
            if v["status"] == "ended" && v["analysis"]["pending"].is_null() {
                return v;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        panic!("the session did not end with its analysis");
    }

    /// The owner's view of a created session.
    pub async fn owner_view(&self, created: &Created) -> Value {
        let path = format!("/api/sessions/{}", created.id());
        self.call("GET", &path, Some(created.owner()), None)
            .await
            .body
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let url = format!("{}{path}", self.base);
        let mut req = match method {
            "GET" => self.client.get(url),
            "PUT" => self.client.put(url),
            "DELETE" => self.client.delete(url),
            _ => self.client.post(url),
        };
        if let Some(t) = token {
            req = req.bearer_auth(t);
        } else if method == "POST" && path == "/api/sessions" {
            req = req.bearer_auth(CREATOR);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply { status, body }
    }

    pub async fn raw(&self, path: &str, token: Option<&str>, body: Vec<u8>) -> Reply {
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            // Not kept for reuse: the server may close it after refusing an oversized
            // body, and the next request must not be sent down a closed connection.
            .header("connection", "close")
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        } else if path == "/api/sessions" {
            req = req.bearer_auth(CREATOR);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        Reply {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        }
    }

    /// The seat's view once the engine asks it something (or the talks are over).
    pub async fn wait_asked(&self, path: &str, token: &str) -> Value {
        for _ in 0..2000 {
            let v = self.call("GET", path, Some(token), None).await.body;
            if !v["pending"].is_null() || v["status"] == "ended" {
                return v;
            }
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        panic!("the seat was never asked");
    }

    /// Creates a session whose owner sees everything (so that tests can read the
    /// whole log), unless the request says otherwise.
    pub async fn create(&self, mut request: Value) -> Created {
        if request.get("owner_sees").is_none() {
            request["owner_sees"] = "all".into();
        }
        self.create_as_is(request).await
    }

    /// Creates a session from exactly `request`.
    pub async fn create_as_is(&self, request: Value) -> Created {
        let r = self
            .call("POST", "/api/sessions", None, Some(request))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        Created(r.body)
    }

    /// The session's full log, read with the owner's token.
    pub async fn trace(&self, created: &Created) -> Reply {
        let path = format!("/api/sessions/{}/trace", created.id());
        self.call("GET", &path, Some(created.owner()), None).await
    }

    /// The owner's log: number of records and the last hash.
    pub async fn log_state(&self, created: &Created) -> (usize, String) {
        let r = self.trace(created).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["chain_ok"], true);
        let records = r.body["records"].as_array().expect("records");
        (
            records.len(),
            records.last().map_or(String::new(), |x| {
                x["hash"].as_str().unwrap_or_default().to_string()
            }),
        )
    }
}

pub struct Created(pub Value);

impl Created {
    pub fn id(&self) -> &str {
        self.0["id"].as_str().expect("id")
    }
    pub fn owner(&self) -> &str {
        self.0["owner_token"].as_str().expect("owner token")
    }
    pub fn seat(&self, role: &str) -> &str {
        self.0["seats"][role]["token"].as_str().expect("seat token")
    }
    pub fn principal(&self, role: &str) -> &str {
        self.0["seats"][role]["principal_token"]
            .as_str()
            .expect("principal token")
    }
}

/// A scripted seat: it learns its own utilities through `/evaluate`, then answers
/// whatever the session asks with a time-dependent target (1 → `floor`).
pub struct Player {
    pub server: Arc<Server>,
    pub session: String,
    pub token: String,
    /// Outcomes (issue → value) sorted by my utility, best first.
    pub outcomes: Vec<(BTreeMap<String, String>, f64)>,
    /// My red lines, as my view shows them: issue → refused values.
    pub red_lines: BTreeMap<String, Vec<String>>,
    pub floor: f64,
    /// Reject every text and proposal-phase deal (to drive staged talks to direct).
    pub hold_out_indirect: bool,
    /// The answer to a call for direct talks.
    pub consent: bool,
}

impl Player {
    pub async fn new(server: Arc<Server>, session: &str, token: &str, floor: f64) -> Player {
        let view = server
            .call(
                "GET",
                &format!("/api/sessions/{session}"),
                Some(token),
                None,
            )
            .await;
        assert_eq!(view.status, StatusCode::OK, "{}", view.body);
        let issues = view.body["scenario"]["issues"]
            .as_array()
            .expect("issues")
            .clone();
        let mut outcomes: Vec<BTreeMap<String, String>> = vec![BTreeMap::new()];
        for issue in &issues {
            let name = issue["name"].as_str().expect("name").to_string();
            let values: Vec<String> = issue["values"]
                .as_array()
                .expect("values")
                .iter()
                .map(|v| v.as_str().expect("label").to_string())
                .collect();
            let mut next = Vec::with_capacity(outcomes.len() * values.len());
            for o in &outcomes {
                for v in &values {
                    let mut o = o.clone();
                    o.insert(name.clone(), v.clone());
                    next.push(o);
                }
            }
            outcomes = next;
        }
        // A seat reads its own red lines from its view and never puts or takes an
        // outcome across one.
        let red_lines = red_lines_of(&view.body);
        let mut scored = Vec::new();
        for o in outcomes.into_iter().filter(|o| !crosses(&red_lines, o)) {
            let r = server
                .call(
                    "POST",
                    &format!("/api/sessions/{session}/evaluate"),
                    Some(token),
                    Some(json!({"outcome": o})),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            scored.push((o, r.body["utility"].as_f64().expect("utility")));
        }
        scored.sort_by(|a, b| b.1.total_cmp(&a.1));
        Player {
            server,
            session: session.into(),
            token: token.into(),
            outcomes: scored,
            red_lines,
            floor,
            hold_out_indirect: false,
            consent: true,
        }
    }

    /// Whether an outcome (issue → value label, as views write it) crosses this seat's
    /// red lines.
    fn crosses_red_line(&self, outcome: &Value) -> bool {
        let Some(map) = outcome.as_object() else {
            return false;
        };
        let outcome: BTreeMap<String, String> = map
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect();
        crosses(&self.red_lines, &outcome)
    }

    fn target(&self, view: &Value) -> f64 {
        // Down to the floor by half-time.
        let t = view["round"].as_f64().unwrap_or(0.0) / view["rounds"].as_f64().unwrap_or(1.0);
        1.0 - (1.0 - self.floor) * (2.0 * t).min(1.0)
    }

    fn near(&self, target: f64) -> &BTreeMap<String, String> {
        let k = self
            .outcomes
            .iter()
            .rposition(|(_, u)| *u >= target)
            .unwrap_or(0);
        &self.outcomes[k].0
    }

    /// Answers the pending request, if any; returns the view it acted on.
    pub async fn step(&self) -> Value {
        let path = format!("/api/sessions/{}", self.session);
        let view = self
            .server
            .call("GET", &path, Some(&self.token), None)
            .await
            .body;
        let target = self.target(&view);
        let indirect = view["phase"] == "indirect";
        // Staged talks: counter-offers may not undercut the default text, which is
        // offered back once the target falls to it.
        let default = view["events"]
            .as_array()
            .and_then(|events| events.iter().rev().find(|e| e["type"] == "default"))
            .and_then(|e| {
                // Views show outcomes as issue → value.
                let outcome: BTreeMap<String, String> = e["outcome"]
                    .as_object()?
                    .iter()
                    .map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect::<Option<_>>()?;
                Some((outcome, e["my_utility"].as_f64()?))
            });
        let action = match view["pending"]["kind"].as_str() {
            Some("act") => match view["pending"]["standing_utility"].as_f64() {
                Some(u) if u >= target && !self.crosses_red_line(&view["pending"]["standing"]) => {
                    json!({"type": "accept"})
                }
                _ => match &default {
                    Some((outcome, d)) if target <= *d => {
                        json!({"type": "offer", "outcome": outcome})
                    }
                    Some((_, d)) => json!({"type": "offer", "outcome": self.near(target.max(*d))}),
                    None => json!({"type": "offer", "outcome": self.near(target)}),
                },
            },
            Some("consent") => json!({"type": "consent", "accept": self.consent}),
            Some("propose") => json!({"type": "propose", "outcome": self.near(target)}),
            Some("vote") => {
                let u = view["pending"]["text_utility"].as_f64().unwrap_or(0.0);
                let u = if self.crosses_red_line(&view["pending"]["text"]) {
                    -1.0
                } else {
                    u
                };
                json!({"type": "vote", "accept": u >= target && !(indirect && self.hold_out_indirect)})
            }
            _ => return view,
        };
        let r = self
            .server
            .call(
                "POST",
                &format!("{path}/actions"),
                Some(&self.token),
                Some(action),
            )
            .await;
        assert!(
            r.status == StatusCode::OK || r.status == StatusCode::CONFLICT,
            "{}: {}",
            r.status,
            r.body
        );
        view
    }

    /// Plays until the session ends; the final view.
    pub async fn play(&self) -> Value {
        for _ in 0..20_000 {
            let view = self.step().await;
            if view["status"] == "ended" {
                return view;
            }
            if view["pending"].is_null() {
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
        }
        panic!("the session did not end");
    }
}

/// A one-connection pool on a test database, for changing it behind the server's back.
pub async fn pool(url: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .expect("the database opens")
}

/// A seat's red lines from its view: issue → refused value labels.
pub fn red_lines_of(view: &Value) -> BTreeMap<String, Vec<String>> {
    view["role"]["red_lines"]
        .as_array()
        .map(|lines| {
            lines
                .iter()
                .filter_map(|l| {
                    let refused = l["refused"].as_array()?;
                    Some((
                        l["issue"].as_str()?.to_string(),
                        refused
                            .iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `outcome` takes a refused value of some issue.
pub fn crosses(
    red_lines: &BTreeMap<String, Vec<String>>,
    outcome: &BTreeMap<String, String>,
) -> bool {
    outcome
        .iter()
        .any(|(issue, value)| red_lines.get(issue).is_some_and(|r| r.contains(value)))
}
