//! The JSON API, `/api/v1`, described by the OpenAPI 3 document `/api/v1/openapi.json`.
//!
//! Authentication is the web session cookie; writes (PUT, DELETE) also need the session's
//! CSRF token in the `X-CSRF-Token` header (given by `GET /api/v1/session`). Programs use an
//! API token instead (`Authorization: Bearer gch_…`, created by an admin on `/admin/jetons`):
//! a supervisor token passes the supervisor checks without CSRF, a statistics token reads
//! only `/reports` and `/dashboards`. Role checks are the pages' ones. Errors are JSON: `{"error": "<French sentence>", "field"?}`; store failures all go through
//! [`store_error`] (the policy is in docs/api.md, « Errors »).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use guichet_tickets::StoreError;
use guichet_tickets::admin::MessageKind;
use guichet_tickets::reports::{Cell, REPORT_HEADER, ReportPeriod, report_cells};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::{Session, current, same_token};
use crate::{AppState, kind_slug, parse_kind_slug};

/// The OpenAPI document.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Header carrying the CSRF token on API writes.
pub const CSRF_HEADER: &str = "x-csrf-token";

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/session", get(session_info))
        .route("/snapshot", get(snapshot))
        .route("/events", get(crate::pages::wallboard_events))
        .route("/messages", get(all_messages))
        .route(
            "/lines/{line}/messages/{kind}",
            get(get_message).put(put_message).delete(delete_message),
        )
        .route("/agents/{login}/state", axum::routing::put(put_agent_state))
        .route("/journal", get(journal))
        .route("/reports", get(reports))
        .route("/dashboards", get(crate::dashboards::dashboard_api))
        .merge(crate::desk::api_routes())
        .merge(crate::admin::api_routes())
        .merge(crate::admin_settings::api_routes())
        .merge(crate::incidents::api_routes())
        .merge(crate::sla_changes::api_routes())
        .merge(crate::call_log::api_routes())
        .fallback(not_found)
}

pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": message.into() }))).into_response()
}

/// A request's JSON body, or the 400 that says in French why it does not read; `expected`
/// completes the message (e.g. ` (attendu {"vip": true})`, or empty).
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(
    body: &[u8],
    expected: &str,
) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            format!("corps JSON invalide{expected} : {e}"),
        )
    })
}

/// The French name of a store row kind (`StoreError::NotFound::what`), for the 404 message.
fn row_name_fr(what: &str) -> &'static str {
    match what {
        "ticket" => "ticket",
        "call" => "appel",
        "person" => "personne",
        "incident" => "incident",
        "category" => "catégorie",
        "calendar exception" => "exception de calendrier",
        "open task" => "tâche",
        "pending callback" => "demande de rappel",
        "saved message" => "message enregistré",
        _ => "élément",
    }
}

/// The status, the field (when the store names one) and the French sentence of a store
/// failure: the one policy of the API, documented in docs/api.md (« Errors »).
pub(crate) fn store_failure(e: &StoreError) -> (StatusCode, Option<&'static str>, String) {
    match e {
        StoreError::NotFound { what, id } => (
            StatusCode::NOT_FOUND,
            None,
            format!("{} n° {id} introuvable", row_name_fr(what)),
        ),
        StoreError::Invalid { field, reason } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(*field),
            reason.clone(),
        ),
        StoreError::IllegalTransition { from, to } => (
            StatusCode::CONFLICT,
            Some("status"),
            format!(
                "le ticket ne peut pas passer de l'état « {} » à l'état « {} »",
                crate::desk::status_label(*from),
                crate::desk::status_label(*to)
            ),
        ),
        e if e.is_unique_violation() => (
            StatusCode::CONFLICT,
            None,
            "cet élément existe déjà (un autre porte le même nom ou identifiant)".to_owned(),
        ),
        e if e.is_foreign_key_violation() => (
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            "un identifiant donné ne désigne aucun élément existant".to_owned(),
        ),
        other => {
            tracing::warn!(error = %other, "store failure answered 500 by the API");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                None,
                "erreur de la base de données : réessayez, puis prévenez l'administrateur"
                    .to_owned(),
            )
        }
    }
}

/// The API's response to a store failure: `{"error": "<French>", "field"?}` with the status
/// of [`store_failure`].
pub(crate) fn store_error(e: &StoreError) -> Response {
    let (status, field, message) = store_failure(e);
    let body = match field {
        Some(field) => json!({ "error": message, "field": field }),
        None => json!({ "error": message }),
    };
    (status, axum::Json(body)).into_response()
}

/// `ok(value)` on success, the [`store_error`] response otherwise.
pub(crate) fn store_result<T>(
    result: Result<T, StoreError>,
    ok: impl FnOnce(T) -> Response,
) -> Response {
    match result {
        Ok(value) => ok(value),
        Err(e) => store_error(&e),
    }
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "ressource inconnue")
}

/// The session of an API call, checked for role and (for writes) CSRF.
pub(crate) async fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    supervisor: bool,
    write: bool,
) -> Result<Session, Response> {
    if let Some(token) = crate::auth::bearer_token(headers) {
        return authorize_bearer(state, token).await;
    }
    let session = current(state, headers)
        .await
        .ok_or_else(|| error(StatusCode::UNAUTHORIZED, "authentification requise"))?;
    if supervisor && !session.is_supervisor() {
        return Err(error(
            StatusCode::FORBIDDEN,
            "réservé aux superviseurs et aux administrateurs",
        ));
    }
    if write {
        let token = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        if !token.is_some_and(|t| same_token(t, &session.csrf)) {
            return Err(error(
                StatusCode::FORBIDDEN,
                "en-tête X-CSRF-Token absent ou invalide",
            ));
        }
    }
    Ok(session)
}

/// A bearer-token call: a supervisor token may do what a supervisor session does, without
/// CSRF (no cookie, nothing a browser sends on its own); a statistics token only reads the
/// statistics (see [`authorize_statistics`]).
async fn authorize_bearer(state: &AppState, token: &str) -> Result<Session, Response> {
    use guichet_tickets::api_tokens::TokenRole;
    match crate::auth::bearer_session(state, token).await {
        None => Err(error(
            StatusCode::UNAUTHORIZED,
            "jeton d'API inconnu ou révoqué",
        )),
        Some((session, TokenRole::Supervisor)) => Ok(session),
        Some((_, TokenRole::Statistics)) => Err(error(
            StatusCode::FORBIDDEN,
            "ce jeton d'API ne donne accès qu'à la lecture des statistiques",
        )),
    }
}

/// Read access to the statistics (reports, dashboards): a supervisor or admin session, or
/// any live API token (statistics or supervisor).
pub(crate) async fn authorize_statistics(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Session, Response> {
    if let Some(token) = crate::auth::bearer_token(headers) {
        return match crate::auth::bearer_session(state, token).await {
            Some((session, _)) => Ok(session),
            None => Err(error(
                StatusCode::UNAUTHORIZED,
                "jeton d'API inconnu ou révoqué",
            )),
        };
    }
    authorize(state, headers, true, false).await
}

/// A JSON error response, for the other API modules.
pub(crate) fn api_error(status: StatusCode, message: impl Into<String>) -> Response {
    error(status, message)
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn session_info(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match authorize(&state, &headers, false, false).await {
        Ok(s) => axum::Json(json!({
            "login": s.login,
            "name": s.name,
            "roles": s.roles,
            "csrf_token": s.csrf,
        }))
        .into_response(),
        Err(r) => r,
    }
}

async fn snapshot(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(r) = authorize(&state, &headers, true, false).await {
        return r;
    }
    match state.backend.snapshot().await {
        Ok(s) => axum::Json(s).into_response(),
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("le standard ne répond pas : {e}"),
        ),
    }
}

fn line_and_kind(state: &AppState, line: &str, kind: &str) -> Result<MessageKind, Response> {
    if !state
        .backend
        .settings()
        .lines
        .iter()
        .any(|l| l.number == line)
    {
        return Err(error(
            StatusCode::NOT_FOUND,
            format!("ligne inconnue : {line}"),
        ));
    }
    parse_kind_slug(kind).ok_or_else(|| {
        error(
            StatusCode::BAD_REQUEST,
            format!("type de message inconnu « {kind} » : attendu « crise » ou « dissuasion »"),
        )
    })
}

async fn get_message(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((line, kind)): Path<(String, String)>,
) -> Response {
    if let Err(r) = authorize(&state, &headers, true, false).await {
        return r;
    }
    let kind = match line_and_kind(&state, &line, &kind) {
        Ok(k) => k,
        Err(r) => return r,
    };
    match state
        .backend
        .store()
        .active_message(&line, kind, state.backend.now())
        .await
    {
        Ok(Some(m)) => axum::Json(json!({
            "line": line,
            "kind": kind_slug(kind),
            "active": true,
            "text": m.message.text,
            "version": m.version,
            "author": m.author,
            "created_at": m.created_at,
            "ends_at": m.message.ends_at,
            "audio_url": format!("/superviseur/messages/{line}/{}/ecoute", kind_slug(kind)),
        }))
        .into_response(),
        Ok(None) => axum::Json(json!({ "line": line, "kind": kind_slug(kind), "active": false }))
            .into_response(),
        Err(e) => store_error(&e),
    }
}

/// Every line's crisis and deterrence message, active or not.
async fn all_messages(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(r) = authorize(&state, &headers, true, false).await {
        return r;
    }
    let now = state.backend.now();
    let mut out = Vec::new();
    for line in &state.backend.settings().lines {
        for kind in [MessageKind::Crisis, MessageKind::Deterrence] {
            let active = match state
                .backend
                .store()
                .active_message(&line.number, kind, now)
                .await
            {
                Ok(m) => m,
                Err(e) => return store_error(&e),
            };
            out.push(json!({
                "line": line.number,
                "line_name": line.name,
                "kind": kind_slug(kind),
                "active": active.is_some(),
                "text": active.as_ref().map(|m| m.message.text.clone()),
                "author": active.as_ref().map(|m| m.author.clone()),
                "created_at": active.as_ref().map(|m| m.created_at),
                "ends_at": active.as_ref().and_then(|m| m.message.ends_at),
            }));
        }
    }
    axum::Json(out).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutMessage {
    text: String,
    #[serde(default)]
    ends_at: Option<DateTime<Utc>>,
}

async fn put_message(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((line, kind)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let session = match authorize(&state, &headers, true, true).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let kind = match line_and_kind(&state, &line, &kind) {
        Ok(k) => k,
        Err(r) => return r,
    };
    let put: PutMessage = match json_body(
        &body,
        " (attendu {\"text\": \"…\", \"ends_at\": date RFC 3339 facultative})",
    ) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let text = put.text.trim();
    if text.is_empty() {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "« text » est vide");
    }
    if put.ends_at.is_some_and(|t| t <= state.backend.now()) {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "« ends_at » doit être dans le futur",
        );
    }
    match state
        .backend
        .set_message(session.actor(), &line, kind, text, put.ends_at)
        .await
    {
        Ok(()) => {
            get_message(
                State(state),
                headers,
                Path((line, kind_slug(kind).to_owned())),
            )
            .await
        }
        Err(e) => error(StatusCode::UNPROCESSABLE_ENTITY, e),
    }
}

async fn delete_message(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((line, kind)): Path<(String, String)>,
) -> Response {
    let session = match authorize(&state, &headers, true, true).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let kind = match line_and_kind(&state, &line, &kind) {
        Ok(k) => k,
        Err(r) => return r,
    };
    match state
        .backend
        .remove_message(session.actor(), &line, kind)
        .await
    {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error(StatusCode::UNPROCESSABLE_ENTITY, e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutAgentState {
    action: String,
    #[serde(default)]
    reason: String,
}

/// An agent changes their own state; supervisors and admins change anyone's (force a
/// pause, log out).
async fn put_agent_state(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(login): Path<String>,
    body: Bytes,
) -> Response {
    let session = match authorize(&state, &headers, false, true).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if session.login != login && !session.is_supervisor() {
        return error(
            StatusCode::FORBIDDEN,
            "seuls les superviseurs et les administrateurs changent l'état d'un autre agent",
        );
    }
    let put: PutAgentState = match json_body(
        &body,
        " (attendu {\"action\": \"pause\", \"reason\": \"…\"})",
    ) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let change = match crate::pages::parse_state_change(&put.action, &put.reason) {
        Ok(c) => c,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    match state.backend.agent_state(&login, change).await {
        Ok(()) => {
            tracing::info!(actor = %session.login, agent = %login, action = %put.action, "agent state changed");
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("changement refusé : {e}"),
        ),
    }
}

#[derive(Deserialize)]
struct JournalQuery {
    from: Option<String>,
    to: Option<String>,
}

fn parse_instant(name: &str, s: &str) -> Result<DateTime<Utc>, Response> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            error(
                StatusCode::BAD_REQUEST,
                format!("« {name} » doit être une date RFC 3339 (2026-11-24T10:00:00+01:00)"),
            )
        })
}

async fn journal(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<JournalQuery>,
) -> Response {
    if let Err(r) = authorize(&state, &headers, true, false).await {
        return r;
    }
    let now = state.backend.now();
    let from = match q
        .from
        .as_deref()
        .map(|s| parse_instant("from", s))
        .transpose()
    {
        Ok(t) => t.unwrap_or(now - Duration::days(1)),
        Err(r) => return r,
    };
    let to = match q.to.as_deref().map(|s| parse_instant("to", s)).transpose() {
        Ok(t) => t.unwrap_or(now + Duration::minutes(1)),
        Err(r) => return r,
    };
    if to <= from {
        return error(StatusCode::BAD_REQUEST, "« to » doit suivre « from »");
    }
    match state.backend.store().journal_between(from, to).await {
        Ok(entries) => axum::Json(
            entries
                .into_iter()
                .map(|e| {
                    json!({
                        "at": e.at,
                        "actor": e.actor,
                        "action": e.action,
                        "subject": e.subject,
                        "old_value": e.old_value,
                        "new_value": e.new_value,
                    })
                })
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => store_error(&e),
    }
}

#[derive(Deserialize)]
struct ReportQuery {
    from: Option<String>,
    to: Option<String>,
    period: Option<String>,
    format: Option<String>,
}

pub(crate) fn parse_date(name: &str, s: Option<&str>) -> Result<NaiveDate, Response> {
    let s = s.ok_or_else(|| {
        error(
            StatusCode::BAD_REQUEST,
            format!("paramètre « {name} » obligatoire (AAAA-MM-JJ)"),
        )
    })?;
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
        error(
            StatusCode::BAD_REQUEST,
            format!("« {name} » doit être une date AAAA-MM-JJ"),
        )
    })
}

async fn reports(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ReportQuery>,
) -> Response {
    if let Err(r) = authorize_statistics(&state, &headers).await {
        return r;
    }
    let settings = state.backend.settings();
    let (from, to) = match (
        parse_date("from", q.from.as_deref()),
        parse_date("to", q.to.as_deref()),
    ) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    if to <= from {
        return error(StatusCode::BAD_REQUEST, "« to » doit suivre « from »");
    }
    if (to - from).num_days() > 3 * 366 {
        return error(
            StatusCode::BAD_REQUEST,
            "période trop longue (3 ans au plus)",
        );
    }
    let period = match q.period.as_deref().unwrap_or("day") {
        "day" => ReportPeriod::Day,
        "week" => ReportPeriod::Week,
        "month" => ReportPeriod::Month,
        "quarter" => ReportPeriod::Quarter,
        other => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("« period » inconnue « {other} » : day, week, month ou quarter"),
            );
        }
    };
    let midnight = |d: NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .and_then(|n| n.and_local_timezone(settings.zone).earliest())
            .map(|t| t.with_timezone(&Utc))
    };
    let (Some(start), Some(end)) = (midnight(from), midnight(to)) else {
        return error(StatusCode::BAD_REQUEST, "dates hors du fuseau horaire");
    };
    let rows = match state
        .backend
        .store()
        .report(start, end, period, settings.zone, &settings.stats)
        .await
    {
        Ok(r) => r,
        Err(e) => return store_error(&e),
    };
    let file = format!("indicateurs-{from}-{to}");
    match q.format.as_deref().unwrap_or("json") {
        "json" => {
            let rows: Vec<Value> = rows
                .iter()
                .map(|r| {
                    let cells = report_cells(r);
                    let mut object = serde_json::Map::new();
                    for (h, c) in REPORT_HEADER.iter().zip(cells) {
                        let v = match c {
                            Cell::Text(s) => Value::String(s),
                            Cell::Number(Some(n)) => json!(n),
                            Cell::Number(None) => Value::Null,
                        };
                        object.insert((*h).to_owned(), v);
                    }
                    Value::Object(object)
                })
                .collect();
            axum::Json(json!({
                "from": from,
                "to": to,
                "period": period.as_str(),
                "columns": REPORT_HEADER,
                "rows": rows,
            }))
            .into_response()
        }
        "csv" => {
            let mut out = Vec::new();
            if let Err(e) = guichet_tickets::reports::write_report_csv(&rows, &mut out) {
                return store_error(&e);
            }
            (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{file}.csv\""),
                    ),
                ],
                out,
            )
                .into_response()
        }
        "xlsx" => match guichet_tickets::reports::write_report_xlsx(&rows) {
            Ok(bytes) => (
                [
                    (
                        header::CONTENT_TYPE,
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                            .to_owned(),
                    ),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{file}.xlsx\""),
                    ),
                ],
                bytes,
            )
                .into_response(),
            Err(e) => store_error(&e),
        },
        other => error(
            StatusCode::BAD_REQUEST,
            format!("« format » inconnu « {other} » : json, csv ou xlsx"),
        ),
    }
}
