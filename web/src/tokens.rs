//! API tokens: the admins' page (`/admin/jetons`) to create and revoke them, and the
//! journal of their use.
//!
//! A token is shown once, on the page that creates it; the store keeps its SHA-256 only
//! (see [`crate::auth::bearer_session`] for how requests are authenticated). Every request
//! carrying a bearer token is written to the security log (`api_token` events: token name,
//! method, path, status, remote address), accepted or not.

use std::net::SocketAddr;

use axum::Form;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use guichet_tickets::SecurityEvent;
use guichet_tickets::api_tokens::TokenRole;
use serde::Deserialize;

use crate::AppState;
use crate::auth::{
    Need, Session, api_token_hash, bearer_token, new_api_token, require_form, require_page,
};
use crate::html::{escape, page};

/// Runs around every `/api/v1` request: a request with a bearer token is journaled in the
/// security log with its outcome, and an accepted one updates the token's last use.
pub(crate) async fn journal_bearer_use(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = bearer_token(request.headers()).map(str::to_owned) else {
        return next.run(request).await;
    };
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let remote = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let store = state.backend.store();
    let stored = store
        .live_api_token(&api_token_hash(&token))
        .await
        .ok()
        .flatten();
    let response = next.run(request).await;
    let status = response.status();
    let now = state.backend.now();
    let accepted = stored.is_some() && status.is_success();
    let event = SecurityEvent {
        at: now,
        login: stored.as_ref().map_or_else(
            || "(jeton inconnu)".to_owned(),
            |t| format!("jeton:{}", t.name),
        ),
        event: "api_token".to_owned(),
        success: accepted,
        remote_addr: remote,
        detail: Some(format!("{method} /api/v1{path} → {}", status.as_u16())),
    };
    if let Err(e) = store.log_security_event(&event).await {
        tracing::error!(error = %e, "API token use not logged");
    }
    if let Some(t) = stored.filter(|_| accepted)
        && let Err(e) = store.touch_api_token(t.id, now).await
    {
        tracing::warn!(error = %e, "API token last use not recorded");
    }
    response
}

fn role_label(role: TokenRole) -> &'static str {
    match role {
        TokenRole::Statistics => "lecture des statistiques",
        TokenRole::Supervisor => "superviseur",
    }
}

async fn tokens_page_with(state: &AppState, session: &Session, notice: &str) -> Response {
    let tokens = match state.backend.store().api_tokens().await {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "API tokens unreadable");
            Vec::new()
        }
    };
    let zone = state.backend.settings().zone;
    let when = |t: chrono::DateTime<chrono::Utc>| {
        t.with_timezone(&zone).format("%d/%m/%Y %H:%M").to_string()
    };
    let mut rows = String::new();
    for t in &tokens {
        let status = match t.revoked_at {
            Some(at) => format!("révoqué le {}", when(at)),
            None => format!(
                "<form method=\"post\" action=\"/admin/jetons/{id}/revoquer\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
                 actif <button type=\"submit\" id=\"revoquer-{id}\">Révoquer</button></form>",
                id = t.id,
                csrf = escape(&session.csrf)
            ),
        };
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td><code>{}…</code></td><td>{}</td><td>{}</td><td>{}</td><td>{status}</td></tr>",
            escape(&t.name),
            role_label(t.role),
            escape(&t.prefix),
            escape(&t.created_by),
            when(t.created_at),
            t.last_used_at.map_or_else(|| "jamais".to_owned(), when),
        ));
    }
    if tokens.is_empty() {
        rows.push_str("<tr><td colspan=\"7\">Aucun jeton.</td></tr>");
    }
    let body = format!(
        "{notice}<p>Un jeton d'API permet à un programme (outil de gestion des services du \
         ministère, tableau de bord statistique) d'appeler l'API <code>/api/v1</code> avec l'en-tête \
         <code>Authorization: Bearer …</code>. Un jeton « lecture des statistiques » ne lit que \
         <code>/api/v1/reports</code> et <code>/api/v1/dashboards</code> ; un jeton « superviseur » \
         a les droits d'un superviseur. Chaque utilisation est inscrite au journal de sécurité.</p>\
         <h2>Créer un jeton</h2>\
         <form method=\"post\" action=\"/admin/jetons\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <p><label for=\"nom\">Nom</label> <input id=\"nom\" name=\"name\" required maxlength=\"100\"> \
         <label for=\"role\">Rôle</label> <select id=\"role\" name=\"role\">\
         <option value=\"statistics\">lecture des statistiques</option>\
         <option value=\"supervisor\">superviseur</option></select> \
         <button type=\"submit\" id=\"creer-jeton\">Créer</button></p></form>\
         <h2>Jetons</h2><table id=\"jetons\"><thead><tr><th>Nom</th><th>Rôle</th><th>Début</th>\
         <th>Créé par</th><th>Créé le</th><th>Dernière utilisation</th><th>État</th></tr></thead>\
         <tbody>{rows}</tbody></table>",
        csrf = escape(&session.csrf)
    );
    page(
        &state.backend.settings().server_name,
        "Jetons d'API",
        Some(session),
        &body,
    )
    .into_response()
}

/// `GET /admin/jetons`: the tokens and the creation form (admins only).
pub(crate) async fn tokens_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match require_page(&state, &headers, Need::Admin).await {
        Ok(session) => tokens_page_with(&state, &session, "").await,
        Err(r) => r,
    }
}

/// The creation form's fields.
#[derive(Deserialize)]
pub(crate) struct CreateForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
}

/// `POST /admin/jetons`: creates a token and shows it once.
pub(crate) async fn create_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<CreateForm>,
) -> Response {
    let session = match require_form(&state, &headers, Need::Admin, form.csrf.as_deref()).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(role) = form.role.parse::<TokenRole>() else {
        let notice = "<p role=\"alert\" class=\"erreur\">Rôle de jeton inconnu.</p>";
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            tokens_page_with(&state, &session, notice).await,
        )
            .into_response();
    };
    let token = new_api_token();
    let prefix: String = token.chars().take(8).collect();
    match state
        .backend
        .store()
        .create_api_token(
            &form.name,
            role,
            &api_token_hash(&token),
            &prefix,
            &session.login,
            state.backend.now(),
        )
        .await
    {
        Ok(_) => {
            tracing::info!(actor = %session.login, name = %form.name.trim(), role = role.as_str(), "API token created");
            let notice = format!(
                "<div class=\"ok\" role=\"status\"><p>Jeton « {} » créé. Copiez-le maintenant : il ne \
                 sera plus jamais affiché.</p><p><code id=\"nouveau-jeton\">{}</code></p></div>",
                escape(form.name.trim()),
                escape(&token)
            );
            tokens_page_with(&state, &session, &notice).await
        }
        Err(e) => {
            let notice = format!(
                "<p role=\"alert\" class=\"erreur\">Jeton non créé : {}.</p>",
                escape(&e.to_string())
            );
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                tokens_page_with(&state, &session, &notice).await,
            )
                .into_response()
        }
    }
}

/// The revocation form's fields.
#[derive(Deserialize)]
pub(crate) struct RevokeForm {
    #[serde(default)]
    csrf: Option<String>,
}

/// `POST /admin/jetons/{id}/revoquer`.
pub(crate) async fn revoke_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<RevokeForm>,
) -> Response {
    let session = match require_form(&state, &headers, Need::Admin, form.csrf.as_deref()).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match state
        .backend
        .store()
        .revoke_api_token(id, &session.login, state.backend.now())
        .await
    {
        Ok(_) => {
            tracing::info!(actor = %session.login, token = id, "API token revoked");
            Redirect::to("/admin/jetons").into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "API token not revoked");
            let notice = "<p role=\"alert\" class=\"erreur\">Le jeton n'a pas pu être révoqué.</p>";
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                tokens_page_with(&state, &session, notice).await,
            )
                .into_response()
        }
    }
}
