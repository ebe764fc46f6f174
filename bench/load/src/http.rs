//! The HTTP side: one keep-alive connection pool, JSON requests with the
//! retries the server asks for (`429`, `503` with `Retry-After`), and the
//! measurements (latencies, counts, answers by status, errors).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::{header, Method, StatusCode};

/// What a request was, for the latency and status tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// `POST /api/sessions/{id}/actions` during the drive.
    PostActions,
    /// `GET /api/sessions/{id}` during the drive.
    GetView,
    /// Not a request: from the answer to one seat's action until the other
    /// seat's view shows its pending request.
    Handoff,
    /// `POST /api/sessions/{id}/evaluate` (with `--evaluate`).
    PostEvaluate,
    /// `POST /api/sessions`.
    PostSessions,
    /// `POST /api/sessions/{id}/join`.
    PostJoin,
    /// `GET /api/sessions/{id}` of a held session (with `--hold`).
    GetViewHeld,
    /// `GET /healthz`, opening the keep-alive connections before the drive.
    Warmup,
}

/// Every kind, in report order.
pub const KINDS: [Kind; 8] = [
    Kind::PostActions,
    Kind::GetView,
    Kind::Handoff,
    Kind::PostEvaluate,
    Kind::PostSessions,
    Kind::PostJoin,
    Kind::GetViewHeld,
    Kind::Warmup,
];

impl Kind {
    /// Its name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Kind::PostActions => "POST actions",
            Kind::GetView => "GET view",
            Kind::Handoff => "turn handoff",
            Kind::PostEvaluate => "POST evaluate",
            Kind::PostSessions => "POST sessions",
            Kind::PostJoin => "POST join",
            Kind::GetViewHeld => "GET view (held sessions)",
            Kind::Warmup => "GET healthz (warm-up)",
        }
    }
    fn index(self) -> usize {
        self as usize
    }
}

/// Measurements of one task; merged at the end.
#[derive(Default)]
pub struct Stats {
    /// Latencies in seconds, by kind (only the last attempt of a retried request).
    pub lat: [Vec<f64>; KINDS.len()],
    /// Every answer (retried ones included), by kind and HTTP status; status 0 is
    /// a transport error.
    pub status: [BTreeMap<u16, u64>; KINDS.len()],
    /// Counters by name.
    pub count: BTreeMap<String, u64>,
    /// Errors: "kind status: message" → count.
    pub errors: BTreeMap<String, u64>,
    /// Seconds spent waiting before retrying a `429` or `503`.
    pub retry_wait_seconds: f64,
}

impl Stats {
    /// Records a latency.
    pub fn add(&mut self, kind: Kind, seconds: f64) {
        self.lat[kind.index()].push(seconds);
    }

    /// Adds `n` to a counter.
    pub fn bump(&mut self, name: &str, n: u64) {
        if let Some(c) = self.count.get_mut(name) {
            *c += n;
        } else {
            self.count.insert(name.to_string(), n);
        }
    }

    /// A counter's value.
    pub fn get(&self, name: &str) -> u64 {
        self.count.get(name).copied().unwrap_or(0)
    }

    /// Records an error with the message of the answer's JSON `error` (or its
    /// first bytes).
    pub fn error(&mut self, kind: Kind, status: u16, body: &[u8]) {
        let msg = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into());
        self.error_msg(kind, status, &msg);
    }

    /// Records an error with a message.
    pub fn error_msg(&mut self, kind: Kind, status: u16, msg: &str) {
        let msg: String = msg.chars().take(160).collect();
        *self
            .errors
            .entry(format!("{} {status}: {msg}", kind.name()))
            .or_insert(0) += 1;
    }

    /// Adds another task's measurements.
    pub fn merge(&mut self, other: Stats) {
        for (mine, theirs) in self.lat.iter_mut().zip(other.lat) {
            mine.extend(theirs);
        }
        for (mine, theirs) in self.status.iter_mut().zip(other.status) {
            for (k, v) in theirs {
                *mine.entry(k).or_insert(0) += v;
            }
        }
        for (k, v) in other.count {
            *self.count.entry(k).or_insert(0) += v;
        }
        for (k, v) in other.errors {
            *self.errors.entry(k).or_insert(0) += v;
        }
        self.retry_wait_seconds += other.retry_wait_seconds;
    }

    /// The number of requests answered (any status, retries included) of the
    /// given kinds.
    pub fn answers(&self, kinds: &[Kind]) -> u64 {
        kinds
            .iter()
            .map(|k| self.status[k.index()].values().sum::<u64>())
            .sum()
    }
}

/// An answer: status and body.
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The whole body.
    pub body: Vec<u8>,
}

/// The client: a base URL and a pool of HTTP/1.1 keep-alive connections.
pub struct Http {
    client: reqwest::Client,
    base: String,
    max_retries: u32,
}

impl Http {
    /// A client of the server at `base` (`http://host:port`, no trailing slash).
    pub fn new(base: &str, max_retries: u32) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(usize::MAX)
            .pool_idle_timeout(Duration::from_secs(600))
            .timeout(Duration::from_secs(120))
            .build()?;
        Ok(Http {
            client,
            base: base.trim_end_matches('/').to_string(),
            max_retries,
        })
    }

    /// The URL of `path` on the server.
    pub fn url(&self, path: &str) -> Result<reqwest::Url, String> {
        reqwest::Url::parse(&format!("{}{}", self.base, path)).map_err(|e| format!("{path}: {e}"))
    }

    /// [`Http::call_url`] with a path on the server.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&[u8]>,
        st: &mut Stats,
        kind: Kind,
    ) -> Result<Answer, String> {
        let url = self.url(path).inspect_err(|e| st.error_msg(kind, 0, e))?;
        self.call_url(method, &url, token, body, st, kind).await
    }

    /// Sends a request and reads the whole answer, recording its status and (for
    /// the last attempt) its latency under `kind`.
    ///
    /// A `429` or `503` is retried after its `Retry-After` (seconds), or after a
    /// backoff from 50 ms doubling up to 2 s, at most `max_retries` times; it is
    /// counted (`retried 429`, …). A transport error (a keep-alive connection
    /// the server closed, say) is retried once on a new connection; a second one
    /// is returned as `Err`, recorded as an error with status 0.
    pub async fn call_url(
        &self,
        method: Method,
        url: &reqwest::Url,
        token: Option<&str>,
        body: Option<&[u8]>,
        st: &mut Stats,
        kind: Kind,
    ) -> Result<Answer, String> {
        let mut retries = 0u32;
        let mut transport_retried = false;
        loop {
            let mut req = self.client.request(method.clone(), url.clone());
            if let Some(t) = token {
                req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
            }
            if let Some(b) = body {
                req = req
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(b.to_vec());
            } else if method == Method::POST {
                req = req
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Vec::new());
            }
            let t0 = Instant::now();
            let result = async {
                let resp = req.send().await?;
                let status = resp.status();
                let retry_after = resp
                    .headers()
                    .get(header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<f64>().ok());
                let bytes = resp.bytes().await?;
                Ok::<_, reqwest::Error>((status, retry_after, bytes))
            }
            .await;
            let secs = t0.elapsed().as_secs_f64();
            match result {
                Ok((status, retry_after, bytes)) => {
                    *st.status[kind.index()].entry(status.as_u16()).or_insert(0) += 1;
                    let retryable = status == StatusCode::TOO_MANY_REQUESTS
                        || status == StatusCode::SERVICE_UNAVAILABLE;
                    if retryable && retries < self.max_retries {
                        retries += 1;
                        st.bump(&format!("retried {} ({})", status.as_u16(), kind.name()), 1);
                        let wait = match retry_after {
                            Some(s) if s.is_finite() && s >= 0.0 => s.clamp(0.001, 60.0),
                            _ => (0.05 * 2f64.powi(retries.min(6) as i32 - 1)).min(2.0),
                        };
                        st.retry_wait_seconds += wait;
                        tokio::time::sleep(Duration::from_secs_f64(wait)).await;
                        continue;
                    }
                    st.add(kind, secs);
                    return Ok(Answer {
                        status: status.as_u16(),
                        body: bytes.to_vec(),
                    });
                }
                Err(err) => {
                    *st.status[kind.index()].entry(0).or_insert(0) += 1;
                    if !transport_retried {
                        transport_retried = true;
                        st.bump("transport errors retried", 1);
                        continue;
                    }
                    let msg = format!("{err}");
                    st.error_msg(kind, 0, &msg);
                    return Err(msg);
                }
            }
        }
    }
}

/// Nearest-rank percentile of an ascending slice.
pub fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let k = ((p / 100.0 * sorted.len() as f64).ceil() as usize).max(1) - 1;
    sorted[k.min(sorted.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A keep-alive server (blocking, on threads of its own) answering 429
    /// (Retry-After: 0), then 503 (Retry-After: 0.01), then 200 with `{}`.
    fn flaky_server() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            let mut n = 0usize;
            for sock in listener.incoming() {
                let Ok(mut sock) = sock else { return };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let k = match sock.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(k) => k,
                    };
                    buf.extend_from_slice(&chunk[..k]);
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        let answer: &[u8] = match n {
                            0 => b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 0\r\nContent-Length: 0\r\n\r\n",
                            1 => b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0.01\r\nContent-Length: 2\r\n\r\n{}",
                            _ => b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
                        };
                        n += 1;
                        if sock.write_all(answer).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn retries_429_and_503() {
        let base = flaky_server();
        let http = Http::new(&base, 5).expect("client");
        let mut st = Stats::default();
        let a = http
            .call(Method::GET, "/x", Some("t"), None, &mut st, Kind::GetView)
            .await
            .expect("answer");
        assert_eq!(a.status, 200);
        assert_eq!(a.body, b"{}");
        assert_eq!(st.get("retried 429 (GET view)"), 1);
        assert_eq!(st.get("retried 503 (GET view)"), 1);
        assert_eq!(st.lat[Kind::GetView.index()].len(), 1);
        assert_eq!(st.answers(&[Kind::GetView]), 3);
        assert!(st.retry_wait_seconds > 0.0);
    }

    #[test]
    fn nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(pct(&v, 50.0), 50.0);
        assert_eq!(pct(&v, 99.0), 99.0);
        assert_eq!(pct(&v, 100.0), 100.0);
        assert_eq!(pct(&[7.0], 90.0), 7.0);
    }
}
