//! The chat-completions client: one request per attempt, bounded in time and tokens,
//! with the reply's JSON schema asked for where the endpoint takes it.

use std::time::Duration;

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
    /// Exchanges recorded earlier, answered again in order instead of asking (a
    /// session replayed from its log after a restart makes the same moves).
    replay: std::collections::VecDeque<parley_engine::ModelCall>,
    /// The note of the exchange last replayed.
    replayed_note: Option<String>,
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
            request,
            agent,
            schema: true,
            replay: Default::default(),
            replayed_note: None,
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
        let mut body = json!({
            "model": self.request.model,
            "messages": messages,
            "temperature": self.request.temperature,
            "max_tokens": self.request.max_tokens,
            "seed": self.request.seed,
        });
        if self.schema {
            body["response_format"] = json!({
                "type": "json_schema",
                "json_schema": {"name": name, "strict": true, "schema": schema},
            });
        }
        let sent = body.to_string();
        let content = self.post(&body, limit);
        match content {
            Err(Refused::Schema(why)) if self.schema => {
                // The endpoint does not take `response_format`: ask again without it
                // (the prompt states the format, and parley validates either way).
                self.schema = false;
                if let Some(map) = body.as_object_mut() {
                    map.remove("response_format");
                }
                let again = body.to_string();
                let content = self.post(&body, limit).map_err(|e| e.to_string());
                Reply {
                    sent: format!("{sent}\n(refused: {why}; {RESENT})\n{again}"),
                    content,
                }
            }
            other => Reply {
                sent,
                content: other.map_err(|e| e.to_string()),
            },
        }
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
                let text = answer.into_string().unwrap_or_default();
                let text: String = text.chars().take(500).collect();
                if code == 400 && text.contains("response_format") {
                    return Err(Refused::Schema(text));
                }
                return Err(Refused::Other(format!("{url}: HTTP {code}: {text}")));
            }
            Err(e) => return Err(Refused::Other(e.to_string())),
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
        let choice = &value["choices"][0];
        if choice["finish_reason"] == "length" {
            return Err(Refused::Other(format!(
                "the reply was cut at max_tokens={} (raise max_tokens): {}",
                self.request.max_tokens,
                choice["message"]["content"].as_str().unwrap_or_default()
            )));
        }
        choice["message"]["content"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| {
                Refused::Other(format!(
                    "{url}: no choices[0].message.content in the reply: {}",
                    text.chars().take(200).collect::<String>()
                ))
            })
    }
}

enum Refused {
    /// The endpoint refused `response_format`.
    Schema(String),
    Other(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Schema(why) | Refused::Other(why) => f.write_str(why),
        }
    }
}
