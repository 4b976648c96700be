//! Accounts, passwords, sessions and CSRF.
//!
//! - Passwords are argon2id PHC strings; the tenders' length rules (12 characters for agents
//!   and supervisors, 14 for admins: CULTURE 3482-3490) are checked by [`hash_password`],
//!   the only way this crate makes a hash.
//! - A session cookie holds 32 random bytes; the store keeps only their SHA-256, so a copy
//!   of the database does not open sessions.
//! - The CSRF token of a session is derived from the (secret, HttpOnly) cookie value, so no
//!   extra state is kept: forms carry it in a hidden `csrf` field, API writes in the
//!   `X-CSRF-Token` header. Before login, the login form uses a double-submit cookie.
//! - A login is locked after 5 failures in 15 minutes; every success, failure and lock-out
//!   goes to the store's security log.

use std::net::SocketAddr;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::Form;
use axum::extract::{ConnectInfo, State};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use guichet_tickets::SecurityEvent;
use rand::RngCore as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::html::{escape, page};
use crate::{AppState, Role};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "guichet_session";
/// Name of the login form's double-submit cookie.
pub const LOGIN_CSRF_COOKIE: &str = "guichet_connexion";
/// Failures that lock a login.
pub const MAX_FAILURES: usize = 5;
/// Window in which failures count, and how long a lock lasts.
pub const LOCK_WINDOW_MINUTES: i64 = 15;
/// Lifetime of a session.
const SESSION_HOURS: i64 = 12;

/// Why a password cannot be set.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PasswordError {
    /// Shorter than the role's minimum.
    #[error("le mot de passe doit compter au moins {min} caractères pour ce rôle")]
    TooShort { min: usize },
    /// The hasher failed (should not happen with valid parameters).
    #[error("le mot de passe n'a pas pu être chiffré : {0}")]
    Hashing(String),
}

/// Minimum length of a password for an account with these roles.
pub fn min_password_len(roles: &[Role]) -> usize {
    if roles.contains(&Role::Admin) { 14 } else { 12 }
}

/// Hashes `password` with argon2id after checking the length rule of `roles`.
pub fn hash_password(password: &str, roles: &[Role]) -> Result<String, PasswordError> {
    let min = min_password_len(roles);
    if password.chars().count() < min {
        return Err(PasswordError::TooShort { min });
    }
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| PasswordError::Hashing(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hashing(e.to_string()))
}

/// Whether `password` matches the PHC string `hash`.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A hash of no real password, verified against when the login is unknown.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&random_token(), &[Role::Admin]).unwrap_or_default())
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// The store id of a session cookie value.
fn session_id(cookie: &str) -> String {
    sha256_hex(cookie)
}

/// The CSRF token of a session cookie value.
fn csrf_of(cookie: &str) -> String {
    sha256_hex(&format!("csrf|{cookie}"))[..40].to_owned()
}

/// Constant-time comparison of two tokens.
pub(crate) fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

pub(crate) fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn set_cookie(state: &AppState, name: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
    let secure = if state.backend.settings().secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let age = max_age
        .map(|s| format!("; Max-Age={s}"))
        .unwrap_or_default();
    // Cookie values here are base64url or empty: always a valid header.
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict{secure}{age}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("invalid=; Path=/"))
}

/// A logged-in account.
#[derive(Debug, Clone)]
pub struct Session {
    /// Login.
    pub login: String,
    /// Display name.
    pub name: String,
    /// Roles.
    pub roles: Vec<Role>,
    /// The CSRF token forms and API writes must carry.
    pub csrf: String,
    cookie: String,
}

impl Session {
    /// Whether the account may use the supervisor pages and message API.
    pub fn is_supervisor(&self) -> bool {
        self.roles
            .iter()
            .any(|r| matches!(r, Role::Supervisor | Role::Admin))
    }

    /// The highest role.
    pub fn top_role(&self) -> Role {
        self.roles.iter().copied().max().unwrap_or(Role::Agent)
    }

    /// The actor for the switchboard and the journal.
    pub fn actor(&self) -> crate::Actor {
        crate::Actor {
            login: self.login.clone(),
            role: self.top_role(),
        }
    }
}

/// The session of a request, if its cookie is live.
pub(crate) async fn current(state: &AppState, headers: &HeaderMap) -> Option<Session> {
    let cookie = cookie_value(headers, SESSION_COOKIE)?;
    if cookie.is_empty() {
        return None;
    }
    let store = state.backend.store();
    let login = match store
        .session_login(&session_id(&cookie), state.backend.now())
        .await
    {
        Ok(Some(login)) => login,
        Ok(None) => return None,
        Err(e) => {
            tracing::warn!(error = %e, "session lookup failed");
            return None;
        }
    };
    let agent = store.agent(&login).await.ok().flatten()?;
    Some(Session {
        login: agent.login,
        name: agent.display_name,
        roles: agent.roles.iter().filter_map(|r| Role::parse(r)).collect(),
        csrf: csrf_of(&cookie),
        cookie,
    })
}

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// Any logged-in account.
    Account,
    /// A supervisor or an admin.
    Supervisor,
    /// An admin.
    Admin,
}

/// The session of a page request, or the response to send instead (redirect to the login
/// page, or 403 in French).
pub(crate) async fn require_page(
    state: &AppState,
    headers: &HeaderMap,
    need: Need,
) -> Result<Session, Response> {
    let Some(session) = current(state, headers).await else {
        return Err(Redirect::to("/connexion").into_response());
    };
    match need {
        Need::Supervisor if !session.is_supervisor() => Err(forbidden_page(state, &session)),
        Need::Admin if !session.roles.contains(&Role::Admin) => {
            Err(forbidden_admin_page(state, &session))
        }
        _ => Ok(session),
    }
}

/// The session of a form post: the page's access rule, then the form's CSRF token.
pub(crate) async fn require_form(
    state: &AppState,
    headers: &HeaderMap,
    need: Need,
    csrf: Option<&str>,
) -> Result<Session, Response> {
    let session = require_page(state, headers, need).await?;
    check_form_csrf(state, &session, csrf)?;
    Ok(session)
}

pub(crate) fn forbidden_admin_page(state: &AppState, session: &Session) -> Response {
    (
        StatusCode::FORBIDDEN,
        page(
            &state.backend.settings().server_name,
            "Accès refusé",
            Some(session),
            "<p role=\"alert\" class=\"erreur\">Cette page est réservée aux administrateurs.</p>",
        ),
    )
        .into_response()
}

pub(crate) fn forbidden_page(state: &AppState, session: &Session) -> Response {
    (
        StatusCode::FORBIDDEN,
        page(
            &state.backend.settings().server_name,
            "Accès refusé",
            Some(session),
            "<p role=\"alert\" class=\"erreur\">Cette page est réservée aux superviseurs et \
             aux administrateurs.</p>",
        ),
    )
        .into_response()
}

/// Checks the CSRF token of a form.
pub(crate) fn check_form_csrf(
    state: &AppState,
    session: &Session,
    token: Option<&str>,
) -> Result<(), Response> {
    match token {
        Some(t) if same_token(t, &session.csrf) => Ok(()),
        _ => Err((
            StatusCode::FORBIDDEN,
            page(
                &state.backend.settings().server_name,
                "Requête refusée",
                Some(session),
                "<p role=\"alert\" class=\"erreur\">Jeton de sécurité (CSRF) absent ou invalide : \
                 rechargez la page et recommencez.</p>",
            ),
        )
            .into_response()),
    }
}

fn login_form(
    state: &AppState,
    token: &str,
    login: &str,
    error: Option<&str>,
) -> axum::response::Html<String> {
    let error = error
        .map(|e| format!("<p role=\"alert\" class=\"erreur\">{}</p>", escape(e)))
        .unwrap_or_default();
    page(
        &state.backend.settings().server_name,
        "Connexion",
        None,
        &format!(
            "{error}<form method=\"post\" action=\"/connexion\" class=\"connexion\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{token}\">\
             <p><label for=\"login\">Identifiant</label><br>\
             <input id=\"login\" name=\"login\" autocomplete=\"username\" required value=\"{}\"></p>\
             <p><label for=\"password\">Mot de passe</label><br>\
             <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required></p>\
             <p><button type=\"submit\" id=\"se-connecter\">Se connecter</button></p></form>",
            escape(login)
        ),
    )
}

/// `GET /connexion`: the login form, with a fresh double-submit token.
pub(crate) async fn login_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if current(&state, &headers).await.is_some() {
        return Redirect::to("/").into_response();
    }
    let token = random_token();
    let mut response = login_form(&state, &token, "", None).into_response();
    response.headers_mut().append(
        SET_COOKIE,
        set_cookie(&state, LOGIN_CSRF_COOKIE, &token, Some(3600)),
    );
    response
}

/// The login form's fields.
#[derive(Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: Option<String>,
}

/// Failures of `login` since its last success within the lock window.
async fn recent_failures(state: &AppState, login: &str, now: DateTime<Utc>) -> usize {
    let since = now - Duration::minutes(LOCK_WINDOW_MINUTES);
    match state.backend.store().security_events_for(login).await {
        Ok(events) => events
            .iter()
            .filter(|e| e.event == "login")
            .take_while(|e| e.at >= since && !e.success)
            .count(),
        Err(e) => {
            tracing::warn!(error = %e, "security log unreadable");
            0
        }
    }
}

async fn log_event(
    state: &AppState,
    login: &str,
    event: &str,
    success: bool,
    remote: Option<SocketAddr>,
    detail: &str,
) {
    let entry = SecurityEvent {
        at: state.backend.now(),
        login: login.to_owned(),
        event: event.to_owned(),
        success,
        remote_addr: remote.map(|a| a.ip().to_string()),
        detail: Some(detail.to_owned()),
    };
    if let Err(e) = state.backend.store().log_security_event(&entry).await {
        tracing::error!(error = %e, "security event not logged");
    }
}

/// `POST /connexion`.
pub(crate) async fn login_submit(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let remote = Some(remote);
    let cookie_token = cookie_value(&headers, LOGIN_CSRF_COOKIE);
    let token_ok = matches!((&cookie_token, &form.csrf), (Some(c), Some(f)) if !c.is_empty() && same_token(c, f));
    if !token_ok {
        return (
            StatusCode::FORBIDDEN,
            page(
                &state.backend.settings().server_name,
                "Requête refusée",
                None,
                "<p role=\"alert\" class=\"erreur\">Jeton de sécurité (CSRF) absent ou invalide : \
                 <a href=\"/connexion\">rechargez la page de connexion</a>.</p>",
            ),
        )
            .into_response();
    }
    let token = cookie_token.unwrap_or_default();
    let login = form.login.trim().to_owned();
    let now = state.backend.now();
    let refuse = |status: StatusCode, message: &str| {
        (status, login_form(&state, &token, &login, Some(message))).into_response()
    };
    if login.is_empty() {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Saisissez votre identifiant.",
        );
    }
    if recent_failures(&state, &login, now).await >= MAX_FAILURES {
        log_event(
            &state,
            &login,
            "lockout",
            false,
            remote,
            "connexion refusée : compte verrouillé",
        )
        .await;
        tracing::warn!(%login, "login refused: locked");
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "Compte verrouillé après 5 échecs : réessayez dans 15 minutes ou contactez un administrateur.",
        );
    }
    let agent = state.backend.store().agent(&login).await.ok().flatten();
    let verified = match agent.as_ref().and_then(|a| a.password_hash.as_deref()) {
        Some(hash) if agent.as_ref().is_some_and(|a| a.active) => {
            verify_password(&form.password, hash)
        }
        _ => {
            // Same work for an unknown login, so timing does not tell which logins exist.
            verify_password(&form.password, dummy_hash());
            false
        }
    };
    if !verified {
        log_event(
            &state,
            &login,
            "login",
            false,
            remote,
            "identifiant ou mot de passe incorrect",
        )
        .await;
        tracing::info!(%login, "login failed");
        if recent_failures(&state, &login, now).await >= MAX_FAILURES {
            log_event(
                &state,
                &login,
                "lockout",
                false,
                remote,
                "verrouillé après 5 échecs en 15 minutes",
            )
            .await;
        }
        return refuse(
            StatusCode::UNAUTHORIZED,
            "Identifiant ou mot de passe incorrect.",
        );
    }
    let cookie = random_token();
    if let Err(e) = state
        .backend
        .store()
        .create_session(
            &session_id(&cookie),
            &login,
            now,
            now + Duration::hours(SESSION_HOURS),
        )
        .await
    {
        tracing::error!(error = %e, "session not created");
        return refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "La session n'a pas pu être ouverte : réessayez.",
        );
    }
    log_event(&state, &login, "login", true, remote, "connexion réussie").await;
    tracing::info!(%login, "login");
    let roles: Vec<Role> = agent
        .map(|a| a.roles.iter().filter_map(|r| Role::parse(r)).collect())
        .unwrap_or_default();
    let home = if roles
        .iter()
        .any(|r| matches!(r, Role::Supervisor | Role::Admin))
    {
        "/superviseur/mur"
    } else {
        "/agent"
    };
    let mut response = Redirect::to(home).into_response();
    response.headers_mut().append(
        SET_COOKIE,
        set_cookie(&state, SESSION_COOKIE, &cookie, Some(SESSION_HOURS * 3600)),
    );
    response.headers_mut().append(
        SET_COOKIE,
        set_cookie(&state, LOGIN_CSRF_COOKIE, "", Some(0)),
    );
    response
}

/// The logout form's fields.
#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    csrf: Option<String>,
}

/// `POST /deconnexion`.
pub(crate) async fn logout(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let Some(session) = current(&state, &headers).await else {
        return Redirect::to("/connexion").into_response();
    };
    if let Err(r) = check_form_csrf(&state, &session, form.csrf.as_deref()) {
        return r;
    }
    let now = state.backend.now();
    if let Err(e) = state
        .backend
        .store()
        .revoke_session(&session_id(&session.cookie), now)
        .await
    {
        tracing::error!(error = %e, "session not revoked");
    }
    log_event(
        &state,
        &session.login,
        "logout",
        true,
        Some(remote),
        "déconnexion",
    )
    .await;
    let mut response = Redirect::to("/connexion").into_response();
    response
        .headers_mut()
        .append(SET_COOKIE, set_cookie(&state, SESSION_COOKIE, "", Some(0)));
    response
}

fn password_form(
    state: &AppState,
    session: &Session,
    notice: &str,
) -> axum::response::Html<String> {
    page(
        &state.backend.settings().server_name,
        "Changer mon mot de passe",
        Some(session),
        &format!(
            "{notice}<p>Au moins {min} caractères pour votre rôle.</p>\
             <form method=\"post\" action=\"/mon-compte\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <p><label for=\"current\">Mot de passe actuel</label><br>\
             <input id=\"current\" name=\"current\" type=\"password\" autocomplete=\"current-password\" required></p>\
             <p><label for=\"new\">Nouveau mot de passe</label><br>\
             <input id=\"new\" name=\"new\" type=\"password\" autocomplete=\"new-password\" required minlength=\"{min}\"></p>\
             <p><label for=\"confirm\">Confirmation</label><br>\
             <input id=\"confirm\" name=\"confirm\" type=\"password\" autocomplete=\"new-password\" required></p>\
             <p><button type=\"submit\">Changer le mot de passe</button></p></form>",
            min = min_password_len(&session.roles),
            csrf = escape(&session.csrf),
        ),
    )
}

/// `GET /mon-compte`: the password change form.
pub(crate) async fn account_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match require_page(&state, &headers, Need::Account).await {
        Ok(session) => password_form(&state, &session, "").into_response(),
        Err(r) => r,
    }
}

/// The password change form's fields.
#[derive(Deserialize)]
pub(crate) struct PasswordForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    confirm: String,
}

/// `POST /mon-compte`: changes the password (current one required, length rule of the
/// account's roles); logged in the security log.
pub(crate) async fn account_submit(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> Response {
    let session = match require_form(&state, &headers, Need::Account, form.csrf.as_deref()).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let refuse = |message: &str| {
        let notice = format!("<p role=\"alert\" class=\"erreur\">{}</p>", escape(message));
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            password_form(&state, &session, &notice),
        )
            .into_response()
    };
    let store = state.backend.store();
    let Some(mut agent) = store.agent(&session.login).await.ok().flatten() else {
        return refuse("Compte introuvable.");
    };
    if !agent
        .password_hash
        .as_deref()
        .is_some_and(|h| verify_password(&form.current, h))
    {
        log_event(
            &state,
            &session.login,
            "password_change",
            false,
            Some(remote),
            "mot de passe actuel incorrect",
        )
        .await;
        return refuse("Mot de passe actuel incorrect.");
    }
    if form.new != form.confirm {
        return refuse("La confirmation ne correspond pas au nouveau mot de passe.");
    }
    let hash = match hash_password(&form.new, &session.roles) {
        Ok(h) => h,
        Err(e) => return refuse(&format!("{}.", capitalise(&e.to_string()))),
    };
    agent.password_hash = Some(hash);
    if let Err(e) = store
        .upsert_agent(&agent, &session.login, state.backend.now())
        .await
    {
        tracing::error!(error = %e, "password not saved");
        return refuse("Le mot de passe n'a pas pu être enregistré.");
    }
    log_event(
        &state,
        &session.login,
        "password_change",
        true,
        Some(remote),
        "mot de passe changé",
    )
    .await;
    let notice = "<p class=\"ok\" role=\"status\">Mot de passe changé.</p>";
    password_form(&state, &session, notice).into_response()
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

// ---------------------------------------------------------------------------------------
// API tokens (`Authorization: Bearer …`), for programs that have no browser session: a
// ministry's ITSM or statistics tool. Kept apart from the cookie sessions above: a token is
// looked up by its SHA-256 in the store (never kept in clear), and gives a `Session` with
// the token's role and no CSRF token, since a bearer request carries no cookie a browser
// could send on its own.

/// Prefix of every API token, so a leaked one is recognisable.
pub const API_TOKEN_PREFIX: &str = "gch_";

/// A new random API token (`gch_` and 43 base64url characters: 256 bits).
pub(crate) fn new_api_token() -> String {
    format!("{API_TOKEN_PREFIX}{}", random_token())
}

/// The store key of an API token.
pub(crate) fn api_token_hash(token: &str) -> String {
    sha256_hex(token)
}

/// The bearer token of a request, if it has an `Authorization: Bearer` header.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

/// The session a live API token gives, with its role; `None` for an unknown or revoked
/// token. The session's login is `jeton:<name>`, so the journal says which token acted.
pub(crate) async fn bearer_session(
    state: &AppState,
    token: &str,
) -> Option<(Session, guichet_tickets::api_tokens::TokenRole)> {
    use guichet_tickets::api_tokens::TokenRole;
    let stored = match state
        .backend
        .store()
        .live_api_token(&api_token_hash(token))
        .await
    {
        Ok(t) => t?,
        Err(e) => {
            tracing::warn!(error = %e, "API token lookup failed");
            return None;
        }
    };
    let roles = match stored.role {
        TokenRole::Supervisor => vec![Role::Supervisor],
        TokenRole::Statistics => Vec::new(),
    };
    Some((
        Session {
            login: format!("jeton:{}", stored.name),
            name: stored.name,
            roles,
            csrf: String::new(),
            cookie: String::new(),
        },
        stored.role,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_rules_follow_the_role_and_hashes_verify() {
        assert_eq!(
            hash_password("onze-chars!", &[Role::Agent]),
            Err(PasswordError::TooShort { min: 12 })
        );
        assert_eq!(
            hash_password("treize-chars!", &[Role::Admin, Role::Supervisor]),
            Err(PasswordError::TooShort { min: 14 })
        );
        let hash = hash_password("douze-chars!", &[Role::Supervisor]).unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("douze-chars!", &hash));
        assert!(!verify_password("douze-chars?", &hash));
        assert!(!verify_password("douze-chars!", "not a hash"));
    }

    #[test]
    fn csrf_tokens_differ_per_session_and_compare_exactly() {
        let a = csrf_of("cookie-a");
        let b = csrf_of("cookie-b");
        assert_ne!(a, b);
        assert!(same_token(&a, &csrf_of("cookie-a")));
        assert!(!same_token(&a, &b));
        assert!(!same_token(&a, &a[..10]));
    }

    #[test]
    fn cookies_are_read_among_several() {
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_static("a=1; guichet_session=xyz; b=2"),
        );
        assert_eq!(cookie_value(&h, SESSION_COOKIE).as_deref(), Some("xyz"));
        assert_eq!(cookie_value(&h, "c"), None);
    }
}
