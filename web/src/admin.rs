//! Administration: users and roles (`/admin/utilisateurs`), the directory (`/admin/annuaire`:
//! CSV import with progress and a report of rejected rows, VIP flags, P0 windows), and the
//! message features beyond typed text (`/superviseur/messages`: start and end times, WAV
//! uploads, the library of saved messages), with their JSON equivalents under `/api/v1`.
//!
//! Every change goes through the store, which journals it (who, when, what, before/after) in
//! the same transaction. Messages saved here are picked up by the switchboard from the store
//! within a second (it polls the active message of each line), so nothing needs a restart.
//! Uploads are raw request bodies (the page's script sends the file's bytes) carrying the
//! CSRF token in the `X-CSRF-Token` header, like every API write.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post, put};
use axum::{Form, Json};
use chrono::{DateTime, Duration, Utc};
use guichet_tickets::admin::{Agent, MessageKind, NewMessage};
use guichet_tickets::directory::ImportReport;
use guichet_tickets::{JournalEntry, SecurityEvent, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::api::CSRF_HEADER;
use crate::auth::{
    LOCK_WINDOW_MINUTES, MAX_FAILURES, Need, Session, current, require_form, require_page,
    same_token,
};
use crate::html::{escape, page};
use crate::{AppState, Role, kind_slug, parse_kind_slug};

/// Rows written per transaction by a directory import.
const IMPORT_BATCH: usize = 100;
/// Largest CSV file accepted (bytes).
const MAX_CSV_BYTES: usize = 20 * 1024 * 1024;
/// Largest WAV file accepted (bytes): ten minutes of 8 kHz 16-bit mono.
const MAX_WAV_BYTES: usize = 10 * 60 * 16_000 + 1024;

// ---- access -----------------------------------------------------------------------------

fn is_admin(session: &Session) -> bool {
    session.roles.contains(&Role::Admin)
}

pub(crate) use crate::api::error as json_error;

/// The session of an API or upload call: role, and the CSRF header for writes.
pub(crate) async fn api_session(
    state: &AppState,
    headers: &HeaderMap,
    supervisor_enough: bool,
    write: bool,
) -> Result<Session, Response> {
    if let Some(token) = crate::auth::bearer_token(headers) {
        // A supervisor API token may use the supervisors' message routes (no CSRF: nothing a
        // browser sends on its own); administration needs an admin's session.
        use guichet_tickets::api_tokens::TokenRole;
        return match crate::auth::bearer_session(state, token).await {
            None => Err(json_error(
                StatusCode::UNAUTHORIZED,
                "jeton d'API inconnu ou révoqué",
            )),
            Some((session, TokenRole::Supervisor)) if supervisor_enough => Ok(session),
            Some(_) => Err(json_error(
                StatusCode::FORBIDDEN,
                "ce jeton d'API ne donne pas accès à cette route",
            )),
        };
    }
    let session = current(state, headers)
        .await
        .ok_or_else(|| json_error(StatusCode::UNAUTHORIZED, "authentification requise"))?;
    if supervisor_enough && !session.is_supervisor() {
        return Err(json_error(
            StatusCode::FORBIDDEN,
            "réservé aux superviseurs et aux administrateurs",
        ));
    }
    if !supervisor_enough && !is_admin(&session) {
        return Err(json_error(
            StatusCode::FORBIDDEN,
            "réservé aux administrateurs",
        ));
    }
    if write {
        let token = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        if !token.is_some_and(|t| same_token(t, &session.csrf)) {
            return Err(json_error(
                StatusCode::FORBIDDEN,
                "en-tête X-CSRF-Token absent ou invalide",
            ));
        }
    }
    Ok(session)
}

/// The session of an API write and its JSON body, or the refusal (role, CSRF token, or a
/// body that does not read, in French; `expected` completes that message, e.g.
/// ` (attendu {"vip": true})`).
pub(crate) async fn api_json<T: serde::de::DeserializeOwned>(
    state: &AppState,
    headers: &HeaderMap,
    supervisor_enough: bool,
    body: &[u8],
    expected: &str,
) -> Result<(Session, T), Response> {
    let session = api_session(state, headers, supervisor_enough, true).await?;
    Ok((session, crate::api::json_body(body, expected)?))
}

fn store_error_fr(e: &StoreError) -> String {
    match e {
        StoreError::Invalid { reason, .. } => reason.clone(),
        StoreError::NotFound { .. } => "élément introuvable (supprimé entre-temps ?)".to_owned(),
        other => {
            tracing::warn!(error = %other, "store error on an administration change");
            "la base de données a refusé la modification".to_owned()
        }
    }
}

pub(crate) fn local(state: &AppState, at: DateTime<Utc>) -> String {
    at.with_timezone(&state.backend.settings().zone)
        .format("%d/%m/%Y %H:%M")
        .to_string()
}

fn local_input(state: &AppState, at: DateTime<Utc>) -> String {
    at.with_timezone(&state.backend.settings().zone)
        .format("%Y-%m-%dT%H:%M")
        .to_string()
}

/// An optional `datetime-local` field; the error is French.
fn optional_local(
    state: &AppState,
    raw: &str,
    what: &str,
) -> Result<Option<DateTime<Utc>>, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    crate::pages::parse_local(state, raw)
        .map(Some)
        .ok_or_else(|| format!("{what} illisible : « {raw} »"))
}

/// An optional RFC 3339 instant of the API; the error is French.
fn optional_rfc3339(raw: Option<&str>, what: &str) -> Result<Option<DateTime<Utc>>, String> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| {
                format!("« {what} » doit être une date RFC 3339 (2026-11-24T10:00:00+01:00)")
            }),
    }
}

pub(crate) fn page_with_notice(
    state: &AppState,
    session: &Session,
    title: &str,
    status: StatusCode,
    body: String,
) -> Response {
    (
        status,
        page(
            &state.backend.settings().server_name,
            title,
            Some(session),
            &body,
        ),
    )
        .into_response()
}

pub(crate) fn notice_html(ok: Option<&str>, error: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(ok) = ok {
        out.push_str(&format!(
            "<p class=\"ok\" role=\"status\">{}</p>",
            escape(ok)
        ));
    }
    if let Some(e) = error {
        out.push_str(&format!(
            "<p role=\"alert\" class=\"erreur\">{}</p>",
            escape(e)
        ));
    }
    out
}

#[derive(Deserialize, Default)]
pub(crate) struct NoticeQuery {
    #[serde(default)]
    pub(crate) ok: Option<String>,
    #[serde(default)]
    q: Option<String>,
}

/// `GET /static/admin.js`: uploads with progress (directory import, WAV messages).
pub(crate) async fn admin_js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("admin.js"),
    )
        .into_response()
}

/// `GET /admin`: the administration index.
pub(crate) async fn admin_home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let session = match require_page(&state, &headers, Need::Admin).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    page_with_notice(
        &state,
        &session,
        "Administration",
        StatusCode::OK,
        "<ul><li><a href=\"/admin/utilisateurs\">Utilisateurs et rôles</a></li>\
         <li><a href=\"/admin/annuaire\">Annuaire : import, VIP et périodes P0</a></li>\
         <li><a href=\"/admin/annonces\">Annonces du serveur vocal</a></li>\
         <li><a href=\"/admin/calendriers\">Calendriers et fermetures exceptionnelles</a></li>\
         <li><a href=\"/admin/sla\">Politiques SLA</a></li>\
         <li><a href=\"/admin/jetons\">Jetons d'API</a></li>\
         <li><a href=\"/superviseur/messages\">Messages de crise et de dissuasion</a></li></ul>"
            .to_owned(),
    )
}

// ---- users ------------------------------------------------------------------------------

/// A user as the API shows it (never the hash).
#[derive(Serialize)]
struct UserView {
    login: String,
    name: String,
    roles: Vec<String>,
    sip_extension: Option<String>,
    active: bool,
    locked: bool,
}

async fn is_locked(state: &AppState, login: &str) -> bool {
    let since = state.backend.now() - Duration::minutes(LOCK_WINDOW_MINUTES);
    match state.backend.store().security_events_for(login).await {
        Ok(events) => {
            events
                .iter()
                .filter(|e| e.event == "login")
                .take_while(|e| e.at >= since && !e.success)
                .count()
                >= MAX_FAILURES
        }
        Err(e) => {
            tracing::warn!(error = %e, "security log unreadable");
            false
        }
    }
}

async fn user_views(state: &AppState) -> Result<Vec<UserView>, String> {
    let agents = state
        .backend
        .store()
        .agents()
        .await
        .map_err(|e| store_error_fr(&e))?;
    let mut out = Vec::with_capacity(agents.len());
    for a in agents {
        let locked = is_locked(state, &a.login).await;
        out.push(UserView {
            login: a.login,
            name: a.display_name,
            roles: a.roles,
            sip_extension: a.sip_extension,
            active: a.active,
            locked,
        });
    }
    Ok(out)
}

fn parse_roles(raw: &[String]) -> Result<Vec<Role>, String> {
    let mut roles = Vec::new();
    for r in raw {
        let role = Role::parse(r.trim()).ok_or_else(|| format!("rôle inconnu : « {r} »"))?;
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    if roles.is_empty() {
        return Err("choisissez au moins un rôle".to_owned());
    }
    roles.sort();
    roles.reverse();
    Ok(roles)
}

/// A user to create.
#[derive(Deserialize)]
struct NewUser {
    login: String,
    name: String,
    roles: Vec<String>,
    #[serde(default)]
    sip_extension: Option<String>,
    password: String,
}

async fn create_user(state: &AppState, actor: &str, new: NewUser) -> Result<(), String> {
    let login = new.login.trim();
    if login.is_empty()
        || !login
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return Err(
            "identifiant invalide : lettres, chiffres, point, tiret ou souligné".to_owned(),
        );
    }
    if new.name.trim().is_empty() {
        return Err("le nom affiché est obligatoire".to_owned());
    }
    let roles = parse_roles(&new.roles)?;
    let store = state.backend.store();
    if store
        .agent(login)
        .await
        .map_err(|e| store_error_fr(&e))?
        .is_some()
    {
        return Err(format!("l'identifiant « {login} » existe déjà"));
    }
    let hash = crate::auth::hash_password(&new.password, &roles).map_err(|e| e.to_string())?;
    let agent = Agent {
        login: login.to_owned(),
        display_name: new.name.trim().to_owned(),
        roles: roles.iter().map(|r| r.as_str().to_owned()).collect(),
        sip_extension: new
            .sip_extension
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty()),
        password_hash: Some(hash),
        active: true,
    };
    store
        .upsert_agent(&agent, actor, state.backend.now())
        .await
        .map_err(|e| store_error_fr(&e))
}

/// A change to a user: any subset.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct UserChange {
    #[serde(default)]
    roles: Option<Vec<String>>,
    #[serde(default)]
    active: Option<bool>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    unlock: bool,
}

async fn change_user(
    state: &AppState,
    session: &Session,
    login: &str,
    change: UserChange,
) -> Result<(), String> {
    let store = state.backend.store();
    let now = state.backend.now();
    let Some(mut agent) = store.agent(login).await.map_err(|e| store_error_fr(&e))? else {
        return Err(format!("compte inconnu : « {login} »"));
    };
    let mut roles: Vec<Role> = agent.roles.iter().filter_map(|r| Role::parse(r)).collect();
    if let Some(raw) = &change.roles {
        roles = parse_roles(raw)?;
        if login == session.login && !roles.contains(&Role::Admin) {
            return Err("vous ne pouvez pas retirer votre propre rôle d'administrateur".to_owned());
        }
        agent.roles = roles.iter().map(|r| r.as_str().to_owned()).collect();
    }
    if let Some(active) = change.active {
        if login == session.login && !active {
            return Err("vous ne pouvez pas désactiver votre propre compte".to_owned());
        }
        agent.active = active;
    }
    if let Some(password) = &change.password {
        agent.password_hash =
            Some(crate::auth::hash_password(password, &roles).map_err(|e| e.to_string())?);
    }
    let changed = change.roles.is_some() || change.active.is_some() || change.password.is_some();
    if changed {
        store
            .upsert_agent(&agent, &session.login, now)
            .await
            .map_err(|e| store_error_fr(&e))?;
    }
    if change.password.is_some() {
        log_security(state, login, "password_reset", &session.login).await?;
        journal(
            state,
            &session.login,
            "agent.password_reset",
            login,
            None,
            Some("nouveau mot de passe défini"),
        )
        .await?;
    }
    if change.unlock {
        // The lock counts failed logins since the last successful one: a success entry
        // written by the admin ends the count (and says who unlocked).
        log_security(
            state,
            login,
            "login",
            &format!("déverrouillé par {}", session.login),
        )
        .await?;
        journal(
            state,
            &session.login,
            "agent.unlock",
            login,
            Some("verrouillé"),
            Some("déverrouillé"),
        )
        .await?;
    }
    Ok(())
}

async fn log_security(
    state: &AppState,
    login: &str,
    event: &str,
    detail: &str,
) -> Result<(), String> {
    state
        .backend
        .store()
        .log_security_event(&SecurityEvent {
            at: state.backend.now(),
            login: login.to_owned(),
            event: event.to_owned(),
            success: true,
            remote_addr: None,
            detail: Some(detail.to_owned()),
        })
        .await
        .map_err(|e| store_error_fr(&e))
}

async fn journal(
    state: &AppState,
    actor: &str,
    action: &str,
    subject: &str,
    old: Option<&str>,
    new: Option<&str>,
) -> Result<(), String> {
    state
        .backend
        .store()
        .journal(&JournalEntry {
            at: state.backend.now(),
            actor: actor.to_owned(),
            action: action.to_owned(),
            subject: subject.to_owned(),
            old_value: old.map(str::to_owned),
            new_value: new.map(str::to_owned),
        })
        .await
        .map(|_| ())
        .map_err(|e| store_error_fr(&e))
}

fn role_label(role: &str) -> &str {
    match role {
        "agent" => "agent",
        "supervisor" => "superviseur",
        "admin" => "administrateur",
        other => other,
    }
}

fn role_boxes(prefix: &str, checked: &[String]) -> String {
    ["agent", "supervisor", "admin"]
        .iter()
        .map(|r| {
            format!(
                "<label><input type=\"checkbox\" name=\"roles\" value=\"{r}\" id=\"{prefix}-{r}\"{}> {}</label> ",
                if checked.iter().any(|c| c == r) { " checked" } else { "" },
                role_label(r)
            )
        })
        .collect()
}

async fn users_body(state: &AppState, session: &Session, notice: &str) -> String {
    let mut body = String::from(notice);
    body.push_str(
        "<p>Mots de passe : 12 caractères au moins, 14 pour les administrateurs (chiffrés avec \
         argon2). Les comptes déclarés dans la configuration (<code>[[agents]]</code>) sont \
         réaffirmés au démarrage du serveur (nom, rôles, poste) ; un mot de passe changé et un \
         compte désactivé ici sont conservés.</p>\
         <h2>Comptes</h2><table id=\"utilisateurs\"><tr><th>Identifiant</th><th>Nom</th><th>Rôles</th>\
         <th>Poste</th><th>État</th><th>Actions</th></tr>",
    );
    let csrf = escape(&session.csrf);
    match user_views(state).await {
        Ok(users) => {
            for u in users {
                let login = escape(&u.login);
                let state_text = match (u.active, u.locked) {
                    (false, _) => "désactivé",
                    (true, true) => "verrouillé",
                    (true, false) => "actif",
                };
                let form = |action: &str, inner: &str| {
                    format!(
                        "<form method=\"post\" action=\"/admin/utilisateurs/{login}\" style=\"display:inline\">\
                         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
                         <input type=\"hidden\" name=\"action\" value=\"{action}\">{inner}</form> "
                    )
                };
                let mut actions = form(
                    "roles",
                    &format!(
                        "{}<button type=\"submit\">Changer les rôles</button>",
                        role_boxes(&format!("r-{login}"), &u.roles)
                    ),
                );
                actions.push_str(&if u.active {
                    form("desactiver", "<button type=\"submit\">Désactiver</button>")
                } else {
                    form("activer", "<button type=\"submit\">Réactiver</button>")
                });
                if u.locked {
                    actions.push_str(&form(
                        "deverrouiller",
                        "<button type=\"submit\">Déverrouiller</button>",
                    ));
                }
                actions.push_str(&form(
                    "mot-de-passe",
                    "<input type=\"password\" name=\"password\" autocomplete=\"new-password\" \
                     placeholder=\"nouveau mot de passe\" aria-label=\"Nouveau mot de passe\"> \
                     <button type=\"submit\">Réinitialiser</button>",
                ));
                body.push_str(&format!(
                    "<tr data-login=\"{login}\"><td>{login}</td><td>{}</td><td>{}</td><td>{}</td><td>{state_text}</td><td>{actions}</td></tr>",
                    escape(&u.name),
                    escape(&u.roles.iter().map(|r| role_label(r)).collect::<Vec<_>>().join(", ")),
                    escape(u.sip_extension.as_deref().unwrap_or("")),
                ));
            }
        }
        Err(e) => body.push_str(&format!("<tr><td colspan=\"6\">{}</td></tr>", escape(&e))),
    }
    body.push_str(&format!(
        "</table><h2>Créer un compte</h2>\
         <form method=\"post\" action=\"/admin/utilisateurs\" id=\"creer-utilisateur\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <p><label for=\"login\">Identifiant</label> <input id=\"login\" name=\"login\" required> \
         <label for=\"name\">Nom affiché</label> <input id=\"name\" name=\"name\" required> \
         <label for=\"sip_extension\">Poste SIP</label> <input id=\"sip_extension\" name=\"sip_extension\"></p>\
         <p>Rôles : {}</p>\
         <p><label for=\"password\">Mot de passe</label> <input id=\"password\" name=\"password\" type=\"password\" \
         autocomplete=\"new-password\" required minlength=\"12\"> \
         <button type=\"submit\">Créer</button></p></form>",
        role_boxes("nouveau", &["agent".to_owned()])
    ));
    body
}

/// `GET /admin/utilisateurs`.
pub(crate) async fn users_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<NoticeQuery>,
) -> Response {
    let session = match require_page(&state, &headers, Need::Admin).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let notice = notice_html(q.ok.as_deref().map(|_| "Modification enregistrée."), None);
    let body = users_body(&state, &session, &notice).await;
    page_with_notice(
        &state,
        &session,
        "Utilisateurs et rôles",
        StatusCode::OK,
        body,
    )
}

async fn users_error(state: &AppState, session: &Session, error: &str) -> Response {
    let body = users_body(state, session, &notice_html(None, Some(error))).await;
    page_with_notice(
        state,
        session,
        "Utilisateurs et rôles",
        StatusCode::UNPROCESSABLE_ENTITY,
        body,
    )
}

/// Parses an `application/x-www-form-urlencoded` body into repeated fields (checkboxes).
/// The session and fields of an admin's form sent as a raw body (repeated fields kept),
/// once the role and the CSRF token are checked.
pub(crate) async fn admin_form(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Session, HashMap<String, Vec<String>>), Response> {
    let fields = form_fields(body);
    let csrf = fields
        .get("csrf")
        .and_then(|v| v.first())
        .map(String::as_str);
    let session = require_form(state, headers, Need::Admin, csrf).await?;
    Ok((session, fields))
}

pub(crate) fn form_fields(body: &[u8]) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    let text = String::from_utf8_lossy(body);
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.entry(decode_form(k)).or_default().push(decode_form(v));
    }
    out
}

fn decode_form(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len()
                && hex(bytes[i + 1]).is_some()
                && hex(bytes[i + 2]).is_some() =>
            {
                let (hi, lo) = (
                    hex(bytes[i + 1]).unwrap_or(0),
                    hex(bytes[i + 2]).unwrap_or(0),
                );
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn first(fields: &HashMap<String, Vec<String>>, name: &str) -> String {
    fields
        .get(name)
        .and_then(|v| v.first())
        .cloned()
        .unwrap_or_default()
}

/// `POST /admin/utilisateurs`: create an account.
pub(crate) async fn users_create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (session, fields) = match admin_form(&state, &headers, &body).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let new = NewUser {
        login: first(&fields, "login"),
        name: first(&fields, "name"),
        roles: fields.get("roles").cloned().unwrap_or_default(),
        sip_extension: Some(first(&fields, "sip_extension")),
        password: first(&fields, "password"),
    };
    match create_user(&state, &session.login, new).await {
        Ok(()) => Redirect::to("/admin/utilisateurs?ok=1").into_response(),
        Err(e) => users_error(&state, &session, &format!("Compte non créé : {e}")).await,
    }
}

/// `POST /admin/utilisateurs/{login}`: one action on an account.
pub(crate) async fn users_change(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(login): Path<String>,
    body: Bytes,
) -> Response {
    let (session, fields) = match admin_form(&state, &headers, &body).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let change = match first(&fields, "action").as_str() {
        "roles" => UserChange {
            roles: Some(fields.get("roles").cloned().unwrap_or_default()),
            ..UserChange::default()
        },
        "activer" => UserChange {
            active: Some(true),
            ..UserChange::default()
        },
        "desactiver" => UserChange {
            active: Some(false),
            ..UserChange::default()
        },
        "mot-de-passe" => UserChange {
            password: Some(first(&fields, "password")),
            ..UserChange::default()
        },
        "deverrouiller" => UserChange {
            unlock: true,
            ..UserChange::default()
        },
        _ => return users_error(&state, &session, "Action inconnue.").await,
    };
    match change_user(&state, &session, &login, change).await {
        Ok(()) => Redirect::to("/admin/utilisateurs?ok=1").into_response(),
        Err(e) => users_error(&state, &session, &format!("Modification refusée : {e}")).await,
    }
}

async fn api_users(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(r) = api_session(&state, &headers, false, false).await {
        return r;
    }
    match user_views(&state).await {
        Ok(users) => Json(users).into_response(),
        Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn api_create_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (session, new): (Session, NewUser) =
        match api_json(&state, &headers, false, &body, "").await {
            Ok(found) => found,
            Err(r) => return r,
        };
    let login = new.login.trim().to_owned();
    match create_user(&state, &session.login, new).await {
        Ok(()) => (StatusCode::CREATED, Json(json!({ "login": login }))).into_response(),
        Err(e) => json_error(StatusCode::UNPROCESSABLE_ENTITY, e),
    }
}

async fn api_change_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(login): Path<String>,
    body: Bytes,
) -> Response {
    let (session, change): (Session, UserChange) =
        match api_json(&state, &headers, false, &body, "").await {
            Ok(found) => found,
            Err(r) => return r,
        };
    match change_user(&state, &session, &login, change).await {
        Ok(()) => match user_views(&state).await {
            Ok(users) => match users.into_iter().find(|u| u.login == login) {
                Some(u) => Json(u).into_response(),
                None => json_error(StatusCode::NOT_FOUND, "compte introuvable"),
            },
            Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, e),
        },
        Err(e) => json_error(StatusCode::UNPROCESSABLE_ENTITY, e),
    }
}

// ---- directory import -------------------------------------------------------------------

/// The progress of one directory import, polled by the page.
#[derive(Debug, Clone, Serialize)]
struct ImportJob {
    id: u64,
    /// `en_cours`, `termine` or `echec`.
    status: &'static str,
    /// Valid rows to write.
    total: usize,
    /// Valid rows written.
    done: usize,
    inserted: u64,
    updated: u64,
    rejected: Vec<RejectedView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
struct RejectedView {
    line: u64,
    reason: String,
}

type Jobs = Mutex<HashMap<u64, ImportJob>>;

fn jobs() -> &'static Jobs {
    static JOBS: OnceLock<Jobs> = OnceLock::new();
    JOBS.get_or_init(|| Mutex::new(HashMap::new()))
}

fn update_job(id: u64, f: impl FnOnce(&mut ImportJob)) {
    if let Ok(mut jobs) = jobs().lock()
        && let Some(job) = jobs.get_mut(&id)
    {
        f(job);
    }
}

/// Checks the file, then writes it batch by batch in the background; returns the job.
fn start_import(state: &AppState, actor: &str, body: &[u8]) -> Result<ImportJob, String> {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    if body.len() > MAX_CSV_BYTES {
        return Err("fichier trop volumineux (20 Mo au plus)".to_owned());
    }
    let text = std::str::from_utf8(body).map_err(|_| {
        "le fichier n'est pas en UTF-8 : enregistrez-le en « CSV UTF-8 »".to_owned()
    })?;
    let text = text.trim_start_matches('\u{feff}');
    let parsed =
        guichet_tickets::directory::parse_directory_csv(text).map_err(|e| store_error_fr(&e))?;
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    let job = ImportJob {
        id,
        status: "en_cours",
        total: parsed.len(),
        done: 0,
        inserted: 0,
        updated: 0,
        rejected: parsed
            .rejected
            .iter()
            .map(|r| RejectedView {
                line: r.line,
                reason: r.reason.clone(),
            })
            .collect(),
        error: None,
    };
    if let Ok(mut all) = jobs().lock() {
        // Keep the last imports only.
        if all.len() >= 32
            && let Some(&oldest) = all.keys().min()
        {
            all.remove(&oldest);
        }
        all.insert(id, job.clone());
    }
    let (backend, actor) = (state.backend.clone(), actor.to_owned());
    let parsed = Arc::new(parsed);
    tokio::spawn(async move {
        let store = backend.store();
        let total = parsed.len();
        let mut report = ImportReport::default();
        let mut start = 0;
        while start < total {
            let end = (start + IMPORT_BATCH).min(total);
            match store
                .import_directory_rows(&parsed, start..end, backend.now())
                .await
            {
                Ok((inserted, updated)) => {
                    report.inserted += inserted;
                    report.updated += updated;
                    update_job(id, |j| {
                        j.done = end;
                        j.inserted = report.inserted;
                        j.updated = report.updated;
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "directory import batch failed");
                    update_job(id, |j| {
                        j.status = "echec";
                        j.error = Some(format!(
                            "écriture interrompue ligne valide {} : {} (les {} premières sont enregistrées)",
                            start + 1,
                            store_error_fr(&e),
                            start
                        ));
                    });
                    return;
                }
            }
            start = end;
        }
        let summary = format!(
            "{} créées, {} mises à jour, {} lignes rejetées",
            report.inserted,
            report.updated,
            parsed.rejected.len()
        );
        let entry = JournalEntry {
            at: backend.now(),
            actor,
            action: "directory.import".to_owned(),
            subject: "directory".to_owned(),
            old_value: None,
            new_value: Some(summary),
        };
        if let Err(e) = store.journal(&entry).await {
            tracing::warn!(error = %e, "directory import not journaled");
        }
        tracing::info!(
            inserted = report.inserted,
            updated = report.updated,
            rejected = parsed.rejected.len(),
            "directory imported from the web"
        );
        update_job(id, |j| j.status = "termine");
    });
    Ok(job)
}

/// `POST /admin/annuaire/import` and `POST /api/v1/admin/directory/imports`: the CSV file as
/// the raw body.
async fn import_upload(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let session = match api_session(&state, &headers, false, true).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match start_import(&state, &session.login, &body) {
        Ok(job) => (StatusCode::ACCEPTED, Json(job)).into_response(),
        Err(e) => json_error(StatusCode::UNPROCESSABLE_ENTITY, e),
    }
}

/// `GET /admin/annuaire/import/{id}` and `GET /api/v1/admin/directory/imports/{id}`.
async fn import_progress(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Response {
    if let Err(r) = api_session(&state, &headers, false, false).await {
        return r;
    }
    let job = jobs().lock().ok().and_then(|j| j.get(&id).cloned());
    match job {
        Some(job) => Json(job).into_response(),
        None => json_error(StatusCode::NOT_FOUND, "import inconnu"),
    }
}

// ---- VIPs and P0 windows ----------------------------------------------------------------

#[derive(Serialize)]
struct PersonView {
    id: i64,
    last_name: String,
    first_name: String,
    entity: String,
    site: String,
    vip: bool,
    numbers: Vec<String>,
}

#[derive(Serialize)]
struct WindowView {
    id: i64,
    person_id: i64,
    person: String,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
}

async fn people(state: &AppState, q: &str, vip_only: bool) -> Result<Vec<PersonView>, String> {
    let people = state
        .backend
        .store()
        .search_people(q, vip_only, 200)
        .await
        .map_err(|e| store_error_fr(&e))?;
    Ok(people
        .into_iter()
        .map(|p| PersonView {
            id: p.id,
            last_name: p.last_name,
            first_name: p.first_name,
            entity: p.entity,
            site: p.site,
            vip: p.vip,
            numbers: p.numbers,
        })
        .collect())
}

async fn windows(state: &AppState) -> Result<Vec<WindowView>, String> {
    let since = state.backend.now() - Duration::days(30);
    let windows = state
        .backend
        .store()
        .p0_windows(since)
        .await
        .map_err(|e| store_error_fr(&e))?;
    Ok(windows
        .into_iter()
        .map(|w| WindowView {
            id: w.id,
            person_id: w.person_id,
            person: w.person,
            starts_at: w.starts_at,
            ends_at: w.ends_at,
        })
        .collect())
}

async fn directory_body(state: &AppState, session: &Session, notice: &str, q: &str) -> String {
    let csrf = escape(&session.csrf);
    let store = state.backend.store();
    let count = store.people_count().await.unwrap_or(0);
    let mut body = String::from(notice);
    body.push_str(&format!(
        "<p>{count} personnes dans l'annuaire. L'annuaire est lu à chaque appel : les \
         changements s'appliquent dès l'appel suivant, sans redémarrage.</p>\
         <h2>Importer un fichier CSV</h2>\
         <p>Colonnes : <code>id, last_name, first_name, entity, site, dependency, vip, phones, \
         p0_windows</code> (séparateur « , » ou « ; », numéros séparés par « | », périodes P0 \
         <code>début/fin</code>). Une personne déjà connue est mise à jour ; les lignes \
         invalides sont signalées et ignorées.</p>\
         <p><input type=\"file\" id=\"fichier-annuaire\" accept=\".csv,text/csv\" aria-label=\"Fichier CSV\"> \
         <button type=\"button\" id=\"importer\" data-csrf=\"{csrf}\">Importer</button></p>\
         <p><progress id=\"progression\" max=\"100\" value=\"0\" hidden></progress> \
         <span id=\"import-etat\" role=\"status\"></span></p>\
         <div id=\"rapport\"></div>"
    ));
    body.push_str(&format!(
        "<h2>Personnes et VIP</h2>\
         <form method=\"get\" action=\"/admin/annuaire\" role=\"search\">\
         <label for=\"q\">Rechercher</label> <input id=\"q\" name=\"q\" value=\"{}\" placeholder=\"nom, entité, site, numéro\"> \
         <button type=\"submit\">Rechercher</button> (sans recherche : les VIP)</form>\
         <table id=\"personnes\"><tr><th>Nom</th><th>Entité</th><th>Site</th><th>Numéros</th><th>VIP</th><th></th></tr>",
        escape(q)
    ));
    let list = people(state, q, q.trim().is_empty())
        .await
        .unwrap_or_default();
    for p in &list {
        body.push_str(&format!(
            "<tr data-personne=\"{id}\"><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>\
             <form method=\"post\" action=\"/admin/annuaire/vip\" style=\"display:inline\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"person\" value=\"{id}\">\
             <input type=\"hidden\" name=\"vip\" value=\"{}\"><button type=\"submit\">{}</button></form></td></tr>",
            escape(&p.first_name),
            escape(&p.last_name),
            escape(&p.entity),
            escape(&p.site),
            escape(&p.numbers.join(", ")),
            if p.vip { "<span class=\"vip\">VIP</span>" } else { "" },
            if p.vip { "non" } else { "oui" },
            if p.vip { "Retirer VIP" } else { "Marquer VIP" },
            id = p.id,
        ));
    }
    body.push_str("</table>");
    body.push_str(
        "<h2>Périodes P0</h2><p>Pendant une période P0, les appels et les tickets de la personne \
         passent en priorité absolue.</p><table id=\"periodes-p0\"><tr><th>Personne</th><th>Début</th>\
         <th>Fin</th><th>Modifier</th><th></th></tr>",
    );
    for w in windows(state).await.unwrap_or_default() {
        body.push_str(&format!(
            "<tr data-periode=\"{id}\"><td>{}</td><td>{}</td><td>{}</td><td>\
             <form method=\"post\" action=\"/admin/annuaire/p0/{id}\" style=\"display:inline\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"action\" value=\"modifier\">\
             <input type=\"datetime-local\" name=\"starts_at\" value=\"{}\" aria-label=\"Début\"> \
             <input type=\"datetime-local\" name=\"ends_at\" value=\"{}\" aria-label=\"Fin\"> \
             <button type=\"submit\">Modifier</button></form></td><td>\
             <form method=\"post\" action=\"/admin/annuaire/p0/{id}\" style=\"display:inline\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"action\" value=\"supprimer\">\
             <button type=\"submit\">Supprimer</button></form></td></tr>",
            escape(&w.person),
            local(state, w.starts_at),
            local(state, w.ends_at),
            local_input(state, w.starts_at),
            local_input(state, w.ends_at),
            id = w.id,
        ));
    }
    let options: String = list
        .iter()
        .map(|p| {
            format!(
                "<option value=\"{}\">{} {} ({})</option>",
                p.id,
                escape(&p.first_name),
                escape(&p.last_name),
                escape(&p.entity)
            )
        })
        .collect();
    body.push_str(&format!(
        "</table><form method=\"post\" action=\"/admin/annuaire/p0\" id=\"ajout-p0\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label for=\"p0-personne\">Personne (liste ci-dessus)</label> <select id=\"p0-personne\" name=\"person\">{options}</select> \
         <label for=\"p0-debut\">Début</label> <input id=\"p0-debut\" type=\"datetime-local\" name=\"starts_at\" required> \
         <label for=\"p0-fin\">Fin</label> <input id=\"p0-fin\" type=\"datetime-local\" name=\"ends_at\" required> \
         <button type=\"submit\">Ajouter la période</button></form>\
         <script src=\"/static/admin.js\"></script>"
    ));
    body
}

/// `GET /admin/annuaire`.
pub(crate) async fn directory_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<NoticeQuery>,
) -> Response {
    let session = match require_page(&state, &headers, Need::Admin).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let notice = notice_html(q.ok.as_deref().map(|_| "Modification enregistrée."), None);
    let body = directory_body(&state, &session, &notice, q.q.as_deref().unwrap_or("")).await;
    page_with_notice(&state, &session, "Annuaire", StatusCode::OK, body)
}

async fn directory_error(state: &AppState, session: &Session, error: &str) -> Response {
    let body = directory_body(state, session, &notice_html(None, Some(error)), "").await;
    page_with_notice(
        state,
        session,
        "Annuaire",
        StatusCode::UNPROCESSABLE_ENTITY,
        body,
    )
}

#[derive(Deserialize)]
pub(crate) struct VipForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    person: i64,
    #[serde(default)]
    vip: String,
}

/// `POST /admin/annuaire/vip`.
pub(crate) async fn vip_set(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<VipForm>,
) -> Response {
    let session = match require_form(&state, &headers, Need::Admin, form.csrf.as_deref()).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let vip = form.vip == "oui";
    match state
        .backend
        .store()
        .set_person_vip(form.person, vip, &session.login, state.backend.now())
        .await
    {
        Ok(()) => Redirect::to("/admin/annuaire?ok=1").into_response(),
        Err(e) => directory_error(&state, &session, &store_error_fr(&e)).await,
    }
}

#[derive(Deserialize)]
pub(crate) struct P0Form {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    person: i64,
    #[serde(default)]
    action: String,
    #[serde(default)]
    starts_at: String,
    #[serde(default)]
    ends_at: String,
}

fn window_from_form(
    state: &AppState,
    form: &P0Form,
) -> Result<(DateTime<Utc>, DateTime<Utc>), String> {
    let a = optional_local(state, &form.starts_at, "début")?.ok_or("indiquez le début")?;
    let b = optional_local(state, &form.ends_at, "fin")?.ok_or("indiquez la fin")?;
    Ok((a, b))
}

/// `POST /admin/annuaire/p0`: add a window.
pub(crate) async fn p0_add(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<P0Form>,
) -> Response {
    let session = match require_form(&state, &headers, Need::Admin, form.csrf.as_deref()).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let result = match window_from_form(&state, &form) {
        Ok((a, b)) => state
            .backend
            .store()
            .add_p0_window(form.person, a, b, &session.login, state.backend.now())
            .await
            .map(|_| ())
            .map_err(|e| store_error_fr(&e)),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Redirect::to("/admin/annuaire?ok=1").into_response(),
        Err(e) => directory_error(&state, &session, &format!("Période non ajoutée : {e}")).await,
    }
}

/// `POST /admin/annuaire/p0/{id}`: change or remove a window.
pub(crate) async fn p0_change(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<P0Form>,
) -> Response {
    let session = match require_form(&state, &headers, Need::Admin, form.csrf.as_deref()).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let store = state.backend.store();
    let now = state.backend.now();
    let result = if form.action == "supprimer" {
        store
            .remove_p0_window(id, &session.login, now)
            .await
            .map_err(|e| store_error_fr(&e))
    } else {
        match window_from_form(&state, &form) {
            Ok((a, b)) => store
                .update_p0_window(id, a, b, &session.login, now)
                .await
                .map_err(|e| store_error_fr(&e)),
            Err(e) => Err(e),
        }
    };
    match result {
        Ok(()) => Redirect::to("/admin/annuaire?ok=1").into_response(),
        Err(e) => directory_error(&state, &session, &format!("Période non modifiée : {e}")).await,
    }
}

#[derive(Deserialize)]
struct PeopleQuery {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    vip: Option<bool>,
}

async fn api_people(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<PeopleQuery>,
) -> Response {
    if let Err(r) = api_session(&state, &headers, false, false).await {
        return r;
    }
    match people(&state, q.q.as_deref().unwrap_or(""), q.vip.unwrap_or(false)).await {
        Ok(p) => Json(p).into_response(),
        Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VipBody {
    vip: bool,
}

async fn api_vip(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let (session, body): (Session, VipBody) =
        match api_json(&state, &headers, false, &body, " (attendu {\"vip\": true})").await {
            Ok(found) => found,
            Err(r) => return r,
        };
    crate::api::store_result(
        state
            .backend
            .store()
            .set_person_vip(id, body.vip, &session.login, state.backend.now())
            .await,
        |()| Json(json!({ "id": id, "vip": body.vip })).into_response(),
    )
}

async fn api_windows(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(r) = api_session(&state, &headers, false, false).await {
        return r;
    }
    match windows(&state).await {
        Ok(w) => Json(w).into_response(),
        Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WindowBody {
    #[serde(default)]
    person_id: Option<i64>,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
}

async fn api_add_window(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (session, body): (Session, WindowBody) =
        match api_json(&state, &headers, false, &body, "").await {
            Ok(found) => found,
            Err(r) => return r,
        };
    let Some(person) = body.person_id else {
        return json_error(StatusCode::BAD_REQUEST, "« person_id » est obligatoire");
    };
    crate::api::store_result(
        state
            .backend
            .store()
            .add_p0_window(
                person,
                body.starts_at,
                body.ends_at,
                &session.login,
                state.backend.now(),
            )
            .await,
        |id| (StatusCode::CREATED, Json(json!({ "id": id }))).into_response(),
    )
}

async fn api_change_window(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let (session, body): (Session, WindowBody) =
        match api_json(&state, &headers, false, &body, "").await {
            Ok(found) => found,
            Err(r) => return r,
        };
    crate::api::store_result(
        state
            .backend
            .store()
            .update_p0_window(
                id,
                body.starts_at,
                body.ends_at,
                &session.login,
                state.backend.now(),
            )
            .await,
        |()| Json(json!({ "id": id })).into_response(),
    )
}

async fn api_remove_window(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let session = match api_session(&state, &headers, false, true).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    crate::api::store_result(
        state
            .backend
            .store()
            .remove_p0_window(id, &session.login, state.backend.now())
            .await,
        |()| StatusCode::NO_CONTENT.into_response(),
    )
}

// ---- messages: scheduled, WAV, library --------------------------------------------------

/// Checks that `bytes` is a WAV file the media engine plays as is: PCM, 8 kHz, mono, 16-bit.
/// The error is French, for the supervisor.
pub fn check_wav(bytes: &[u8]) -> Result<(), String> {
    let u16_at = |i: usize| {
        bytes
            .get(i..i + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |i: usize| {
        bytes
            .get(i..i + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    if bytes.get(0..4) != Some(b"RIFF") || bytes.get(8..12) != Some(b"WAVE") {
        return Err("ce fichier n'est pas un fichier WAV".to_owned());
    }
    let mut at = 12;
    let mut format = None;
    let mut data = false;
    while let (Some(id), Some(len)) = (bytes.get(at..at + 4), u32_at(at + 4)) {
        let len = len as usize;
        let body = at + 8;
        if id == b"fmt " {
            format = Some((
                u16_at(body),
                u16_at(body + 2),
                u32_at(body + 4),
                u16_at(body + 14),
            ));
        } else if id == b"data" {
            data = len > 0;
        }
        at = body.saturating_add(len).saturating_add(len % 2);
    }
    let Some((Some(codec), Some(channels), Some(rate), Some(bits))) = format else {
        return Err("fichier WAV sans description du format (bloc « fmt » absent)".to_owned());
    };
    if codec != 1 {
        return Err("le fichier WAV doit être en PCM non compressé".to_owned());
    }
    if rate != 8000 || channels != 1 || bits != 16 {
        return Err(format!(
            "le fichier doit être en 8 kHz, mono, 16 bits (reçu : {rate} Hz, {channels} canal(aux), {bits} bits) ; \
             convertissez-le, par exemple : sox entree.wav -r 8000 -c 1 -b 16 sortie.wav"
        ));
    }
    if !data {
        return Err("le fichier WAV ne contient pas de son".to_owned());
    }
    Ok(())
}

/// The WAV as the media engine plays it: as is when it is 8 kHz mono 16-bit PCM, converted
/// (by the backend, with sox) when it is another WAV; the error is French.
async fn acceptable_wav(state: &AppState, bytes: &[u8]) -> Result<Vec<u8>, String> {
    let Err(problem) = check_wav(bytes) else {
        return Ok(bytes.to_vec());
    };
    if bytes.get(0..4) != Some(b"RIFF") || bytes.get(8..12) != Some(b"WAVE") {
        return Err(problem);
    }
    let converted = state
        .backend
        .convert_wav(bytes)
        .await
        .map_err(|e| format!("{problem} (conversion automatique impossible : {e})"))?;
    check_wav(&converted).map_err(|e| format!("conversion incorrecte : {e}"))?;
    Ok(converted)
}

/// Writes an audio file for a message into the server's messages directory.
async fn write_audio(state: &AppState, prefix: &str, bytes: &[u8]) -> Result<String, String> {
    let dir = state
        .backend
        .audio_dir()
        .ok_or("ce serveur n'accepte pas de fichiers audio")?;
    static N: AtomicU64 = AtomicU64::new(0);
    let file_name = format!(
        "{prefix}-{}-{}-{}.wav",
        state.backend.now().timestamp_millis(),
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let file = dir.join(&file_name);
    // The database keeps the audio for every node (docs/web.md); this directory is a cache.
    state
        .backend
        .store()
        .put_audio(
            &guichet_tickets::audio_files::message_name(&file_name),
            bytes,
            state.backend.now(),
        )
        .await
        .map_err(|e| store_error_fr(&e))?;
    tokio::fs::create_dir_all(&dir)
        .await
        .and(tokio::fs::write(&file, bytes).await)
        .map_err(|e| {
            tracing::warn!(error = %e, "message audio not written");
            "le fichier audio n'a pas pu être enregistré sur le serveur".to_owned()
        })?;
    Ok(file.display().to_string())
}

/// What a supervisor asks for a line's message beyond immediate typed text.
struct MessageRequest<'a> {
    line: &'a str,
    kind: MessageKind,
    text: String,
    /// WAV bytes uploaded (already checked), or none to synthesise `text`.
    wav: Option<Vec<u8>>,
    /// An audio file already on the server (a saved message).
    audio_path: Option<String>,
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    /// Also keep it in the library under this name.
    library_name: Option<String>,
}

/// Saves a message version in the store; the switchboard plays it within a second of its
/// start. Typed text without a start time and without audio goes through the switchboard at
/// once (as the plain form does).
async fn publish_message(
    state: &AppState,
    session: &Session,
    req: MessageRequest<'_>,
) -> Result<(), String> {
    if !state
        .backend
        .settings()
        .lines
        .iter()
        .any(|l| l.number == req.line)
    {
        return Err(format!("ligne inconnue : {}", req.line));
    }
    let now = state.backend.now();
    if let (Some(a), Some(b)) = (req.starts_at, req.ends_at)
        && b <= a
    {
        return Err("la fin doit suivre le début".to_owned());
    }
    if req.ends_at.is_some_and(|b| b <= now) {
        return Err("la fin doit être dans le futur".to_owned());
    }
    let text = req.text.trim().to_owned();
    let prefix = format!("{}-{}", req.line, kind_slug(req.kind));
    let audio_path = match (req.wav, req.audio_path) {
        (Some(wav), _) => Some(write_audio(state, &prefix, &wav).await?),
        (None, Some(path)) => Some(path),
        (None, None) => None,
    };
    if text.is_empty() && audio_path.is_none() {
        return Err("saisissez le texte du message ou déposez un fichier WAV".to_owned());
    }
    if let Some(name) = req
        .library_name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        state
            .backend
            .store()
            .save_library_message(name, &text, audio_path.as_deref(), &session.login, now)
            .await
            .map_err(|e| store_error_fr(&e))?;
    }
    let audio_path = match audio_path {
        Some(p) => p,
        None if req.starts_at.is_none_or(|a| a <= now) => {
            return state
                .backend
                .set_message(session.actor(), req.line, req.kind, &text, req.ends_at)
                .await;
        }
        None => {
            let wav = state
                .backend
                .preview_message(&text)
                .await
                .map_err(|e| format!("la synthèse vocale a échoué : {e}"))?;
            write_audio(state, &prefix, &wav).await?
        }
    };
    let label = if text.is_empty() {
        "(fichier audio déposé)".to_owned()
    } else {
        text
    };
    state
        .backend
        .store()
        .save_message(
            &NewMessage {
                line: req.line.to_owned(),
                kind: req.kind,
                text: label,
                audio_path: Some(audio_path),
                starts_at: req.starts_at,
                ends_at: req.ends_at,
                active: true,
            },
            &session.login,
            now,
        )
        .await
        .map(|_| ())
        .map_err(|e| store_error_fr(&e))
}

/// The extra sections of the messages page: programmed messages, WAV upload, library.
pub(crate) async fn messages_extra(state: &AppState, session: &Session) -> String {
    let store = state.backend.store();
    let now = state.backend.now();
    let csrf = escape(&session.csrf);
    let settings = state.backend.settings();
    let line_options: String = settings
        .lines
        .iter()
        .map(|l| {
            format!(
                "<option value=\"{}\">{} ({})</option>",
                escape(&l.number),
                escape(&l.name),
                escape(&l.number)
            )
        })
        .collect();
    let kind_options = "<option value=\"crise\">Message de crise</option>\
                        <option value=\"dissuasion\">Message de dissuasion</option>";
    let mut body = String::from(
        "<h2>Messages programmés</h2><table id=\"messages-programmes\"><tr><th>Ligne</th>\
         <th>Type</th><th>Texte</th><th>Début</th><th>Fin</th><th>Auteur</th></tr>",
    );
    for m in store.scheduled_messages(now).await.unwrap_or_default() {
        body.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td><q>{}</q></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&m.message.line),
            kind_slug(m.message.kind),
            escape(&m.message.text),
            m.message
                .starts_at
                .map(|t| local(state, t))
                .unwrap_or_default(),
            m.message
                .ends_at
                .map(|t| local(state, t))
                .unwrap_or_default(),
            escape(&m.author),
        ));
    }
    body.push_str(&format!(
        "</table><p>Un message programmé remplace le message en cours pendant sa période ; \
         à sa fin, le message précédent est de nouveau diffusé.</p>\
         <h2>Programmer un message, déposer un fichier WAV</h2>\
         <form method=\"post\" action=\"/superviseur/messages/programme\" id=\"form-programme\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <p><label for=\"p-line\">Ligne</label> <select id=\"p-line\" name=\"line\">{line_options}</select> \
         <label for=\"p-kind\">Type</label> <select id=\"p-kind\" name=\"kind\">{kind_options}</select></p>\
         <p><label for=\"p-text\">Texte (lu par la synthèse vocale, ou description du fichier WAV)</label><br>\
         <textarea id=\"p-text\" name=\"text\" rows=\"3\" maxlength=\"2000\"></textarea></p>\
         <p><label for=\"p-wav\">Fichier WAV (8 kHz, mono, 16 bits ; facultatif)</label> \
         <input id=\"p-wav\" type=\"file\" accept=\".wav,audio/wav\"></p>\
         <p><label for=\"p-starts\">Début (facultatif)</label> <input id=\"p-starts\" name=\"starts_at\" type=\"datetime-local\"> \
         <label for=\"p-ends\">Fin (facultatif)</label> <input id=\"p-ends\" name=\"ends_at\" type=\"datetime-local\"></p>\
         <p><label for=\"p-name\">Enregistrer aussi dans la bibliothèque sous le nom (facultatif)</label> \
         <input id=\"p-name\" name=\"library_name\" maxlength=\"200\"></p>\
         <p><button type=\"submit\" id=\"programmer\">Enregistrer</button> <span id=\"programme-etat\" role=\"status\"></span></p></form>\
         <h2>Bibliothèque de messages</h2><table id=\"bibliotheque\"><tr><th>Nom</th><th>Texte</th><th>Audio</th><th>Activer sur</th><th></th></tr>"
    ));
    for s in store.library_messages().await.unwrap_or_default() {
        body.push_str(&format!(
            "<tr data-message=\"{id}\"><td>{}</td><td><q>{}</q></td><td>{}</td><td>\
             <form method=\"post\" action=\"/superviseur/messages/bibliotheque/{id}/activer\" style=\"display:inline\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <select name=\"line\" aria-label=\"Ligne\">{line_options}</select> \
             <select name=\"kind\" aria-label=\"Type\">{kind_options}</select> \
             <button type=\"submit\">Activer</button></form></td><td>\
             <form method=\"post\" action=\"/superviseur/messages/bibliotheque/{id}/supprimer\" style=\"display:inline\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><button type=\"submit\">Supprimer</button></form></td></tr>",
            escape(&s.name),
            escape(&s.text),
            if s.audio_path.is_some() { "WAV" } else { "synthèse" },
            id = s.id,
        ));
    }
    body.push_str("</table><script src=\"/static/admin.js\"></script>");
    body
}

async fn messages_redirect_or_error(
    state: &AppState,
    session: &Session,
    result: Result<(), String>,
) -> Response {
    match result {
        Ok(()) => Redirect::to("/superviseur/messages?ok=enregistre").into_response(),
        Err(e) => {
            let body = format!(
                "<p role=\"alert\" class=\"erreur\">Le message n'a pas été enregistré : {}</p>\
                 <p><a href=\"/superviseur/messages\">Retour aux messages</a></p>",
                escape(&e)
            );
            page_with_notice(
                state,
                session,
                "Messages de crise et de dissuasion",
                StatusCode::UNPROCESSABLE_ENTITY,
                body,
            )
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct ProgrammeForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    line: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    starts_at: String,
    #[serde(default)]
    ends_at: String,
    #[serde(default)]
    library_name: String,
}

/// `POST /superviseur/messages/programme`: typed text with optional times and library name.
pub(crate) async fn message_programme(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<ProgrammeForm>,
) -> Response {
    let session = match require_form(&state, &headers, Need::Supervisor, form.csrf.as_deref()).await
    {
        Ok(s) => s,
        Err(r) => return r,
    };
    let result = async {
        let kind = parse_kind_slug(&form.kind).ok_or("type de message inconnu")?;
        let req = MessageRequest {
            line: &form.line,
            kind,
            text: form.text.clone(),
            wav: None,
            audio_path: None,
            starts_at: optional_local(&state, &form.starts_at, "début")?,
            ends_at: optional_local(&state, &form.ends_at, "fin")?,
            library_name: Some(form.library_name.clone()),
        };
        publish_message(&state, &session, req).await
    }
    .await;
    messages_redirect_or_error(&state, &session, result).await
}

#[derive(Deserialize)]
struct AudioQuery {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    starts_at: Option<String>,
    #[serde(default)]
    ends_at: Option<String>,
    #[serde(default)]
    library_name: Option<String>,
    /// `local` when times are `datetime-local` values (the page), else RFC 3339.
    #[serde(default)]
    times: Option<String>,
}

/// `PUT /api/v1/lines/{line}/messages/{kind}/audio` (also used by the page): the WAV file as
/// the raw body; text, times and library name in the query.
async fn api_message_audio(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((line, kind)): Path<(String, String)>,
    Query(q): Query<AudioQuery>,
    body: Bytes,
) -> Response {
    let session = match api_session(&state, &headers, true, true).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(kind) = parse_kind_slug(&kind) else {
        return json_error(
            StatusCode::NOT_FOUND,
            "type de message inconnu (crise ou dissuasion)",
        );
    };
    if body.len() > MAX_WAV_BYTES {
        return json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "fichier trop volumineux (10 minutes au plus)",
        );
    }
    let body = match acceptable_wav(&state, &body).await {
        Ok(wav) => wav,
        Err(e) => return json_error(StatusCode::UNPROCESSABLE_ENTITY, e),
    };
    let times = |raw: Option<&str>, what: &str| {
        if q.times.as_deref() == Some("local") {
            optional_local(&state, raw.unwrap_or(""), what)
        } else {
            optional_rfc3339(raw, what)
        }
    };
    let (starts_at, ends_at) = match (
        times(q.starts_at.as_deref(), "starts_at"),
        times(q.ends_at.as_deref(), "ends_at"),
    ) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return json_error(StatusCode::BAD_REQUEST, e),
    };
    let req = MessageRequest {
        line: &line,
        kind,
        text: q.text.clone().unwrap_or_default(),
        wav: Some(body),
        audio_path: None,
        starts_at,
        ends_at,
        library_name: q.library_name.clone(),
    };
    match publish_message(&state, &session, req).await {
        Ok(()) => (
            StatusCode::CREATED,
            Json(json!({ "line": line, "kind": kind_slug(kind) })),
        )
            .into_response(),
        Err(e) => json_error(StatusCode::UNPROCESSABLE_ENTITY, e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduledBody {
    text: String,
    #[serde(default)]
    starts_at: Option<DateTime<Utc>>,
    #[serde(default)]
    ends_at: Option<DateTime<Utc>>,
    #[serde(default)]
    library_name: Option<String>,
}

/// `POST /api/v1/lines/{line}/messages/{kind}/scheduled`: typed text with times.
async fn api_message_scheduled(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((line, kind)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let session = match api_session(&state, &headers, true, true).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(kind) = parse_kind_slug(&kind) else {
        return json_error(
            StatusCode::NOT_FOUND,
            "type de message inconnu (crise ou dissuasion)",
        );
    };
    let body: ScheduledBody = match crate::api::json_body(&body, "") {
        Ok(b) => b,
        Err(r) => return r,
    };
    let req = MessageRequest {
        line: &line,
        kind,
        text: body.text,
        wav: None,
        audio_path: None,
        starts_at: body.starts_at,
        ends_at: body.ends_at,
        library_name: body.library_name,
    };
    match publish_message(&state, &session, req).await {
        Ok(()) => (
            StatusCode::CREATED,
            Json(json!({ "line": line, "kind": kind_slug(kind) })),
        )
            .into_response(),
        Err(e) => json_error(StatusCode::UNPROCESSABLE_ENTITY, e),
    }
}

#[derive(Serialize)]
struct ScheduledView {
    line: String,
    kind: &'static str,
    text: String,
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    author: String,
}

async fn api_scheduled(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(r) = api_session(&state, &headers, true, false).await {
        return r;
    }
    match state
        .backend
        .store()
        .scheduled_messages(state.backend.now())
        .await
    {
        Ok(list) => Json(
            list.into_iter()
                .map(|m| ScheduledView {
                    line: m.message.line,
                    kind: kind_slug(m.message.kind),
                    text: m.message.text,
                    starts_at: m.message.starts_at,
                    ends_at: m.message.ends_at,
                    author: m.author,
                })
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => crate::api::store_error(&e),
    }
}

/// Makes a saved message live on a line.
async fn activate_saved(
    state: &AppState,
    session: &Session,
    id: i64,
    line: &str,
    kind: &str,
) -> Result<(), String> {
    let kind = parse_kind_slug(kind).ok_or("type de message inconnu")?;
    let saved = state
        .backend
        .store()
        .library_message(id)
        .await
        .map_err(|e| store_error_fr(&e))?
        .ok_or("message de la bibliothèque introuvable")?;
    let req = MessageRequest {
        line,
        kind,
        text: saved.text,
        wav: None,
        audio_path: saved.audio_path,
        starts_at: None,
        ends_at: None,
        library_name: None,
    };
    publish_message(state, session, req).await
}

#[derive(Deserialize)]
pub(crate) struct ActivateForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    line: String,
    #[serde(default)]
    kind: String,
}

/// `POST /superviseur/messages/bibliotheque/{id}/activer`.
pub(crate) async fn library_activate(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<ActivateForm>,
) -> Response {
    let session = match require_form(&state, &headers, Need::Supervisor, form.csrf.as_deref()).await
    {
        Ok(s) => s,
        Err(r) => return r,
    };
    let result = activate_saved(&state, &session, id, &form.line, &form.kind).await;
    messages_redirect_or_error(&state, &session, result).await
}

/// `POST /superviseur/messages/bibliotheque/{id}/supprimer`.
pub(crate) async fn library_remove(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<ActivateForm>,
) -> Response {
    let session = match require_form(&state, &headers, Need::Supervisor, form.csrf.as_deref()).await
    {
        Ok(s) => s,
        Err(r) => return r,
    };
    let result = state
        .backend
        .store()
        .remove_library_message(id, &session.login, state.backend.now())
        .await
        .map_err(|e| store_error_fr(&e));
    messages_redirect_or_error(&state, &session, result).await
}

#[derive(Serialize)]
struct SavedView {
    id: i64,
    name: String,
    text: String,
    audio: bool,
    author: String,
    created_at: DateTime<Utc>,
}

async fn api_library(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(r) = api_session(&state, &headers, true, false).await {
        return r;
    }
    match state.backend.store().library_messages().await {
        Ok(list) => Json(
            list.into_iter()
                .map(|s| SavedView {
                    id: s.id,
                    name: s.name,
                    text: s.text,
                    audio: s.audio_path.is_some(),
                    author: s.author,
                    created_at: s.created_at,
                })
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => crate::api::store_error(&e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LibraryBody {
    name: String,
    text: String,
}

async fn api_library_add(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (session, body): (Session, LibraryBody) =
        match api_json(&state, &headers, true, &body, "").await {
            Ok(found) => found,
            Err(r) => return r,
        };
    if body.text.trim().is_empty() {
        return json_error(StatusCode::UNPROCESSABLE_ENTITY, "« text » est vide");
    }
    crate::api::store_result(
        state
            .backend
            .store()
            .save_library_message(
                &body.name,
                body.text.trim(),
                None,
                &session.login,
                state.backend.now(),
            )
            .await,
        |id| (StatusCode::CREATED, Json(json!({ "id": id }))).into_response(),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActivateBody {
    line: String,
    kind: String,
}

async fn api_library_activate(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let (session, body): (Session, ActivateBody) =
        match api_json(&state, &headers, true, &body, "").await {
            Ok(found) => found,
            Err(r) => return r,
        };
    match activate_saved(&state, &session, id, &body.line, &body.kind).await {
        Ok(()) => Json(json!({ "line": body.line, "kind": body.kind })).into_response(),
        Err(e) => json_error(StatusCode::UNPROCESSABLE_ENTITY, e),
    }
}

async fn api_library_remove(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let session = match api_session(&state, &headers, true, true).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    crate::api::store_result(
        state
            .backend
            .store()
            .remove_library_message(id, &session.login, state.backend.now())
            .await,
        |()| StatusCode::NO_CONTENT.into_response(),
    )
}

// ---- prompts ----------------------------------------------------------------------------

#[derive(Serialize)]
struct PromptView {
    id: String,
    text: String,
    /// A recording from the administrators replaces the shipped one.
    replaced: bool,
}

fn prompt_views(set: &crate::PromptSet) -> Vec<PromptView> {
    set.prompts
        .iter()
        .map(|(id, text)| PromptView {
            id: id.clone(),
            text: text.clone(),
            replaced: set.override_dir.join(format!("{id}.wav")).is_file(),
        })
        .collect()
}

/// The prompt set and a known id, or the French error.
fn known_prompt<'a>(state: &'a AppState, id: &str) -> Result<&'a crate::PromptSet, String> {
    let set = state
        .backend
        .prompt_set()
        .ok_or("ce serveur ne permet pas de remplacer les annonces")?;
    // Only catalogue ids name files: nothing else reaches the file system.
    if set.prompts.iter().any(|(known, _)| known == id) {
        Ok(set)
    } else {
        Err(format!("annonce inconnue : « {id} »"))
    }
}

async fn replace_prompt(state: &AppState, actor: &str, id: &str, wav: &[u8]) -> Result<(), String> {
    let set = known_prompt(state, id)?;
    if wav.len() > MAX_WAV_BYTES {
        return Err("fichier trop volumineux (10 minutes au plus)".to_owned());
    }
    let wav = acceptable_wav(state, wav).await?;
    let target = set.override_dir.join(format!("{id}.wav"));
    let was_replaced = target.is_file();
    // The database keeps the recording for every node; the override directory is a cache.
    state
        .backend
        .store()
        .put_audio(
            &guichet_tickets::audio_files::prompt_name(id),
            &wav,
            state.backend.now(),
        )
        .await
        .map_err(|e| store_error_fr(&e))?;
    let partial = set.override_dir.join(format!(".{id}.wav.partiel"));
    let written = async {
        tokio::fs::create_dir_all(&set.override_dir).await?;
        tokio::fs::write(&partial, &wav).await?;
        // A rename is atomic: a caller never hears half a file.
        tokio::fs::rename(&partial, &target).await
    }
    .await;
    if let Err(e) = written {
        tracing::warn!(error = %e, prompt = id, "prompt not replaced");
        return Err("le fichier n'a pas pu être enregistré sur le serveur".to_owned());
    }
    journal(
        state,
        actor,
        "prompt.replace",
        &format!("prompt:{id}"),
        Some(if was_replaced {
            "enregistrement remplacé"
        } else {
            "annonce d'origine"
        }),
        Some(&format!("nouvel enregistrement ({} octets)", wav.len())),
    )
    .await
}

async fn restore_prompt(state: &AppState, actor: &str, id: &str) -> Result<(), String> {
    let set = known_prompt(state, id)?;
    let target = set.override_dir.join(format!("{id}.wav"));
    // Kept as an empty file rather than deleted, so that every node's cache, even one down
    // at this moment, learns that the prompt was restored.
    let name = guichet_tickets::audio_files::prompt_name(id);
    let store = state.backend.store();
    let stored = store
        .audio(&name)
        .await
        .map_err(|e| store_error_fr(&e))?
        .is_some_and(|bytes| !bytes.is_empty());
    if stored {
        store
            .put_audio(&name, &[], state.backend.now())
            .await
            .map_err(|e| store_error_fr(&e))?;
    }
    if !target.is_file() && !stored {
        return Err("cette annonce est déjà celle d'origine".to_owned());
    }
    if target.is_file() {
        tokio::fs::remove_file(&target).await.map_err(|e| {
            tracing::warn!(error = %e, prompt = id, "prompt not restored");
            "l'enregistrement n'a pas pu être supprimé".to_owned()
        })?;
    }
    journal(
        state,
        actor,
        "prompt.restore",
        &format!("prompt:{id}"),
        Some("enregistrement remplacé"),
        Some("annonce d'origine"),
    )
    .await
}

async fn prompt_audio_bytes(state: &AppState, id: &str) -> Result<Vec<u8>, String> {
    let set = known_prompt(state, id)?;
    let replaced = set.override_dir.join(format!("{id}.wav"));
    let path = if replaced.is_file() {
        replaced
    } else {
        set.shipped_dir.join(format!("{id}.wav"))
    };
    tokio::fs::read(&path)
        .await
        .map_err(|_| "fichier audio introuvable".to_owned())
}

/// `GET /admin/annonces`.
pub(crate) async fn prompts_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<NoticeQuery>,
) -> Response {
    let session = match require_page(&state, &headers, Need::Admin).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let csrf = escape(&session.csrf);
    let mut body = notice_html(
        q.ok.as_deref()
            .map(|_| "Modification enregistrée : elle s'applique dès le prochain appel."),
        None,
    );
    let Some(set) = state.backend.prompt_set() else {
        body.push_str("<p>Ce serveur ne permet pas de remplacer les annonces.</p>");
        return page_with_notice(&state, &session, "Annonces", StatusCode::OK, body);
    };
    let views = prompt_views(set);
    let options: String = views
        .iter()
        .map(|p| format!("<option value=\"{id}\">{id}</option>", id = escape(&p.id)))
        .collect();
    body.push_str(&format!(
        "<p>Chaque annonce du serveur vocal peut être remplacée par un enregistrement WAV \
         (8 kHz, mono, 16 bits ; un autre WAV est converti automatiquement). Le changement \
         s'applique dès le prochain appel, sans redémarrage.</p>\
         <h2>Remplacer une annonce</h2><p><label for=\"annonce-id\">Annonce</label> \
         <select id=\"annonce-id\">{options}</select> \
         <input type=\"file\" id=\"annonce-wav\" accept=\".wav,audio/wav\" aria-label=\"Fichier WAV\"> \
         <button type=\"button\" id=\"annonce-remplacer\" data-csrf=\"{csrf}\">Remplacer</button> \
         <span id=\"annonce-etat\" role=\"status\"></span></p>\
         <h2>Annonces</h2><table id=\"annonces\"><tr><th>Identifiant</th><th>Texte d'origine</th>\
         <th>État</th><th>Écouter</th><th></th></tr>"
    ));
    for p in &views {
        let id = escape(&p.id);
        let restore = if p.replaced {
            format!(
                "<form method=\"post\" action=\"/admin/annonces/{id}/retablir\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
                 <button type=\"submit\">Rétablir l'original</button></form>"
            )
        } else {
            String::new()
        };
        body.push_str(&format!(
            "<tr data-annonce=\"{id}\"><td>{id}</td><td>{}</td><td>{}</td>\
             <td><audio controls preload=\"none\" src=\"/admin/annonces/{id}/ecoute\"></audio></td><td>{restore}</td></tr>",
            escape(&p.text),
            if p.replaced { "remplacée" } else { "d'origine" },
        ));
    }
    body.push_str("</table><script src=\"/static/admin.js\"></script>");
    page_with_notice(&state, &session, "Annonces", StatusCode::OK, body)
}

/// `GET /admin/annonces/{id}/ecoute` and `GET /api/v1/admin/prompts/{id}/audio`.
async fn prompt_audio(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = api_session(&state, &headers, false, false).await {
        return r;
    }
    match prompt_audio_bytes(&state, &id).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, "audio/wav")], bytes).into_response(),
        Err(e) => json_error(StatusCode::NOT_FOUND, e),
    }
}

/// `POST /admin/annonces/{id}/retablir`.
pub(crate) async fn prompt_restore_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<ActivateForm>,
) -> Response {
    let session = match require_form(&state, &headers, Need::Admin, form.csrf.as_deref()).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match restore_prompt(&state, &session.login, &id).await {
        Ok(()) => Redirect::to("/admin/annonces?ok=1").into_response(),
        Err(e) => page_with_notice(
            &state,
            &session,
            "Annonces",
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "{}<p><a href=\"/admin/annonces\">Retour aux annonces</a></p>",
                notice_html(None, Some(&e))
            ),
        ),
    }
}

async fn api_prompts(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(r) = api_session(&state, &headers, false, false).await {
        return r;
    }
    match state.backend.prompt_set() {
        Some(set) => Json(prompt_views(set)).into_response(),
        None => Json(Vec::<PromptView>::new()).into_response(),
    }
}

/// `PUT /api/v1/admin/prompts/{id}` (also used by the page): the WAV as the raw body.
async fn api_replace_prompt(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let session = match api_session(&state, &headers, false, true).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match replace_prompt(&state, &session.login, &id, &body).await {
        Ok(()) => Json(json!({ "id": id, "replaced": true })).into_response(),
        Err(e) => json_error(StatusCode::UNPROCESSABLE_ENTITY, e),
    }
}

async fn api_restore_prompt(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let session = match api_session(&state, &headers, false, true).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match restore_prompt(&state, &session.login, &id).await {
        Ok(()) => Json(json!({ "id": id, "replaced": false })).into_response(),
        Err(e) => json_error(StatusCode::UNPROCESSABLE_ENTITY, e),
    }
}

// ---- calendars and SLA policies ----------------------------------------------------------

/// An exception as the page and the API send it.
#[derive(Deserialize)]
struct ExceptionBody {
    date: String,
    #[serde(default)]
    until: Option<String>,
    /// `"08:00-12:00, 13:00-17:00"`, or empty / absent for a closure.
    #[serde(default)]
    hours: Option<String>,
    #[serde(default)]
    label: String,
}

fn parse_exception(
    calendar: &str,
    body: &ExceptionBody,
) -> Result<guichet_tickets::admin::NewCalendarException, String> {
    let day = |s: &str, what: &str| {
        chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
            .map_err(|_| format!("{what} illisible : « {} » (attendu AAAA-MM-JJ)", s.trim()))
    };
    let date = day(&body.date, "date")?;
    let until = match body
        .until
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(u) => Some(day(u, "dernier jour")?),
        None => None,
    };
    if until.is_some_and(|u| u < date) {
        return Err("le dernier jour précède le premier".to_owned());
    }
    let ranges: Vec<String> = body
        .hours
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    for r in &ranges {
        let ok = r.split_once('-').is_some_and(|(a, b)| {
            [a, b].iter().all(|t| {
                chrono::NaiveTime::parse_from_str(t.trim(), "%H:%M").is_ok() || t.trim() == "24:00"
            })
        });
        if !ok {
            return Err(format!(
                "plage horaire illisible : « {r} » (attendu 08:00-12:00)"
            ));
        }
    }
    let label = body.label.trim();
    if label.is_empty() {
        return Err(
            "donnez un libellé (ce qui est annoncé aux appelants et aux agents)".to_owned(),
        );
    }
    Ok(guichet_tickets::admin::NewCalendarException {
        calendar: calendar.to_owned(),
        date,
        until,
        hours: (!ranges.is_empty()).then_some(ranges),
        label: label.to_owned(),
    })
}

/// Checks, stores and applies an exception.
async fn add_exception(
    state: &AppState,
    actor: &str,
    calendar: &str,
    body: &ExceptionBody,
) -> Result<i64, String> {
    if !state
        .backend
        .calendars_toml()
        .iter()
        .any(|(n, _)| n == calendar)
    {
        return Err(format!("calendrier inconnu : « {calendar} »"));
    }
    let exception = parse_exception(calendar, body)?;
    state
        .backend
        .calendar_update(calendar, Some(exception.clone()))
        .await?;
    let id = state
        .backend
        .store()
        .add_calendar_exception(&exception, actor, state.backend.now())
        .await
        .map_err(|e| store_error_fr(&e))?;
    state.backend.calendar_update(calendar, None).await?;
    Ok(id)
}

async fn remove_exception(state: &AppState, actor: &str, id: i64) -> Result<(), String> {
    let calendar = state
        .backend
        .store()
        .remove_calendar_exception(id, actor, state.backend.now())
        .await
        .map_err(|e| store_error_fr(&e))?;
    state.backend.calendar_update(&calendar, None).await
}

#[derive(Serialize)]
struct ExceptionView {
    id: i64,
    calendar: String,
    date: chrono::NaiveDate,
    until: Option<chrono::NaiveDate>,
    hours: Option<Vec<String>>,
    label: String,
    author: String,
}

async fn exception_views(state: &AppState) -> Vec<ExceptionView> {
    state
        .backend
        .store()
        .calendar_exceptions(None)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "calendar exceptions unreadable");
            Vec::new()
        })
        .into_iter()
        .map(|e| ExceptionView {
            id: e.id,
            calendar: e.exception.calendar,
            date: e.exception.date,
            until: e.exception.until,
            hours: e.exception.hours,
            label: e.exception.label,
            author: e.author,
        })
        .collect()
}

async fn calendars_body(state: &AppState, session: &Session, notice: &str) -> String {
    let csrf = escape(&session.csrf);
    let calendars = state.backend.calendars_toml();
    let mut body = String::from(notice);
    body.push_str(
        "<p>Les fermetures et ouvertures exceptionnelles ajoutées ici s'appliquent tout de suite \
         aux lignes (serveur vocal et files d'attente), sans redémarrage, et s'ajoutent à celles \
         de la configuration. Les délais SLA des tickets en tiennent compte aussi : une \
         journée fermée ne compte pas.</p><h2>Exceptions ajoutées</h2><table id=\"exceptions\"><tr><th>Calendrier</th>\
         <th>Du</th><th>Au</th><th>Horaires</th><th>Libellé</th><th>Par</th><th></th></tr>",
    );
    for e in exception_views(state).await {
        body.push_str(&format!(
            "<tr data-exception=\"{id}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>\
             <form method=\"post\" action=\"/admin/calendriers/exceptions/{id}/supprimer\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><button type=\"submit\">Supprimer</button></form></td></tr>",
            escape(&e.calendar),
            e.date.format("%d/%m/%Y"),
            e.until.map(|u| u.format("%d/%m/%Y").to_string()).unwrap_or_default(),
            escape(&e.hours.map(|h| format!("ouvert {}", h.join(", "))).unwrap_or_else(|| "fermé".to_owned())),
            escape(&e.label),
            escape(&e.author),
            id = e.id,
        ));
    }
    let options: String = calendars
        .iter()
        .map(|(n, _)| format!("<option value=\"{n}\">{n}</option>", n = escape(n)))
        .collect();
    body.push_str(&format!(
        "</table><h2>Ajouter une fermeture ou une ouverture exceptionnelle</h2>\
         <form method=\"post\" action=\"/admin/calendriers/exceptions\" id=\"ajout-exception\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <p><label for=\"cal\">Calendrier</label> <select id=\"cal\" name=\"calendar\">{options}</select> \
         <label for=\"cal-date\">Du</label> <input id=\"cal-date\" type=\"date\" name=\"date\" required> \
         <label for=\"cal-until\">Au (facultatif)</label> <input id=\"cal-until\" type=\"date\" name=\"until\"></p>\
         <p><label for=\"cal-hours\">Horaires d'ouverture (vide : fermé toute la journée)</label> \
         <input id=\"cal-hours\" name=\"hours\" placeholder=\"09:00-12:00, 14:00-16:00\"> \
         <label for=\"cal-label\">Libellé</label> <input id=\"cal-label\" name=\"label\" required placeholder=\"Fermeture exceptionnelle\"></p>\
         <p><button type=\"submit\">Ajouter</button></p></form>"
    ));
    body.push_str(&crate::admin_settings::weekly_hours_section(state, session).await);
    body.push_str("<h2>Calendriers configurés</h2>");
    for (name, toml) in &calendars {
        body.push_str(&format!(
            "<h3>{}</h3><pre>{}</pre>",
            escape(name),
            escape(toml)
        ));
    }
    body
}

/// `GET /admin/calendriers`.
pub(crate) async fn calendars_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<NoticeQuery>,
) -> Response {
    let session = match require_page(&state, &headers, Need::Admin).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let notice = notice_html(
        q.ok.as_deref()
            .map(|_| "Modification enregistrée et appliquée."),
        None,
    );
    let body = calendars_body(&state, &session, &notice).await;
    page_with_notice(
        &state,
        &session,
        "Calendriers et fermetures exceptionnelles",
        StatusCode::OK,
        body,
    )
}

#[derive(Deserialize)]
pub(crate) struct ExceptionForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    calendar: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    hours: String,
    #[serde(default)]
    label: String,
}

pub(crate) async fn calendars_result(
    state: &AppState,
    session: &Session,
    result: Result<(), String>,
) -> Response {
    match result {
        Ok(()) => Redirect::to("/admin/calendriers?ok=1").into_response(),
        Err(e) => {
            let body = calendars_body(state, session, &notice_html(None, Some(&e))).await;
            page_with_notice(
                state,
                session,
                "Calendriers et fermetures exceptionnelles",
                StatusCode::UNPROCESSABLE_ENTITY,
                body,
            )
        }
    }
}

/// `POST /admin/calendriers/exceptions`.
pub(crate) async fn exception_add_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<ExceptionForm>,
) -> Response {
    let session = match require_form(&state, &headers, Need::Admin, form.csrf.as_deref()).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let body = ExceptionBody {
        date: form.date.clone(),
        until: Some(form.until.clone()),
        hours: Some(form.hours.clone()),
        label: form.label.clone(),
    };
    let result = add_exception(&state, &session.login, &form.calendar, &body)
        .await
        .map(|_| ());
    calendars_result(&state, &session, result).await
}

/// `POST /admin/calendriers/exceptions/{id}/supprimer`.
pub(crate) async fn exception_remove_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<ActivateForm>,
) -> Response {
    let session = match require_form(&state, &headers, Need::Admin, form.csrf.as_deref()).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let result = remove_exception(&state, &session.login, id).await;
    calendars_result(&state, &session, result).await
}

async fn api_calendars(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(r) = api_session(&state, &headers, false, false).await {
        return r;
    }
    let calendars: Vec<_> = state
        .backend
        .calendars_toml()
        .into_iter()
        .map(|(name, toml)| json!({ "name": name, "configuration": toml }))
        .collect();
    Json(json!({ "calendars": calendars, "exceptions": exception_views(&state).await }))
        .into_response()
}

async fn api_add_exception(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let (session, body): (Session, ExceptionBody) =
        match api_json(&state, &headers, false, &body, "").await {
            Ok(found) => found,
            Err(r) => return r,
        };
    match add_exception(&state, &session.login, &name, &body).await {
        Ok(id) => (StatusCode::CREATED, Json(json!({ "id": id }))).into_response(),
        Err(e) => json_error(StatusCode::UNPROCESSABLE_ENTITY, e),
    }
}

async fn api_remove_exception(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let session = match api_session(&state, &headers, false, true).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match remove_exception(&state, &session.login, id).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => json_error(StatusCode::UNPROCESSABLE_ENTITY, e),
    }
}

// ---- agents: queues and skill levels -----------------------------------------------------

/// `GET /superviseur/agents`: each agent's state, queues and skill levels, from the live ACD
/// picture, with the forced pause and log-out of the wallboard.
pub(crate) async fn agents_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let session = match require_page(&state, &headers, Need::Supervisor).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let mut body = String::from(
        "<p>Files et niveaux de compétence de chaque agent (1 = meilleur niveau), tels que \
         l'ACD les applique. Un changement s'applique tout de suite, jusqu'au prochain \
         redémarrage (la configuration <code>[[agents]] queues</code> s'applique alors de \
         nouveau) ; la pause forcée et la déconnexion se font depuis le \
         <a href=\"/superviseur/mur\">mur d'affichage</a>.</p>\
         <table id=\"agents-files\"><tr><th>Agent</th><th>État</th><th>Files (niveau)</th><th>Changer</th></tr>",
    );
    match state.backend.snapshot().await {
        Ok(snapshot) => {
            let queue_options: String = snapshot
                .queues
                .iter()
                .map(|q| format!("<option value=\"{n}\">{n}</option>", n = escape(&q.name)))
                .collect();
            for a in &snapshot.agents {
                let queues = a
                    .queues
                    .iter()
                    .map(|(q, level)| format!("{} (niveau {level})", escape(q)))
                    .collect::<Vec<_>>()
                    .join(", ");
                let levels: String = (1..=9)
                    .map(|l| format!("<option value=\"{l}\">niveau {l}</option>"))
                    .collect();
                body.push_str(&format!(
                    "<tr data-agent=\"{login}\"><td>{login}</td><td>{}</td><td>{queues}</td><td>\
                     <form method=\"post\" action=\"/superviseur/agents/{login}/files\">\
                     <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
                     <select name=\"queue\" aria-label=\"File\">{queue_options}</select> \
                     <select name=\"level\" aria-label=\"Niveau\">{levels}<option value=\"retirer\">retirer de la file</option></select> \
                     <button type=\"submit\">Appliquer</button></form></td></tr>",
                    a.status.label_fr(),
                    login = escape(a.agent.as_str()),
                    csrf = escape(&session.csrf),
                ));
            }
        }
        Err(e) => body.push_str(&format!(
            "<tr><td colspan=\"4\" class=\"erreur\">Le standard ne répond pas : {}</td></tr>",
            escape(&e)
        )),
    }
    body.push_str("</table>");
    page_with_notice(
        &state,
        &session,
        "Agents : files et compétences",
        StatusCode::OK,
        body,
    )
}

/// Changes an agent's level in a queue (`None`: leaves it), live in the ACD; journaled with
/// the level before and after.
async fn set_agent_queue(
    state: &AppState,
    session: &Session,
    login: &str,
    queue: &str,
    level: Option<u8>,
) -> Result<(), String> {
    if level.is_some_and(|l| !(1..=9).contains(&l)) {
        return Err("le niveau va de 1 (meilleur) à 9".to_owned());
    }
    let snapshot = state.backend.snapshot().await?;
    if !snapshot.queues.iter().any(|q| q.name == queue) {
        return Err(format!("file inconnue : « {queue} »"));
    }
    let agent = snapshot
        .agents
        .iter()
        .find(|a| a.agent.as_str() == login)
        .ok_or_else(|| format!("agent inconnu de l'ACD : « {login} »"))?;
    let describe = |l: Option<u8>| match l {
        Some(l) => format!("{queue} : niveau {l}"),
        None => format!("{queue} : absent"),
    };
    let before = agent
        .queues
        .iter()
        .find(|(q, _)| q == queue)
        .map(|(_, l)| *l);
    state
        .backend
        .agent_state(
            login,
            crate::AgentStateChange::SetQueue {
                queue: queue.to_owned(),
                level,
            },
        )
        .await?;
    // The agent's whole membership after the change, kept over `[[agents]]` at the next
    // start (docs/web.md), journaled as this one change.
    let mut membership: std::collections::BTreeMap<String, u8> =
        agent.queues.iter().cloned().collect();
    match level {
        Some(l) => membership.insert(queue.to_owned(), l),
        None => membership.remove(queue),
    };
    let value = serde_json::to_string(&membership).map_err(|e| e.to_string())?;
    let (before, after) = (describe(before), describe(level));
    state
        .backend
        .store()
        .save_setting_journaled(
            guichet_tickets::settings::AGENT_QUEUES,
            login,
            &value,
            &guichet_tickets::settings::SettingJournal {
                action: "agent.queue",
                subject: &format!("agent:{login}"),
                before: Some(&before),
                after: Some(&after),
            },
            &session.login,
            state.backend.now(),
        )
        .await
        .map(|_| ())
        .map_err(|e| store_error_fr(&e))
}

#[derive(Deserialize)]
pub(crate) struct QueueForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    queue: String,
    #[serde(default)]
    level: String,
}

/// `POST /superviseur/agents/{login}/files`.
pub(crate) async fn agent_queue_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(login): Path<String>,
    Form(form): Form<QueueForm>,
) -> Response {
    let session = match require_form(&state, &headers, Need::Supervisor, form.csrf.as_deref()).await
    {
        Ok(s) => s,
        Err(r) => return r,
    };
    let level = if form.level == "retirer" {
        Ok(None)
    } else {
        form.level
            .parse::<u8>()
            .map(Some)
            .map_err(|_| "niveau illisible".to_owned())
    };
    let result = match level {
        Ok(level) => set_agent_queue(&state, &session, &login, &form.queue, level).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Redirect::to("/superviseur/agents").into_response(),
        Err(e) => page_with_notice(
            &state,
            &session,
            "Agents : files et compétences",
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "{}<p><a href=\"/superviseur/agents\">Retour aux agents</a></p>",
                notice_html(None, Some(&format!("Changement refusé : {e}")))
            ),
        ),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QueueBody {
    level: Option<u8>,
}

/// `PUT /api/v1/agents/{login}/queues/{queue}`: body `{"level": 2}`, or `{"level": null}` to
/// leave the queue.
async fn api_agent_queue(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((login, queue)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let (session, body): (Session, QueueBody) = match api_json(
        &state,
        &headers,
        true,
        &body,
        " (attendu {\"level\": 1..9 ou null})",
    )
    .await
    {
        Ok(found) => found,
        Err(r) => return r,
    };
    match set_agent_queue(&state, &session, &login, &queue, body.level).await {
        Ok(()) => {
            Json(json!({ "login": login, "queue": queue, "level": body.level })).into_response()
        }
        Err(e) => json_error(StatusCode::UNPROCESSABLE_ENTITY, e),
    }
}

// ---- routes -----------------------------------------------------------------------------

/// The pages and uploads of this module (merged into the main router).
pub(crate) fn page_routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(admin_home))
        .route("/admin/utilisateurs", get(users_page).post(users_create))
        .route("/admin/utilisateurs/{login}", post(users_change))
        .route("/admin/annuaire", get(directory_page))
        .route("/admin/annuaire/import", post(import_upload))
        .route("/admin/annuaire/import/{id}", get(import_progress))
        .route("/admin/annuaire/vip", post(vip_set))
        .route("/admin/annuaire/p0", post(p0_add))
        .route("/admin/annuaire/p0/{id}", post(p0_change))
        .route("/superviseur/messages/programme", post(message_programme))
        .route(
            "/superviseur/messages/bibliotheque/{id}/activer",
            post(library_activate),
        )
        .route(
            "/superviseur/messages/bibliotheque/{id}/supprimer",
            post(library_remove),
        )
        .route("/admin/calendriers", get(calendars_page))
        .route("/admin/calendriers/exceptions", post(exception_add_form))
        .route(
            "/admin/calendriers/exceptions/{id}/supprimer",
            post(exception_remove_form),
        )
        .route("/superviseur/agents", get(agents_page))
        .route("/superviseur/agents/{login}/files", post(agent_queue_form))
        .route("/admin/annonces", get(prompts_page))
        .route("/admin/annonces/{id}/ecoute", get(prompt_audio))
        .route("/admin/annonces/{id}/retablir", post(prompt_restore_form))
        .route("/static/admin.js", get(admin_js))
        // Uploads (directory CSV, WAV files) are larger than axum's 2 MB default.
        .layer(axum::extract::DefaultBodyLimit::max(MAX_CSV_BYTES))
}

/// The JSON API of this module (merged under `/api/v1`).
pub(crate) fn api_routes() -> Router<AppState> {
    Router::new()
        .route("/admin/users", get(api_users).post(api_create_user))
        .route("/admin/users/{login}", put(api_change_user))
        .route("/admin/directory/imports", post(import_upload))
        .route("/admin/directory/imports/{id}", get(import_progress))
        .route("/admin/directory/people", get(api_people))
        .route("/admin/directory/people/{id}/vip", put(api_vip))
        .route(
            "/admin/directory/p0-windows",
            get(api_windows).post(api_add_window),
        )
        .route(
            "/admin/directory/p0-windows/{id}",
            put(api_change_window).delete(api_remove_window),
        )
        .route("/agents/{login}/queues/{queue}", put(api_agent_queue))
        .route("/admin/calendars", get(api_calendars))
        .route(
            "/admin/calendars/{name}/exceptions",
            post(api_add_exception),
        )
        .route(
            "/admin/calendars/exceptions/{id}",
            axum::routing::delete(api_remove_exception),
        )
        .route("/admin/prompts", get(api_prompts))
        .route(
            "/admin/prompts/{id}",
            put(api_replace_prompt).delete(api_restore_prompt),
        )
        .route("/admin/prompts/{id}/audio", get(prompt_audio))
        .route("/messages/scheduled", get(api_scheduled))
        .route("/messages/library", get(api_library).post(api_library_add))
        .route(
            "/messages/library/{id}",
            axum::routing::delete(api_library_remove),
        )
        .route(
            "/messages/library/{id}/activate",
            post(api_library_activate),
        )
        .route(
            "/lines/{line}/messages/{kind}/audio",
            put(api_message_audio),
        )
        .route(
            "/lines/{line}/messages/{kind}/scheduled",
            post(api_message_scheduled),
        )
        .layer(axum::extract::DefaultBodyLimit::max(MAX_CSV_BYTES))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(rate: u32, channels: u16, bits: u16) -> Vec<u8> {
        let data = vec![0u8; 320];
        let mut v = b"RIFF".to_vec();
        v.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
        v.extend_from_slice(b"WAVEfmt ");
        v.extend_from_slice(&16u32.to_le_bytes());
        v.extend_from_slice(&1u16.to_le_bytes());
        v.extend_from_slice(&channels.to_le_bytes());
        v.extend_from_slice(&rate.to_le_bytes());
        v.extend_from_slice(&(rate * u32::from(channels) * u32::from(bits / 8)).to_le_bytes());
        v.extend_from_slice(&(channels * bits / 8).to_le_bytes());
        v.extend_from_slice(&bits.to_le_bytes());
        v.extend_from_slice(b"data");
        v.extend_from_slice(&(data.len() as u32).to_le_bytes());
        v.extend_from_slice(&data);
        v
    }

    #[test]
    fn only_8khz_mono_16bit_pcm_wav_is_accepted() {
        assert_eq!(check_wav(&wav(8000, 1, 16)), Ok(()));
        let stereo = check_wav(&wav(44_100, 2, 16)).unwrap_err();
        assert!(
            stereo.contains("8 kHz, mono, 16 bits") && stereo.contains("44100 Hz"),
            "{stereo}"
        );
        assert!(check_wav(&wav(8000, 1, 8)).is_err());
        assert!(
            check_wav(b"ceci n'est pas un son")
                .unwrap_err()
                .contains("pas un fichier WAV")
        );
    }

    #[test]
    fn form_bodies_keep_repeated_fields_and_decode_percent_escapes() {
        let f = form_fields(b"roles=agent&roles=admin&name=Am%C3%A9lie+Martin&x=100%25");
        assert_eq!(f["roles"], vec!["agent", "admin"]);
        assert_eq!(f["name"], vec!["Amélie Martin"]);
        assert_eq!(f["x"], vec!["100%"]);
    }
}
