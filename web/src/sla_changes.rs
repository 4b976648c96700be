//! The API for the ticket changes that move an SLA clock
//! (`guichet_tickets::sla_changes`): escalation to another support group,
//! a due date moved with the user's agreement, and an exclusion from the
//! indicators (supervisors only; the supervisor is the approver). Each
//! writes its audit rows; the live SLA runner applies them to the clock.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, Utc};
use guichet_tickets::StoreError;
use guichet_tickets::ticket::Priority;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::api::{api_error, authorize};
use crate::auth::Session;

/// The routes (nested under `/api/v1`).
pub(crate) fn api_routes() -> Router<AppState> {
    Router::new()
        .route("/tickets/{id}/escalation", post(escalate))
        .route("/tickets/{id}/due-date", post(move_due_date))
        .route("/tickets/{id}/sla-exclusion", post(exclude))
}

#[derive(Deserialize)]
struct Escalation {
    group_id: i64,
    #[serde(default)]
    priority: Option<String>,
    reason: String,
}

#[derive(Deserialize)]
struct DueDate {
    due: DateTime<Utc>,
    reason: String,
}

#[derive(Deserialize)]
struct Exclusion {
    justification: String,
}

/// The session (a write: CSRF or bearer token) and the JSON body, or the error response.
async fn read<T: DeserializeOwned>(
    state: &AppState,
    headers: &HeaderMap,
    body: &Bytes,
    supervisor: bool,
    expected: &str,
) -> Result<(Session, T), Response> {
    let session = authorize(state, headers, supervisor, true).await?;
    let parsed = crate::api::json_body(body, &format!(" (attendu {expected})"))?;
    Ok((session, parsed))
}

/// 204 on success, the API's store-error policy otherwise ([`crate::api::store_error`]).
fn done(result: Result<(), StoreError>) -> Response {
    crate::api::store_result(result, |()| StatusCode::NO_CONTENT.into_response())
}

/// `POST /api/v1/tickets/{id}/escalation`: `{"group_id", "reason", "priority"?}`.
async fn escalate(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let expected = "{\"group_id\", \"reason\", \"priority\" facultative (P0 à P3)}";
    let (session, e) = match read::<Escalation>(&state, &headers, &body, false, expected).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let raise_to = match e.priority.as_deref() {
        None | Some("") => None,
        Some(code) => match Priority::ALL.into_iter().find(|p| p.code() == code) {
            Some(p) => Some(p),
            None => {
                return api_error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("priorité inconnue « {code} » : P0, P1, P2 ou P3"),
                );
            }
        },
    };
    let store = state.backend.store();
    let result = store
        .escalate_ticket(
            id,
            e.group_id,
            raise_to,
            &e.reason,
            &session.login,
            state.backend.now(),
        )
        .await;
    done(result)
}

/// `POST /api/v1/tickets/{id}/due-date`: `{"due" (RFC 3339), "reason"}`.
async fn move_due_date(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let expected = "{\"due\" (date RFC 3339), \"reason\"}";
    let (session, d) = match read::<DueDate>(&state, &headers, &body, false, expected).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let store = state.backend.store();
    let result = store
        .change_due_date(id, d.due, &d.reason, &session.login, state.backend.now())
        .await;
    done(result)
}

/// `POST /api/v1/tickets/{id}/sla-exclusion`: `{"justification"}`; supervisors only, who
/// approve the exclusion by making it.
async fn exclude(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let expected = "{\"justification\"}";
    let (session, x) = match read::<Exclusion>(&state, &headers, &body, true, expected).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let store = state.backend.store();
    let result = store
        .exclude_from_sla(
            id,
            &x.justification,
            &session.name,
            &session.login,
            state.backend.now(),
        )
        .await;
    done(result)
}
