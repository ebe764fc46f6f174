//! An OpenAI-compatible endpoint in the test process: every chat-completions request
//! is kept and answered by the test's handler (a scripted model).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use parley_engine::{Action, Negotiator, PartyContext, State};
use serde_json::{json, Value};

/// How the fake model answers one request.
pub enum Reply {
    /// A normal reply with this message content.
    Content(String),
    /// An HTTP error status with this body.
    Status(u16, String),
    /// Waits this long, then answers with the content.
    Slow(Duration, String),
    /// This status, extra headers and body, as given.
    Raw(u16, Vec<(&'static str, String)>, String),
}

/// A running fake endpoint.
pub struct Fake {
    /// What to set as `OPENAI_BASE_URL`.
    pub url: String,
    /// Every request body received, in order.
    pub requests: Arc<Mutex<Vec<Value>>>,
}

impl Fake {
    /// The endpoint for `parley_llm::*_with`.
    pub fn endpoint(&self) -> parley_llm::Endpoint {
        parley_llm::Endpoint {
            base_url: self.url.clone(),
            api_key: Some("test-key".into()),
        }
    }

    /// The requests so far.
    pub fn requests(&self) -> Vec<Value> {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The system and user prompts of a request, joined.
pub fn prompt(request: &Value) -> String {
    request["messages"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(|x| x["content"].as_str())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// Starts a fake endpoint answering with `handler(request body, request number)`.
pub fn start(handler: impl Fn(&Value, usize) -> Reply + Send + Sync + 'static) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a local port");
    let url = format!(
        "http://{}/v1",
        listener.local_addr().expect("local address")
    );
    let requests: Arc<Mutex<Vec<Value>>> = Arc::default();
    let kept = Arc::clone(&requests);
    let handler = Arc::new(handler);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let kept = Arc::clone(&kept);
            let handler = Arc::clone(&handler);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
                let mut length = 0usize;
                let mut first = String::new();
                if reader.read_line(&mut first).is_err() {
                    return;
                }
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).is_err() || line.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':') {
                        if k.trim().eq_ignore_ascii_case("content-length") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                }
                let mut body = vec![0u8; length];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let n = {
                    let mut k = kept.lock().unwrap_or_else(|e| e.into_inner());
                    k.push(request.clone());
                    k.len() - 1
                };
                let (code, headers, text) = match handler(&request, n) {
                    Reply::Content(c) => (200, Vec::new(), completion(&c)),
                    Reply::Status(code, text) => (code, Vec::new(), text),
                    Reply::Slow(wait, c) => {
                        std::thread::sleep(wait);
                        (200, Vec::new(), completion(&c))
                    }
                    Reply::Raw(code, headers, text) => (code, headers, text),
                };
                let extra: String = headers
                    .iter()
                    .map(|(k, v)| format!("{k}: {v}\r\n"))
                    .collect();
                let _ = write!(
                    stream,
                    "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{text}",
                    text.len()
                );
            });
        }
    });
    Fake { url, requests }
}

fn completion(content: &str) -> String {
    json!({
        "id": "fake",
        "object": "chat.completion",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": "stop",
        }],
    })
    .to_string()
}

/// A negotiator that plays a built-in and says the same words with every move.
pub struct Says {
    /// The built-in that moves.
    pub inner: Box<dyn Negotiator>,
    /// What it says.
    pub words: &'static str,
}

impl Negotiator for Says {
    fn name(&self) -> String {
        format!("{} (saying {:?})", self.inner.name(), self.words)
    }
    fn init(&mut self, ctx: &PartyContext<'_>) {
        self.inner.init(ctx)
    }
    fn observe(&mut self, ctx: &PartyContext<'_>, event: &parley_engine::Event) {
        self.inner.observe(ctx, event)
    }
    fn act(&mut self, ctx: &PartyContext<'_>, state: &State, standing: Option<&[u32]>) -> Action {
        self.inner.act(ctx, state, standing)
    }
    fn propose(&mut self, ctx: &PartyContext<'_>, state: &State) -> Option<Vec<u32>> {
        self.inner.propose(ctx, state)
    }
    fn vote(
        &mut self,
        ctx: &PartyContext<'_>,
        state: &State,
        text: &[u32],
        current: Option<&[u32]>,
    ) -> bool {
        self.inner.vote(ctx, state, text, current)
    }
    fn consent(&mut self, ctx: &PartyContext<'_>, state: &State) -> bool {
        self.inner.consent(ctx, state)
    }
    fn message(&mut self) -> Option<String> {
        Some(self.words.to_string())
    }
}
