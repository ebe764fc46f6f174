//! The chat-completions client: one request per attempt, bounded in time and tokens,
//! with the reply's JSON schema asked for where the endpoint takes it.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// What a prompt says when the endpoint refused `response_format` and it was sent again.
const RESENT: &str = "sent again without response_format";
/// How a failed request's note begins.
pub(crate) const FAILED: &str = "request failed: ";
/// What a note says when the turn's time ran out.
pub(crate) const TIME_UP: &str = "the turn's time is up";

/// Where the model is and how to ask it.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// `OPENAI_BASE_URL` without a trailing slash (e.g. `http://127.0.0.1:18080/v1`).
    pub base_url: String,
    /// `OPENAI_API_KEY`, sent as a bearer token when set.
    pub api_key: Option<String>,
}

impl Endpoint {
    /// The endpoint the environment names: `OPENAI_BASE_URL` (required) and
    /// `OPENAI_API_KEY` (optional).
    pub fn from_env() -> Result<Endpoint, String> {
        let base_url = std::env::var("OPENAI_BASE_URL")
            .ok()
            .map(|u| u.trim().trim_end_matches('/').to_string())
            .filter(|u| !u.is_empty())
            .ok_or_else(|| {
                "llm: OPENAI_BASE_URL is not set: point it at an OpenAI-compatible endpoint \
                 (e.g. OPENAI_BASE_URL=https://api.openai.com/v1 with OPENAI_API_KEY, or \
                 `scripts/llm-server start` for a local model; see docs/llm.md)"
                    .to_string()
            })?;
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(format!(
                "llm: OPENAI_BASE_URL={base_url:?} is not an http:// or https:// address"
            ));
        }
        let api_key = std::env::var("OPENAI_API_KEY")
            .ok()
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty());
        Ok(Endpoint { base_url, api_key })
    }
}

/// Settings of one model seat's requests.
#[derive(Clone, Debug)]
pub struct Request {
    /// The model's name (`model=`).
    pub model: String,
    /// Sampling temperature (`temperature=`).
    pub temperature: f64,
    /// The most tokens a reply may have (`max_tokens=`).
    pub max_tokens: u32,
    /// The longest a request may take, connection included (`timeout=`, seconds).
    pub timeout: Duration,
    /// Sampling seed sent to the endpoint (the session's seed for this role).
    pub seed: u64,
}

/// A chat-completions client for one seat.
pub struct Client {
    endpoint: Endpoint,
    request: Request,
    agent: ureq::Agent,
    /// Whether to ask for the reply's schema (`response_format`); cleared when the
    /// endpoint refuses it, and the reply is then validated all the same.
    schema: bool,
    /// The settings the endpoint takes.
    accepts: Accepts,
    /// Exchanges recorded earlier, answered again in order instead of asking (a
    /// session replayed from its log after a restart makes the same moves).
    replay: std::collections::VecDeque<parley_engine::ModelCall>,
    /// The note of the exchange last replayed.
    replayed_note: Option<String>,
    /// Why the endpoint will not answer this seat at all (a wrong key, address or
    /// model): later turns are not asked again, and the fallback moves.
    refused: Option<String>,
    /// Whether the endpoint has answered this seat yet: a connection that fails before
    /// it ever did is a wrong address, not a busy server.
    answered: bool,
    /// The reply's token limit now: `max_tokens`, doubled (at most twice) when a reply
    /// was cut at it (a reasoning model spends tokens thinking before it answers).
    max_tokens: u32,
}

/// One completed exchange.
pub struct Reply {
    /// The exact request body sent.
    pub sent: String,
    /// The reply's text (the message content), or what went wrong.
    pub content: Result<String, String>,
}

impl Client {
    /// A client for `endpoint` with these settings.
    pub fn new(endpoint: Endpoint, request: Request) -> Client {
        let agent = ureq::AgentBuilder::new()
            .timeout(request.timeout)
            .timeout_connect(request.timeout.min(Duration::from_secs(10)))
            .build();
        Client {
            endpoint,
            max_tokens: request.max_tokens,
            request,
            agent,
            schema: true,
            accepts: Accepts::default(),
            replay: Default::default(),
            replayed_note: None,
            refused: None,
            answered: false,
        }
    }

    /// The same client, answering its first requests with `calls` (recorded earlier,
    /// in order) instead of asking the endpoint.
    pub fn replaying(mut self, calls: Vec<parley_engine::ModelCall>) -> Client {
        self.replay = calls.into();
        self
    }

    /// Whether the turn's time was up after the last exchange: by the clock, or, for
    /// a replayed exchange, as recorded.
    pub fn time_up(&self, started: std::time::Instant, budget: Duration) -> bool {
        match &self.replayed_note {
            Some(note) => note.contains(TIME_UP),
            None => started.elapsed() >= budget,
        }
    }

    /// The model's name.
    pub fn model(&self) -> &str {
        &self.request.model
    }

    /// Sends `messages` and asks for a reply matching `schema` (named `name`), waiting
    /// at most `limit` (and never longer than the seat's timeout).
    pub fn chat(
        &mut self,
        messages: &[Value],
        name: &str,
        schema: &Value,
        limit: Duration,
    ) -> Reply {
        let limit = limit
            .min(self.request.timeout)
            .max(Duration::from_millis(100));
        if let Some(call) = self.replay.pop_front() {
            if call.prompt.contains(RESENT) {
                self.schema = false;
            }
            let content = match call.note.strip_prefix(FAILED) {
                Some(why) => Err(why.split("; ").next().unwrap_or(why).to_string()),
                None => Ok(call.reply),
            };
            self.replayed_note = Some(call.note);
            return Reply {
                sent: call.prompt,
                content,
            };
        }
        self.replayed_note = None;
        if let Some(why) = &self.refused {
            return Reply {
                sent: String::new(),
                content: Err(format!(
                    "not asked: the endpoint refused this seat earlier ({why})"
                )),
            };
        }
        let started = Instant::now();
        let mut sent = String::new();
        let mut waits = 0;
        // An endpoint that refuses a setting (no `response_format`, no `maxLength` in a
        // schema, `max_completion_tokens` instead of `max_tokens`, no `temperature` or
        // `seed` for its model) is asked again without it, and remembered. A busy or
        // failing endpoint (HTTP 429, 5xx, a dropped connection) is asked again after a
        // pause (its `Retry-After`, else 0.5 s, 1 s, 2 s …) while the turn's time lasts.
        for _ in 0..12 {
            let body = self.body(messages, name, schema);
            if !sent.is_empty() {
                sent.push('\n');
            }
            sent.push_str(&body.to_string());
            let left = limit.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Reply {
                    sent,
                    content: Err(format!("{TIME_UP} before the endpoint answered")),
                };
            }
            match self.post(&body, left) {
                Err(Refused::Setting(why)) => match self.adjust(&why) {
                    Some(what) => {
                        sent.push_str(&format!("\n(refused: {why}; {what})"));
                    }
                    None => {
                        return Reply {
                            sent,
                            content: Err(why),
                        }
                    }
                },
                Err(Refused::Busy(why, after)) => {
                    let wait = after.unwrap_or(Duration::from_millis(500 << waits.min(5)));
                    waits += 1;
                    if waits > 5 || started.elapsed() + wait >= limit {
                        return Reply {
                            sent,
                            content: Err(why),
                        };
                    }
                    sent.push_str(&format!(
                        "\n({why}; waited {:.1} s and sent again)",
                        wait.as_secs_f64()
                    ));
                    std::thread::sleep(wait);
                }
                Err(Refused::Cut(why)) => {
                    if self.max_tokens >= self.request.max_tokens.saturating_mul(4) {
                        return Reply {
                            sent,
                            content: Err(why),
                        };
                    }
                    self.max_tokens = self.max_tokens.saturating_mul(2);
                    sent.push_str(&format!(
                        "\n({why}; sent again with a limit of {} tokens)",
                        self.max_tokens
                    ));
                }
                Err(Refused::Seat(why)) => {
                    self.refused = Some(why.clone());
                    return Reply {
                        sent,
                        content: Err(why),
                    };
                }
                other => {
                    self.answered |= other.is_ok();
                    return Reply {
                        sent,
                        content: other.map_err(|e| e.to_string()),
                    };
                }
            }
        }
        Reply {
            sent,
            content: Err("the endpoint refused every form of the request".into()),
        }
    }

    /// The request body, as the endpoint takes it (see [`Client::adjust`]).
    fn body(&self, messages: &[Value], name: &str, schema: &Value) -> Value {
        let mut body = json!({
            "model": self.request.model,
            "messages": messages,
        });
        let token_key = if self.accepts.completion_tokens {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        body[token_key] = Value::from(self.max_tokens);
        if self.accepts.temperature {
            body["temperature"] = Value::from(self.request.temperature);
        }
        if self.accepts.seed {
            body["seed"] = Value::from(self.request.seed);
        }
        if self.schema {
            let mut schema = schema.clone();
            if !self.accepts.lengths {
                strip_lengths(&mut schema);
            }
            body["response_format"] = json!({
                "type": "json_schema",
                "json_schema": {"name": name, "strict": true, "schema": schema},
            });
        }
        body
    }

    /// Leaves out of later requests the setting an endpoint's refusal names; what was
    /// done, or `None` when the refusal names none of them.
    fn adjust(&mut self, why: &str) -> Option<&'static str> {
        let why = why.to_lowercase();
        if self.schema && self.accepts.lengths && why.contains("maxlength") {
            self.accepts.lengths = false;
            return Some("sent again without maxLength in the schema");
        }
        if self.schema && (why.contains("response_format") || why.contains("json_schema")) {
            self.schema = false;
            return Some(RESENT);
        }
        if !self.accepts.completion_tokens && why.contains("max_tokens") {
            self.accepts.completion_tokens = true;
            return Some("sent again with max_completion_tokens");
        }
        if self.accepts.temperature && why.contains("temperature") {
            self.accepts.temperature = false;
            return Some("sent again without temperature");
        }
        if self.accepts.seed && why.contains("seed") {
            self.accepts.seed = false;
            return Some("sent again without seed");
        }
        None
    }

    fn post(&self, body: &Value, limit: Duration) -> Result<String, Refused> {
        let url = format!("{}/chat/completions", self.endpoint.base_url);
        let mut call = self
            .agent
            .post(&url)
            .timeout(limit)
            .set("Content-Type", "application/json");
        if let Some(key) = &self.endpoint.api_key {
            call = call.set("Authorization", &format!("Bearer {key}"));
        }
        let answer = match call.send_string(&body.to_string()) {
            Ok(answer) => answer,
            Err(ureq::Error::Status(code, answer)) => {
                let after = answer
                    .header("retry-after")
                    .and_then(|s| s.trim().parse::<f64>().ok())
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .map(|s| Duration::from_secs_f64(s.min(60.0)));
                let text = answer.into_string().unwrap_or_default();
                let text: String = text.chars().take(500).collect();
                let why = format!("{url}: HTTP {code}: {text}");
                return Err(match code {
                    400 | 422 => Refused::Setting(why),
                    408 | 409 | 425 | 429 | 500..=599 => Refused::Busy(why, after),
                    401 | 403 => Refused::Seat(format!(
                        "{why} (is OPENAI_API_KEY set to a key this endpoint takes?)"
                    )),
                    404 if text.to_lowercase().contains("model") => Refused::Seat(format!(
                        "{why} (does the endpoint serve model={:?}? set model=NAME or \
                         OPENAI_MODEL)",
                        self.request.model
                    )),
                    404 | 405 => Refused::Seat(format!(
                        "{why} (is OPENAI_BASE_URL the API's base? it usually ends in /v1)"
                    )),
                    _ => Refused::Other(why),
                });
            }
            Err(ureq::Error::Transport(t)) => {
                let why = format!("{url}: {t}");
                return Err(match t.kind() {
                    ureq::ErrorKind::Dns | ureq::ErrorKind::InvalidUrl => {
                        Refused::Seat(format!("{why} (check OPENAI_BASE_URL)"))
                    }
                    ureq::ErrorKind::ConnectionFailed if !self.answered => Refused::Seat(format!(
                        "{why} (is the endpoint at OPENAI_BASE_URL running?)"
                    )),
                    ureq::ErrorKind::ConnectionFailed => Refused::Busy(why, None),
                    _ => Refused::Other(why),
                });
            }
        };
        let text = answer
            .into_string()
            .map_err(|e| Refused::Other(format!("{url}: reading the reply: {e}")))?;
        let value: Value = serde_json::from_str(&text).map_err(|e| {
            Refused::Other(format!(
                "{url}: the reply is not JSON ({e}): {}",
                text.chars().take(200).collect::<String>()
            ))
        })?;
        if let Some(error) = value.get("error").filter(|e| !e.is_null()) {
            return Err(Refused::Other(format!(
                "{url}: the endpoint answered with an error: {}",
                error.to_string().chars().take(300).collect::<String>()
            )));
        }
        let choice = &value["choices"][0];
        let message = &choice["message"];
        let content = content_text(&message["content"]);
        if choice["finish_reason"] == "length" {
            return Err(Refused::Cut(format!(
                "the reply was cut at {} tokens (max_tokens={}): {}",
                self.max_tokens,
                self.request.max_tokens,
                content
                    .unwrap_or_default()
                    .chars()
                    .take(200)
                    .collect::<String>()
            )));
        }
        if let Some(content) = content.filter(|c| !c.trim().is_empty()) {
            return Ok(content);
        }
        // A model that declines (OpenAI's `refusal`) has answered: its words are the
        // reply, which fails validation and is asked again with the error.
        if let Some(refusal) = message["refusal"].as_str().filter(|r| !r.is_empty()) {
            return Ok(format!("(the model declined: {refusal})"));
        }
        Err(Refused::Other(format!(
            "{url}: no choices[0].message.content in the reply: {}",
            text.chars().take(200).collect::<String>()
        )))
    }
}

/// A message's text: a string, or the text parts of a list of parts.
fn content_text(content: &Value) -> Option<String> {
    match content {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => {
            let texts: Vec<&str> = parts
                .iter()
                .filter_map(|p| p.as_str().or_else(|| p["text"].as_str()))
                .collect();
            (!texts.is_empty()).then(|| texts.concat())
        }
        _ => None,
    }
}

enum Refused {
    /// The endpoint refused the request as it was (a setting it does not take?).
    Setting(String),
    /// The endpoint is busy or failing for now: ask again after a pause (its
    /// `Retry-After`, when it gave one).
    Busy(String, Option<Duration>),
    /// The endpoint will not answer this seat (key, address or model): do not ask again.
    Seat(String),
    /// The reply was cut at the token limit: ask again with a higher one.
    Cut(String),
    Other(String),
}

/// What an endpoint takes besides the messages (see [`Client::adjust`]).
struct Accepts {
    /// `maxLength` in a schema.
    lengths: bool,
    /// `max_completion_tokens` rather than `max_tokens`.
    completion_tokens: bool,
    temperature: bool,
    seed: bool,
}

impl Default for Accepts {
    fn default() -> Accepts {
        Accepts {
            lengths: true,
            completion_tokens: false,
            temperature: true,
            seed: true,
        }
    }
}

/// Removes every `maxLength` from a JSON schema.
fn strip_lengths(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            map.remove("maxLength");
            map.values_mut().for_each(strip_lengths);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_lengths),
        _ => {}
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Setting(why)
            | Refused::Busy(why, _)
            | Refused::Seat(why)
            | Refused::Cut(why)
            | Refused::Other(why) => f.write_str(why),
        }
    }
}
