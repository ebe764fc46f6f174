//! What the host's tokens open: the scenario preview and the session list (the
//! creator token); cancelling, re-issuing links and the full log (the owner's).

use super::*;

/// `POST /api/scenarios/preview` (creator token): an uploaded scenario read and
/// checked as creating a session would, described as `GET /api/scenarios` describes
/// the bundled ones, with the parties that set their own preferences (an agenda) and
/// what a Genius import repaired or ignored. Nothing is stored.
pub(super) async fn preview(
    State(app): State<Arc<App>>,
    Extension(limiter): Extension<Arc<Limiter>>,
    req: Request,
) -> Result<Json<Value>, ApiError> {
    creator(&app, req.headers())?;
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct PreviewBody {
        scenario: crate::spec::ScenarioRef,
    }
    let JsonBody(body) = JsonBody::<PreviewBody>::from_request(req, &()).await?;
    let bundled = |id: &str| {
        app.bundled
            .iter()
            .find(|b| b.id == id)
            .map(|b| b.json.clone())
    };
    let (json, id, notes) = body.scenario.resolve(&bundled, &limiter.limits)?;
    let agenda = parley_formats::native::Agenda::parse_json(&json, "scenario.upload")
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let scenario = agenda
        .placeholder("scenario.upload")
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    crate::spec::check_scenario_size(&scenario, &limiter.limits)?;
    let mut described = crate::live::public_scenario(&scenario);
    described["id"] = id.into();
    described["sets_own_preferences"] = json!(scenario
        .parties()
        .iter()
        .zip(agenda.unset())
        .filter(|(_, open)| *open)
        .map(|(p, _)| p.name.clone())
        .collect::<Vec<_>>());
    described["notes"] = json!(notes);
    Ok(Json(described))
}

/// `GET /api/sessions` (creator token): the host's dashboard — every session the
/// server holds, newest state first: id, scenario, protocol, status, roles and who
/// holds them. Sessions that ended and left memory are listed by id (`"loaded":
/// false`); reading one loads it back.
pub(super) async fn list(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    creator(&app, &headers)?;
    let mut sessions: Vec<Value> = app
        .sessions
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .values()
        .map(|live| {
            json!({
                "id": live.id,
                "scenario": live.scenario().name(),
                "protocol": live.spec.protocol.name(),
                "rounds": live.spec.rounds,
                "status": live.status().name(),
                "roles": live.spec.roles.iter().map(|r| json!({
                    "name": r.name,
                    "held_by": match &r.holder {
                        crate::spec::Holder::Agent { .. } => "agent",
                        crate::spec::Holder::Seat { kind, .. } => kind.as_str(),
                    },
                })).collect::<Vec<_>>(),
                "loaded": true,
            })
        })
        .collect();
    sessions.extend(
        app.evicted_ids()
            .into_iter()
            .map(|id| json!({"id": id, "status": "ended", "loaded": false})),
    );
    sessions.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    Ok(Json(json!({ "sessions": sessions })))
}

/// `POST /api/sessions/{id}/cancel` (the owner's token): ends the session with no
/// deal (`reason: "cancelled"`), logged; each party gets what walking away is worth
/// then. 409 once it is over.
pub(super) async fn cancel(
    State(app): State<Arc<App>>,
    SessionId(id): SessionId,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let live = session(&app, &id).await?;
    match authorize(&app, &live, bearer(&headers)?)? {
        Access::Owner => {}
        _ => return Err(forbidden("only the session's owner cancels it")),
    }
    let cancelling = Arc::clone(&live);
    let receipt = seats::detached(async move { cancelling.cancel().await }).await?;
    Ok(Json(
        json!({"cancelled": true, "status": live.status().name(), "receipt": receipt}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReissueBody {
    role: String,
    #[serde(default)]
    principal: bool,
}

/// `POST /api/sessions/{id}/reissue` (the owner's token), `{"role", "principal"?}`: a
/// new invitation link for a seat (or its principal); the old link stops working at
/// once. The new token is shown in this answer only.
pub(super) async fn reissue(
    State(app): State<Arc<App>>,
    SessionId(id): SessionId,
    headers: HeaderMap,
    body: Result<JsonBody<ReissueBody>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let live = session(&app, &id).await?;
    match authorize(&app, &live, bearer(&headers)?)? {
        Access::Owner => {}
        _ => return Err(forbidden("only the session's owner re-issues links")),
    }
    let JsonBody(body) = body?;
    let role = live
        .spec
        .role_index(&body.role)
        .ok_or_else(|| ApiError::bad_request(format!("role: there is no role {:?}", body.role)))?;
    let access = if body.principal {
        Access::Principal(role)
    } else {
        Access::Seat(role)
    };
    let token = new_token();
    let hash = token_hash(&token);
    let reissuing = Arc::clone(&live);
    let receipt = seats::detached(async move { reissuing.reissue(access, hash).await }).await?;
    app.token_index
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(hash, id.clone());
    Ok(Json(json!({
        "role": live.spec.roles[role].name,
        "principal": body.principal,
        "token": token,
        "link": format!("/room/{id}#token={token}"),
        "receipt": receipt,
    })))
}

pub(super) async fn trace(
    State(app): State<Arc<App>>,
    SessionId(id): SessionId,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let live = session(&app, &id).await?;
    match authorize(&app, &live, bearer(&headers)?)? {
        Access::Auditor => Ok(Json(live.trace().await?)),
        Access::Owner if live.spec.owner_sees == crate::spec::OwnerSees::All => {
            Ok(Json(live.trace().await?))
        }
        Access::Owner => Err(forbidden(
            "the full log holds every private move: it is for the owner only when the \
             session's owner_sees is \"all\" (the server's operator audits it with \
             parley audit)",
        )),
        _ => Err(forbidden("the full log is for auditors")),
    }
}
