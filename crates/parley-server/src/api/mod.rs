//! The HTTP routes: API, WebSocket, web UI.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{
    ConnectInfo, DefaultBodyLimit, FromRequest, FromRequestParts, Path, Request, State,
};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use base64::Engine as _;
use rand::RngCore;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::limits::{ClientKey, Limiter, Limits};
use crate::live::{Access, ActionBody, Live, Status, TokenEntry};
use crate::spec::{CreateRequest, Holder};
use crate::store::{hex, SessionRow, TokenRow};
use crate::App;

mod host;
mod seats;
mod ws;

use host::{cancel, list, preview, reissue, trace};
use seats::{act, draft, evaluate, join, message, preferences, ratify, set_preferences};
use ws::ws;

/// How long an owner's (and an auditor's) token lasts at least: a year, whatever the
/// seats' lifetime.
pub const OWNER_TTL_SECONDS: u64 = 365 * 24 * 3600;

/// The largest request body accepted.
pub const MAX_BODY: usize = 1 << 20;

const INDEX_HTML: &str = include_str!("../../assets/index.html");
const APP_JS: &str = include_str!("../../assets/app.js");
const STYLE_CSS: &str = include_str!("../../assets/style.css");
const OPENAPI: &str = include_str!("../../../../docs/openapi.json");

/// The server's routes, with the default [`Limits`].
pub fn router(app: Arc<App>) -> Router {
    router_with(app, Limits::default())
}

/// The server's routes with these limits (the connection-level ones, such as the
/// header timeout, are the accept loop's: [`crate::serve_listener`]). The client's
/// address, for the per-address limits, is the request's `ConnectInfo<SocketAddr>`
/// extension; without one every request counts as from one unknown address.
pub fn router_with(app: Arc<App>, limits: Limits) -> Router {
    let limiter = Arc::new(Limiter::new(limits));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/openapi.json", get(openapi))
        .route("/api/scenarios", get(scenarios))
        .route("/api/scenarios/preview", post(preview))
        .route("/api/sessions", post(create).get(list))
        .route("/api/sessions/{id}", get(view))
        .route("/api/sessions/{id}/join", post(join))
        .route("/api/sessions/{id}/evaluate", post(evaluate))
        .route(
            "/api/sessions/{id}/preferences",
            get(preferences).put(set_preferences),
        )
        .route("/api/sessions/{id}/messages", post(message))
        .route("/api/sessions/{id}/draft", post(draft))
        .route("/api/sessions/{id}/actions", post(act))
        .route("/api/sessions/{id}/ratify", post(ratify))
        .route("/api/sessions/{id}/trace", get(trace))
        .route("/api/sessions/{id}/cancel", post(cancel))
        .route("/api/sessions/{id}/reissue", post(reissue))
        .route("/api/sessions/{id}/ws", get(ws))
        .route("/", get(index))
        .route("/room/{id}", get(index))
        .route("/owner/{id}", get(index))
        .route(
            "/assets/app.js",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
                    APP_JS,
                )
            }),
        )
        .route(
            "/assets/style.css",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
                    STYLE_CSS,
                )
            }),
        )
        .fallback(|| async { ApiError::not_found("no such page or endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "this endpoint does not take that method",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(
            (Arc::clone(&app), Arc::clone(&limiter)),
            guard,
        ))
        .layer(Extension(limiter))
        .with_state(app)
}

/// `GET /healthz`: 200 while the database takes writes, else 503 (for a load balancer
/// or a supervisor).
async fn healthz(State(app): State<Arc<App>>) -> Result<&'static str, ApiError> {
    if app.store.healthy() {
        Ok("ok")
    } else {
        Err(ApiError::unavailable(
            "the database cannot store anything right now (a storage error)",
        ))
    }
}

/// The Content-Security-Policy of every answer: only this origin's own script, style
/// and connections; no framing, no plugins, no `<base>`, no inline code.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                       img-src 'self' data:; connect-src 'self'; manifest-src 'self'; \
                       base-uri 'none'; form-action 'none'; frame-ancestors 'none'; \
                       object-src 'none'";

/// Every request: one over its rate limit (`docs/api.md`, "Limits"), for a host name
/// the server does not answer to (DNS rebinding), a cross-site request (its `Origin`
/// is not this host) and a body that is not declared JSON are refused; every answer
/// carries the security headers.
async fn guard(
    State((app, limiter)): State<(Arc<App>, Arc<Limiter>)>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    let refused = rate_limit(&app, &limiter, &req)
        .err()
        .or_else(|| unknown_host(&app, req.headers()))
        .or_else(|| cross_site(req.headers()))
        .or_else(|| {
            matches!(
                *req.method(),
                axum::http::Method::POST | axum::http::Method::PUT
            )
            .then(|| json_body(req.headers()))
            .flatten()
        });
    let mut response = match refused {
        Some(e) => e.into_response(),
        None => next.run(req).await,
    };
    let h = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        h.insert(name, header::HeaderValue::from_static(value));
    }
    h.insert(
        header::HeaderName::from_static("cross-origin-opener-policy"),
        header::HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::HeaderName::from_static("cross-origin-resource-policy"),
        header::HeaderValue::from_static("same-origin"),
    );
    response
}

/// The rate limit a request counts against: `POST /api/sessions` per client address;
/// a request with a token the server issued (a session's, even expired) per token;
/// any other (no token, an unknown or malformed one) per client address. `GET
/// /healthz` is never limited, so that a supervisor always sees the server's health.
fn rate_limit(app: &App, limiter: &Limiter, req: &Request) -> Result<(), ApiError> {
    let client = || {
        ClientKey::of(
            req.extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        )
    };
    let path = req.uri().path();
    if path == "/healthz" {
        return Ok(());
    }
    if path == "/api/sessions" && req.method() == axum::http::Method::POST {
        return limiter.create(client());
    }
    let known = bearer(req.headers()).ok().map(token_hash).filter(|hash| {
        app.token_index
            .read()
            .map(|index| index.contains_key(hash))
            .unwrap_or(false)
    });
    match known {
        Some(hash) => limiter.token(hash),
        None => limiter.address(client()),
    }
}

/// A request for a host name this server does not answer to: 421.
fn unknown_host(app: &App, headers: &HeaderMap) -> Option<ApiError> {
    let host = headers.get(header::HOST)?;
    let policy = app.hosts.read().unwrap_or_else(|e| e.into_inner());
    match host.to_str() {
        Ok(h) if policy.allows(h) => None,
        _ => Some(ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            "this server does not answer to the host name in the Host header (a guard \
             against DNS rebinding); reach it by IP address or localhost, or start it \
             with --allow-host NAME",
        )),
    }
}

/// A request whose `Origin` is not the host it was sent to (a page of another site
/// posting here, or opening a WebSocket): 403. Requests without `Origin` (programs,
/// same-origin GETs) pass.
fn cross_site(headers: &HeaderMap) -> Option<ApiError> {
    let origin = headers.get(header::ORIGIN)?;
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest.trim_end_matches('/'));
    match (origin_host, host) {
        (Some(o), Some(h)) if o.eq_ignore_ascii_case(h) => None,
        _ => Some(forbidden(
            "cross-site request refused: the Origin header does not match this server's host",
        )),
    }
}

/// A POST with a body that is not declared `application/json`: 415 (a form cannot
/// post to the API).
fn json_body(headers: &HeaderMap) -> Option<ApiError> {
    let has_body = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.trim() != "0")
        && (headers.contains_key(header::CONTENT_LENGTH)
            || headers.contains_key(header::TRANSFER_ENCODING));
    if !has_body {
        return None;
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    (!json).then(|| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be JSON, sent with Content-Type: application/json",
        )
    })
}

async fn index() -> Response {
    Html(INDEX_HTML).into_response()
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// The session id in a request's path: a path that is not valid (a percent-encoded
/// byte that is not UTF-8) is a JSON error, like every other.
pub struct SessionId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for SessionId {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(id)) => Ok(SessionId(id)),
            Err(e) => Err(ApiError::bad_request(format!(
                "the session id in the path: {}",
                e.body_text()
            ))),
        }
    }
}

/// A JSON body: parsed here so that every rejection is a JSON error with a reason.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        // The body must arrive within the body timeout (its headers had theirs).
        let wait = req
            .extensions()
            .get::<Arc<Limiter>>()
            .map_or_else(|| Limits::default().body_timeout, |l| l.limits.body_timeout);
        let read = tokio::time::timeout(wait, Bytes::from_request(req, state)).await;
        let bytes = read
            .map_err(|_| {
                ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    format!(
                        "the body did not arrive within {} s (--body-timeout)",
                        wait.as_secs_f64()
                    ),
                )
            })?
            .map_err(|e| {
                let status = e.status();
                if status == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(status, format!("the body is larger than {MAX_BODY} bytes"))
                } else {
                    ApiError::new(status, format!("the body could not be read: {e}"))
                }
            })?;
        // An empty body stands for `{}` (so `join` needs none).
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        // The error names the field it is about (`body.owner_sees: unknown variant …`).
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path.is_empty() || path == "." {
                ApiError::bad_request(format!("body: {inner}"))
            } else {
                ApiError::bad_request(format!("body.{path}: {inner}"))
            }
        })?;
        de.end()
            .map_err(|e| ApiError::bad_request(format!("body: {e}")))?;
        Ok(JsonBody(value))
    }
}

/// SHA-256 of a token (tokens are stored and compared only as hashes).
pub(crate) fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

pub(crate) fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers.get(header::AUTHORIZATION).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "a token is required: Authorization: Bearer <token>",
        )
    })?;
    value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "the Authorization header must be Bearer <token>",
            )
        })
}

/// Who holds `token` in session `live`: 401 if nobody does (or it expired), 403 if it
/// belongs to another session.
fn authorize(app: &App, live: &Live, token: &str) -> Result<Access, ApiError> {
    let hash = token_hash(token);
    let now = crate::unix_now();
    // Constant time over every token of the session, whichever matches.
    let tokens = live.tokens();
    let mut found: Option<&TokenEntry> = None;
    for entry in tokens.iter() {
        if bool::from(entry.hash.ct_eq(&hash)) {
            found = Some(entry);
        }
    }
    match found {
        Some(entry) if entry.expires_at == crate::store::REVOKED => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "this link was replaced by a new one: ask the session's owner for it",
        )),
        Some(entry) if entry.expires_at < now => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "this token has expired",
        )),
        Some(entry) => Ok(entry.access),
        None => {
            let elsewhere = app
                .token_index
                .read()
                .map(|i| i.contains_key(&hash))
                .unwrap_or(false);
            if elsewhere {
                Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "this token is not for this session",
                ))
            } else {
                Err(ApiError::new(StatusCode::UNAUTHORIZED, "unknown token"))
            }
        }
    }
}

async fn session(app: &App, id: &str) -> Result<Arc<Live>, ApiError> {
    app.load(id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(format!("there is no session {id:?}")))
}

fn forbidden(what: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, what.to_string())
}

async fn scenarios(State(app): State<Arc<App>>) -> Json<Value> {
    Json(Value::Array(
        app.bundled.iter().map(|b| b.public.clone()).collect(),
    ))
}

/// The role of the seat whose token the request carries; anyone else is refused with
/// `refusal`.
fn seat_role(
    app: &App,
    live: &Live,
    headers: &HeaderMap,
    refusal: &'static str,
) -> Result<usize, ApiError> {
    match authorize(app, live, bearer(headers)?)? {
        Access::Seat(role) => Ok(role),
        _ => Err(forbidden(refusal)),
    }
}

/// Whether `headers` carry the server's creator token: 401 if not.
fn creator(app: &App, headers: &HeaderMap) -> Result<(), ApiError> {
    let token = bearer(headers).map_err(|_| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "creating a session needs the server's creator token: Authorization: Bearer \
             <token> (parley serve prints it, in the lobby's address, or takes it from \
             PARLEY_CREATE_TOKEN)",
        )
    })?;
    if bool::from(token_hash(token).ct_eq(&app.create_token)) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "this is not the server's creator token",
        ))
    }
}

async fn create(
    State(app): State<Arc<App>>,
    Extension(limiter): Extension<Arc<Limiter>>,
    req: Request,
) -> Result<Response, ApiError> {
    // Who asks comes first: a caller without the token learns nothing of the body's
    // checks, and its body (up to 1 MiB of JSON) is not even read.
    creator(&app, req.headers())?;
    // A place among the live sessions, held until this one is counted among them.
    let _slot = limiter.reserve_session(live_sessions(&app))?;
    let JsonBody(request) = JsonBody::<CreateRequest>::from_request(req, &()).await?;
    let confide_agents = request.confide.clone();
    let bundled = |id: &str| {
        app.bundled
            .iter()
            .find(|b| b.id == id)
            .map(|b| b.json.clone())
    };
    let (spec, agenda, scenario) = request.into_spec(&bundled, &limiter.limits)?;
    let mut confide = vec![false; scenario.n_parties()];
    for name in &confide_agents {
        let idx = spec
            .role_index(name)
            .filter(|&i| i < scenario.n_parties())
            .ok_or_else(|| ApiError::bad_request(format!("confide: {name:?} is not a party")))?;
        if !matches!(spec.roles[idx].holder, Holder::Agent { .. }) {
            return Err(ApiError::bad_request(format!(
                "confide: {name:?} is a seat; a seat confides when it joins"
            )));
        }
        if spec.mediator_index().is_none() {
            return Err(ApiError::bad_request(
                "confide: this protocol has no mediator",
            ));
        }
        confide[idx] = true;
    }
    let id = format!("s_{}", &new_token()[..16]);
    let expires = crate::unix_now() + spec.token_ttl_seconds as i64;
    // An auditor reads the whole log: every private move. Only when the owner sees
    // everything anyway.
    let mut issued: Vec<(Access, String)> = vec![(Access::Owner, new_token())];
    if spec.owner_sees == crate::spec::OwnerSees::All {
        issued.push((Access::Auditor, new_token()));
    }
    for (r, role) in spec.roles.iter().enumerate() {
        if let Holder::Seat { mandate, .. } = &role.holder {
            issued.push((Access::Seat(r), new_token()));
            if mandate.is_some() {
                issued.push((Access::Principal(r), new_token()));
            }
        }
    }
    // The owner's links outlive the seats': the host exports and audits the record
    // long after the talks.
    let owner_expires = crate::unix_now() + spec.token_ttl_seconds.max(OWNER_TTL_SECONDS) as i64;
    let expiry = |access: &Access| match access {
        Access::Owner | Access::Auditor => owner_expires,
        _ => expires,
    };
    let entries: Vec<TokenEntry> = issued
        .iter()
        .map(|(access, token)| TokenEntry {
            hash: token_hash(token),
            access: *access,
            expires_at: expiry(access),
        })
        .collect();
    let rows: Vec<TokenRow> = issued
        .iter()
        .map(|(access, token)| TokenRow {
            hash: hex(&token_hash(token)),
            session_id: id.clone(),
            role: access.encode(&spec),
            expires_at: expiry(access),
        })
        .collect();
    let spec_json = serde_json::to_string(&spec).map_err(ApiError::internal)?;
    let live = Arc::new(
        Live::new(
            id.clone(),
            spec.clone(),
            scenario,
            entries,
            app.store.clone(),
            Arc::clone(&app.seal),
            app.runtime.clone(),
        )
        .with_agenda(agenda),
    );
    let (records, status) = live.opening_records(&spec_json, &confide, &rows);
    let row = SessionRow {
        id: id.clone(),
        config: spec_json,
        status: status.name().into(),
    };
    let first = records
        .first()
        .cloned()
        .ok_or_else(|| ApiError::internal("no opening record"))?;
    app.store
        .create_session(&row, &crate::now_rfc3339(), &rows, &first)
        .await?;
    if records.len() > 1 {
        app.store.append(&id, &records[1..], None).await?;
    }
    app.index(&live);
    app.write_sessions().insert(id.clone(), Arc::clone(&live));
    live.opened(&records, status);

    let token_of = |a: Access| issued.iter().find(|(x, _)| *x == a).map(|(_, t)| t.clone());
    let mut seats = serde_json::Map::new();
    for (r, role) in spec.roles.iter().enumerate() {
        if let Some(token) = token_of(Access::Seat(r)) {
            let mut seat = json!({"token": token, "link": format!("/room/{id}#token={token}")});
            if let Some(p) = token_of(Access::Principal(r)) {
                seat["principal_token"] = p.clone().into();
                seat["principal_link"] = format!("/room/{id}#token={p}").into();
            }
            seats.insert(role.name.clone(), seat);
        }
    }
    let owner = token_of(Access::Owner).unwrap_or_default();
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": id,
            "status": status.name(),
            "owner_token": owner,
            "owner_link": format!("/owner/{id}#token={owner}"),
            "auditor_token": token_of(Access::Auditor),
            "owner_sees": spec.owner_sees.name(),
            "seats": seats,
        })),
    )
        .into_response())
}

/// Sessions waiting or running.
fn live_sessions(app: &App) -> usize {
    // Not holding the map's lock while each session's is taken.
    let all: Vec<Arc<Live>> = app
        .sessions
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .values()
        .cloned()
        .collect();
    all.iter()
        .filter(|live| matches!(live.status(), Status::Waiting | Status::Running))
        .count()
}

async fn view(
    State(app): State<Arc<App>>,
    SessionId(id): SessionId,
    headers: HeaderMap,
    query: Result<axum::extract::Query<ViewQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let since = match query {
        Ok(axum::extract::Query(q)) => q.since.unwrap_or(0),
        Err(e) => return Err(ApiError::bad_request(format!("query: {}", e.body_text()))),
    };
    let live = session(&app, &id).await?;
    let access = authorize(&app, &live, bearer(&headers)?)?;
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        live.view(access, since),
    )
        .into_response())
}

/// `GET /api/sessions/{id}?since=N`: only the events from number N on.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ViewQuery {
    since: Option<usize>,
}
