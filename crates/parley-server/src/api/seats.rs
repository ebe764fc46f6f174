//! What a seat's token opens: joining, evaluating, reading its own preferences,
//! writing messages, acting, and a principal's ratification.

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct JoinBody {
    #[serde(default)]
    confide: bool,
}

pub(super) async fn join(
    State(app): State<Arc<App>>,
    SessionId(id): SessionId,
    headers: HeaderMap,
    body: Result<JsonBody<JoinBody>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let live = session(&app, &id).await?;
    let role = seat_role(&app, &live, &headers, "only a seat's holder joins it")?;
    let JsonBody(body) = body?;
    let joining = Arc::clone(&live);
    let receipt = detached(async move { joining.join(role, body.confide).await }).await?;
    Ok(Json(
        json!({"joined": true, "status": live.status().name(), "receipt": receipt}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EvaluateBody {
    outcome: std::collections::BTreeMap<String, String>,
}

pub(super) async fn evaluate(
    State(app): State<Arc<App>>,
    SessionId(id): SessionId,
    headers: HeaderMap,
    body: Result<JsonBody<EvaluateBody>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let live = session(&app, &id).await?;
    let access = authorize(&app, &live, bearer(&headers)?)?;
    let JsonBody(body) = body?;
    match access {
        Access::Seat(r) | Access::Principal(r) if r < live.scenario().n_parties() => {
            Ok(Json(json!({"utility": live.evaluate(r, &body.outcome)?})))
        }
        // The mediator's seat: the confiding parties' utilities of its draft.
        Access::Seat(r) if Some(r) == live.spec.mediator_index() => {
            Ok(Json(live.evaluate_for_mediator(&body.outcome)?))
        }
        _ => Err(forbidden(
            "only a seat evaluates outcomes: a party for itself, the mediator for the \
             parties that confided in it",
        )),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DraftBody {
    outcome: std::collections::BTreeMap<String, String>,
    /// The tone: hawkish, neutral or cooperative (default).
    #[serde(default)]
    persona: Option<String>,
}

/// Drafts running at once, server-wide: each holds a thread while its model answers.
static DRAFTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);

/// `POST /api/sessions/{id}/draft`: the drafting assistant of a party's room. A model
/// (the server's `OPENAI_BASE_URL`) drafts a message explaining `outcome`, from this
/// seat's own view only (its preferences in words, the words said to it), through
/// the seat's message filter; the draft is returned to the seat and nothing is sent
/// or stored: the person edits it and sends it, or not.
pub(super) async fn draft(
    State(app): State<Arc<App>>,
    SessionId(id): SessionId,
    headers: HeaderMap,
    body: Result<JsonBody<DraftBody>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let live = session(&app, &id).await?;
    let role = seat_role(
        &app,
        &live,
        &headers,
        "only a seat's holder asks for drafts",
    )?;
    if role >= live.scenario().n_parties() {
        return Err(forbidden(
            "the drafting assistant writes for a party's seat",
        ));
    }
    let JsonBody(body) = body?;
    let persona = body.persona.as_deref().unwrap_or("cooperative");
    if parley_llm::Persona::parse(persona).is_none() {
        return Err(ApiError::bad_request(format!(
            "persona: {persona:?} is not hawkish, neutral or cooperative"
        )));
    }
    let endpoint = parley_llm::Endpoint::from_env().map_err(|e| {
        ApiError::unavailable(format!(
            "the drafting assistant needs a language model: {e}"
        ))
    })?;
    let inputs = live.draft_inputs(role, &body.outcome)?;
    // The slot goes with the model's request: a client that leaves does not free it
    // while the request still runs.
    let Ok(slot) = DRAFTS.try_acquire() else {
        return Err(ApiError::too_many(
            "the drafting assistant is busy with other drafts; try again shortly",
            2,
        ));
    };
    let spec = format!("llm:persona={persona}:retries=1:timeout=60");
    let drafted = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        inputs.draft(&spec, endpoint)
    })
    .await
    .map_err(ApiError::internal)?;
    match drafted {
        Ok(d) => Ok(Json(json!({
            "text": d.text,
            "filtered": d.filtered,
            "sent": false,
            "model_calls": d.calls.iter().map(|c| json!({
                "prompt": c.prompt, "reply": c.reply, "note": c.note,
            })).collect::<Vec<_>>(),
        }))),
        Err(e) => Err(ApiError::new(StatusCode::BAD_GATEWAY, e)),
    }
}

/// `GET /api/sessions/{id}/preferences`: a party's seat (or its principal) reads its
/// own preferences in the native scenario format, in one call (its utility function,
/// its reservation value or alternative, its red lines, its discount), with the issues
/// they refer to; `preferences` is null while an agenda party has not set them.
/// Nobody else reads them: not the other parties, the mediator or the owner.
pub(super) async fn preferences(
    State(app): State<Arc<App>>,
    SessionId(id): SessionId,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let live = session(&app, &id).await?;
    match authorize(&app, &live, bearer(&headers)?)? {
        Access::Seat(r) | Access::Principal(r) if r < live.scenario().n_parties() => {
            let model = parley_formats::native::to_model(&live.scenario());
            Ok(Json(json!({
                "party": live.spec.roles[r].name,
                "preferences": live.own_preferences(r),
                "sets_own": live.sets_own_preferences(r),
                "issues": model.issues,
                "format": "the native scenario format (docs/scenario-format.md): one \
                           party's fields but its name and briefing",
            })))
        }
        _ => Err(forbidden(
            "only a party's seat reads preferences, and only its own",
        )),
    }
}

/// `PUT /api/sessions/{id}/preferences`: in an agenda session, a party's seat sets its
/// own preferences (the native format's party fields: `utility`, and `reservation` or
/// `alternative`, `red_lines`, `discount`) until the talks start.
pub(super) async fn set_preferences(
    State(app): State<Arc<App>>,
    SessionId(id): SessionId,
    headers: HeaderMap,
    body: Result<JsonBody<parley_formats::native::Preferences>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let live = session(&app, &id).await?;
    let role = seat_role(
        &app,
        &live,
        &headers,
        "only a party's seat sets its preferences",
    )?;
    let JsonBody(body) = body?;
    let setting = Arc::clone(&live);
    let receipt = detached(async move { setting.set_preferences(role, body).await }).await?;
    Ok(Json(
        json!({"set": true, "status": live.status().name(), "receipt": receipt}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MessageBody {
    to: String,
    text: String,
}

/// `POST /api/sessions/{id}/messages`: a seat (party or mediator) writes to a role or
/// to every role.
pub(super) async fn message(
    State(app): State<Arc<App>>,
    SessionId(id): SessionId,
    headers: HeaderMap,
    body: Result<JsonBody<MessageBody>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let live = session(&app, &id).await?;
    let role = seat_role(
        &app,
        &live,
        &headers,
        "only a seat's holder writes messages",
    )?;
    let JsonBody(body) = body?;
    let writing = Arc::clone(&live);
    let receipt =
        detached(async move { writing.message(role, &body.to, &body.text).await }).await?;
    Ok(Json(json!({
        "sent": true,
        "receipt": receipt,
        "events_total": live.events_total(Access::Seat(role)),
    })))
}

pub(super) async fn act(
    State(app): State<Arc<App>>,
    SessionId(id): SessionId,
    headers: HeaderMap,
    body: Result<JsonBody<ActionBody>, ApiError>,
) -> Result<Response, ApiError> {
    let live = session(&app, &id).await?;
    let role = seat_role(&app, &live, &headers, "only a seat's holder acts for it")?;
    let JsonBody(body) = body?;
    let is_mediator = Some(role) == live.spec.mediator_index();
    let mediator_action = matches!(body, ActionBody::Text { .. });
    if is_mediator != mediator_action {
        return Err(ApiError::conflict(if is_mediator {
            "the mediator answers with texts"
        } else {
            "only the mediator puts texts"
        }));
    }
    let key = idempotency_key(&headers)?;
    let acting = Arc::clone(&live);
    let acted = detached(async move { acting.act(role, body, key).await }).await?;
    // The seat's view, numbered as GET numbers it, has this many events now.
    let events_total = live.events_total(Access::Seat(role));
    Ok(if !acted.delivered {
        (
            StatusCode::ACCEPTED,
            Json(json!({"receipt": acted.receipt, "pending_ratification": true, "events_total": events_total})),
        )
            .into_response()
    } else if !acted.settled {
        (
            StatusCode::OK,
            Json(json!({"receipt": acted.receipt, "settled": false, "events_total": events_total})),
        )
            .into_response()
    } else {
        (
            StatusCode::OK,
            Json(json!({"receipt": acted.receipt, "events_total": events_total})),
        )
            .into_response()
    })
}

/// How long a request waits for its action to be stored and settled before it is
/// answered 503 (the action goes on: a retry with the same `Idempotency-Key` learns
/// its outcome).
const ACTION_WAIT: Duration = Duration::from_secs(15);

/// Runs a state-changing call to its end even if the client goes away: once an action
/// is logged it reaches the engine, whatever became of the request. The request waits
/// at most [`ACTION_WAIT`].
pub(super) async fn detached<T: Send + 'static>(
    work: impl std::future::Future<Output = Result<T, ApiError>> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::time::timeout(ACTION_WAIT, tokio::spawn(work)).await {
        Ok(joined) => joined.map_err(ApiError::internal)?,
        Err(_) => Err(ApiError::unavailable(crate::live::NOT_YET_STORED)),
    }
}

/// The `Idempotency-Key` header, if given: 1 to 128 visible ASCII characters.
pub(super) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(k) if (1..=128).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(k.to_string()))
        }
        _ => Err(ApiError::bad_request(
            "Idempotency-Key: must be 1 to 128 visible ASCII characters",
        )),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RatifyBody {
    confirm: bool,
}

pub(super) async fn ratify(
    State(app): State<Arc<App>>,
    SessionId(id): SessionId,
    headers: HeaderMap,
    body: Result<JsonBody<RatifyBody>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let live = session(&app, &id).await?;
    let Access::Principal(role) = authorize(&app, &live, bearer(&headers)?)? else {
        return Err(forbidden("only the seat's principal ratifies"));
    };
    let JsonBody(body) = body?;
    let key = idempotency_key(&headers)?;
    let confirm = body.confirm;
    let receipt = detached(async move { live.ratify(role, confirm, key).await }).await?;
    Ok(Json(json!({"receipt": receipt, "confirmed": body.confirm})))
}
