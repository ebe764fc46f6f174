//! `GET /api/sessions/{id}/ws`: a live view over a WebSocket.

use super::*;

pub(super) async fn ws(
    State(app): State<Arc<App>>,
    Extension(limiter): Extension<Arc<Limiter>>,
    SessionId(id): SessionId,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let live = session(&app, &id).await?;
    let upgrade = upgrade
        .map_err(|e| ApiError::new(e.status(), format!("this endpoint is a WebSocket: {e}")))?;
    Ok(upgrade
        .max_message_size(64 * 1024)
        .on_upgrade(move |socket| stream(app, limiter, live, socket)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Hello {
    token: String,
    /// Pushes carry only what changed: the events from the first one that differs
    /// from what this socket was last sent (`since`), not the whole story.
    #[serde(default)]
    incremental: bool,
}

/// What a socket last sent of the story, for incremental pushes.
struct Sent {
    events: Vec<Value>,
}

impl Sent {
    /// `message` (a `view` message with the whole story) as this socket sends it: in
    /// incremental mode the events from the first that differs from those it sent
    /// last (`view.since` says from which), else as it is.
    fn shape(&mut self, message: &str) -> String {
        let Ok(mut v) = serde_json::from_str::<Value>(message) else {
            return message.to_string();
        };
        let Some(events) = v
            .get_mut("view")
            .and_then(|view| view.get_mut("events"))
            .and_then(Value::as_array_mut)
        else {
            return message.to_string();
        };
        let all = std::mem::take(events);
        let same = self
            .events
            .iter()
            .zip(&all)
            .take_while(|(a, b)| a == b)
            .count();
        *events = all[same..].to_vec();
        self.events = all;
        v["view"]["since"] = same.into();
        v.to_string()
    }
}

pub(super) async fn close(mut socket: WebSocket, code: u16, reason: &str) {
    let frame = Message::Close(Some(axum::extract::ws::CloseFrame {
        code,
        reason: reason.to_string().into(),
    }));
    // A client that reads nothing does not hold the socket open either.
    let _ = tokio::time::timeout(Duration::from_secs(5), socket.send(frame)).await;
}

/// A seat's live view: authenticate with the first message, then a `view` message at
/// every change. At most `max_sockets_per_token` open per token (the next is closed
/// with 4429); pinged every `ws_ping_interval` and closed with 4408 when the client
/// sent nothing, a pong included, for `ws_idle_timeout`.
pub(super) async fn stream(
    app: Arc<App>,
    limiter: Arc<Limiter>,
    live: Arc<Live>,
    mut socket: WebSocket,
) {
    let first = tokio::time::timeout(Duration::from_secs(5), socket.recv()).await;
    let hello: Option<Hello> = match first {
        Ok(Some(Ok(Message::Text(text)))) => serde_json::from_str(text.as_str()).ok(),
        _ => None,
    };
    let Some(hello) = hello else {
        return close(socket, 4400, "send {\"token\": \"…\"} first").await;
    };
    let access = match authorize(&app, &live, &hello.token) {
        Ok(a) => a,
        Err(e) => {
            let code = if e.status == StatusCode::FORBIDDEN {
                4403
            } else {
                4401
            };
            return close(socket, code, &e.message).await;
        }
    };
    let hash = token_hash(&hello.token);
    let Some(_open) = limiter.open_socket(hash) else {
        let reason = format!(
            "too many open sockets for this token (at most {}, --max-sockets-per-token)",
            limiter.limits.max_sockets_per_token
        );
        return close(socket, 4429, &reason).await;
    };
    // The socket closes when its token expires, as a request with it would be refused.
    let expires_at = live
        .tokens()
        .iter()
        .find(|entry| entry.hash == hash)
        .map_or(0, |entry| entry.expires_at);
    // A link re-issued meanwhile closes the old one's socket.
    let mut changes = live.subscribe();
    let left = u64::try_from(expires_at.saturating_sub(crate::unix_now())).unwrap_or(0);
    let expiry =
        tokio::time::sleep(Duration::from_secs(left).saturating_add(Duration::from_millis(1000)));
    tokio::pin!(expiry);
    // Sent the view now, then each view published to this viewer: one when, and
    // only when, what it may see changed (nothing else sends).
    let (first, mut views) = live.watch(access);
    let mut last = first;
    let mut sent = hello.incremental.then(|| Sent { events: Vec::new() });
    let shaped = |sent: &mut Option<Sent>, message: &str| match sent {
        Some(sent) => sent.shape(message),
        None => message.to_string(),
    };
    if socket
        .send(Message::Text(shaped(&mut sent, &last).into()))
        .await
        .is_err()
    {
        return;
    }
    // Liveness: a ping every interval; silence (no pong, nothing) for the idle
    // timeout closes the socket.
    let (ping_every, idle) = (
        limiter
            .limits
            .ws_ping_interval
            .max(Duration::from_millis(10)),
        limiter.limits.ws_idle_timeout,
    );
    let mut pings = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
    pings.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let silence = tokio::time::sleep(idle);
    tokio::pin!(silence);
    loop {
        tokio::select! {
            next = views.recv() => {
                let message = match next {
                    Ok(m) => m,
                    // Fell behind: the latest view is what counts.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => live.watch(access).0,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                };
                if message == last {
                    continue;
                }
                last = message;
                // A client that reads nothing cannot hold the task: the send must
                // complete within the idle timeout.
                let view = Message::Text(shaped(&mut sent, &last).into());
                if !matches!(tokio::time::timeout(idle, socket.send(view)).await, Ok(Ok(()))) {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                // Anything the client sends (a pong, say) shows it is there.
                _ => silence.as_mut().reset(tokio::time::Instant::now() + idle),
            },
            _ = pings.tick() => {
                let ping = Message::Ping(Bytes::new());
                if !matches!(tokio::time::timeout(idle, socket.send(ping)).await, Ok(Ok(()))) {
                    return;
                }
            }
            () = &mut silence => {
                let reason = format!(
                    "no answer for {} s (pings unanswered; --ws-idle-timeout)",
                    idle.as_secs_f64()
                );
                return close(socket, 4408, &reason).await;
            }
            () = &mut expiry => return close(socket, 4401, "this token has expired").await,
            Ok(()) = changes.changed() => {
                if live.revoked(&hash) {
                    return close(socket, 4401, "this link was replaced by a new one").await;
                }
            }
        }
    }
}
