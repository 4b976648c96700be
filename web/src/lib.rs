//! The `web` room: Guichet's HTTP face.
//!
//! One job: serve people and programs over HTTP — the health check (`/healthz`), the
//! Prometheus metrics (`/metrics`), the login pages and sessions, the supervisor's crisis and
//! deterrence message editor (`/superviseur/messages`), the live wallboard
//! (`/superviseur/mur`, pushed with server-sent events), a small agent status page (`/agent`)
//! the dashboards with server-side SVG charts (`/superviseur/tableaux`), the admins' API
//! tokens (`/admin/jetons`) and the JSON API (`/api/v1`, described by
//! `/api/v1/openapi.json`, with session cookies or bearer tokens).
//!
//! It never reaches into the `sip` or `media` rooms: everything live comes through the
//! [`Backend`] the binary gives it (clock, store, switchboard snapshot and message commands).
//! Pages are plain HTML written with `format!` and escaped with [`html::escape`]; the little
//! JavaScript the wallboard needs is embedded in the binary.
//!
//! Public API:
//! - [`Backend`]: what the binary implements for the web room, with [`WebSettings`] and
//!   [`LineInfo`].
//! - [`router`]: the axum router for a backend.
//! - [`serve`]: serves a router on a bound listener until the shutdown future resolves.
//! - [`auth::hash_password`], [`auth::PasswordError`], [`Role`]: password hashing with the
//!   tenders' length rules, used by the binary to seed accounts from the configuration.
//! - [`metrics::MetricsText`]: the Prometheus text writer the binary fills.

// Handlers return `Result<_, Response>` where the error is the response to send at once
// (redirect, 403, JSON 4xx); that is the error path of one request, so its size does not matter.
#![allow(clippy::result_large_err)]

pub mod admin;
pub mod admin_settings;
pub mod api;
pub mod auth;
mod call_log;
pub mod charts;
mod dashboards;
mod desk;
pub mod ecoute;
pub mod html;
mod incidents;
pub mod metrics;
mod page_socket;
mod pages;
mod sla_changes;
pub mod softphone;
mod ticket_actions;
mod tokens;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use guichet_calendar::WeeklyHours;
use guichet_tickets::Store;
use guichet_tickets::admin::MessageKind;
use guichet_tickets::sla::SlaPolicySpec;
use serde::Serialize;

/// The result of one health check.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    /// What is wrong, when not ok.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A boxed future, for the object-safe [`Backend`] trait.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A role of an account. Supervisors and admins may change messages and see the wallboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Agent,
    Supervisor,
    Admin,
}

impl Role {
    /// Parses a role as the store writes it (`agent`, `supervisor`, `admin`).
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "agent" => Some(Role::Agent),
            "supervisor" => Some(Role::Supervisor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// The store's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }
}

/// Who is acting, as the switchboard needs to know for messages and the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Login of the nominative account.
    pub login: String,
    /// Highest role of the account.
    pub role: Role,
}

/// A change of an agent's ACD state asked from the web.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AgentStateChange {
    /// Log in (ready to take calls).
    LogIn,
    /// Log out.
    LogOut,
    /// Pause with a reason, as supervisors see it.
    Pause { reason: String },
    /// End a pause.
    Resume,
    /// End the wrap-up now.
    EndWrapUp,
    /// Join a queue at a level (1-9), change the level there, or leave it (`None`); live
    /// until the next restart.
    SetQueue {
        /// Queue name.
        queue: String,
        /// Skill level, or `None` to leave the queue.
        level: Option<u8>,
    },
}

/// A helpdesk line as pages show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineInfo {
    /// Dialled number, e.g. `8585`.
    pub number: String,
    /// Name shown to supervisors.
    pub name: String,
}

/// Settings the binary derives from its configuration.
#[derive(Debug, Clone)]
pub struct WebSettings {
    /// Installation name, shown in page titles.
    pub server_name: String,
    /// Whether cookies carry `Secure` (`[http] secure_cookies`).
    pub secure_cookies: bool,
    /// The helpdesk lines, in configuration order.
    pub lines: Vec<LineInfo>,
    /// Zone of reports and "since midnight" figures.
    pub zone: chrono_tz::Tz,
    /// Statistics thresholds (short abandon, service level).
    pub stats: guichet_acd::stats::StatsParams,
}

/// What the binary provides to the web room.
pub trait Backend: Send + Sync + 'static {
    /// Runs the health checks (database reachable, listeners up, ...).
    fn health(&self) -> BoxFuture<'_, Vec<Check>>;
    /// Renders all metrics in Prometheus text format.
    fn metrics(&self) -> BoxFuture<'_, String>;
    /// The server's clock (a test clock may run from a chosen instant).
    fn now(&self) -> DateTime<Utc>;
    /// The store: accounts, sessions, security log, messages, journal, reports.
    fn store(&self) -> &Store;
    /// Settings from the configuration.
    fn settings(&self) -> &WebSettings;
    /// The live ACD picture.
    fn snapshot(&self) -> BoxFuture<'_, Result<guichet_acd::Snapshot, String>>;
    /// Synthesises `text` and makes it the live message of `kind` on `line`. The error is
    /// French, for the supervisor.
    fn set_message<'a>(
        &'a self,
        actor: Actor,
        line: &'a str,
        kind: MessageKind,
        text: &'a str,
        ends_at: Option<DateTime<Utc>>,
    ) -> BoxFuture<'a, Result<(), String>>;
    /// Synthesises `text` as a message would be, without saving anything: the WAV bytes, for
    /// the supervisor to listen to before saving. The error is French.
    fn preview_message<'a>(&'a self, text: &'a str) -> BoxFuture<'a, Result<Vec<u8>, String>>;
    /// Changes the ACD state of the agent `login`. The error says why it does not apply.
    fn agent_state<'a>(
        &'a self,
        login: &'a str,
        change: AgentStateChange,
    ) -> BoxFuture<'a, Result<(), String>>;
    /// Removes the live message of `kind` on `line`. The error is French.
    fn remove_message<'a>(
        &'a self,
        actor: Actor,
        line: &'a str,
        kind: MessageKind,
    ) -> BoxFuture<'a, Result<(), String>>;

    // ---- the agent's desk (screen pop, ticket form, callbacks) ----
    /// Calls back the pending callback request `callback` for the agent `login`: Guichet
    /// rings the agent's phone first, then dials the caller. The error is French, for the
    /// agent (no desk phone, already on a call, request already handled...).
    fn call_back<'a>(&'a self, login: &'a str, callback: i64) -> BoxFuture<'a, Result<(), String>>;

    // ---- browser softphone (defaults: no softphone) ----

    /// Attaches the softphone of the page of agent `login`: calls offered to them ring there
    /// (a later page replaces an earlier one). The error is French.
    fn softphone_attach<'a>(
        &'a self,
        login: &'a str,
    ) -> BoxFuture<'a, Result<softphone::Link, String>> {
        let _ = login;
        Box::pin(async { Err("le softphone n'est pas disponible sur ce serveur".to_owned()) })
    }
    /// Carries a message of the page attached as `link` to the switchboard. The error is
    /// French, for the page.
    fn softphone_send<'a>(
        &'a self,
        login: &'a str,
        link: u64,
        message: softphone::FromPage,
    ) -> BoxFuture<'a, Result<(), String>> {
        let _ = (login, link, message);
        Box::pin(async { Err("le softphone n'est pas disponible sur ce serveur".to_owned()) })
    }
    /// The page attached as `link` went away: its ringing call is not answered, its call in
    /// progress is hung up.
    fn softphone_detach<'a>(&'a self, login: &'a str, link: u64) -> BoxFuture<'a, ()> {
        let _ = (login, link);
        Box::pin(async {})
    }

    // ---- écoute et coaching (defaults: not available) ----

    /// Attaches a supervisor's wallboard for listen / whisper / barge. The error is French.
    fn monitor_attach(&self, actor: Actor) -> BoxFuture<'_, Result<ecoute::MonitorLink, String>> {
        let _ = actor;
        Box::pin(async { Err("l'écoute n'est pas disponible sur ce serveur".to_owned()) })
    }
    /// Carries a message of the supervisor page attached as `link`. The error is French.
    fn monitor_send(
        &self,
        link: u64,
        message: ecoute::FromSupervisor,
    ) -> BoxFuture<'_, Result<(), String>> {
        let _ = (link, message);
        Box::pin(async { Err("l'écoute n'est pas disponible sur ce serveur".to_owned()) })
    }
    /// The supervisor page attached as `link` went away: it leaves the call.
    fn monitor_detach(&self, link: u64) -> BoxFuture<'_, ()> {
        let _ = link;
        Box::pin(async {})
    }
    // ---- administration (web/src/admin.rs) ----

    /// The directory where uploaded and synthesised message audio files are written, read by
    /// the switchboard when the message becomes live; `None` refuses uploads.
    fn audio_dir(&self) -> Option<std::path::PathBuf> {
        None
    }

    /// The prompt set the administrators may replace recordings of; `None`: not offered.
    fn prompt_set(&self) -> Option<&PromptSet> {
        None
    }

    /// Converts an uploaded WAV to 8 kHz mono 16-bit PCM (with sox); the error is French.
    fn convert_wav<'a>(&'a self, _wav: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>, String>> {
        Box::pin(async { Err("conversion automatique indisponible sur ce serveur".to_owned()) })
    }

    /// The configured calendars, `(name, TOML text of the configuration)`.
    fn calendars_toml(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    /// The configured SLA policies, `(name, TOML text of the configuration)`.
    fn sla_policies_toml(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    /// Builds the calendar `name` (configuration plus the store's exceptions, plus `pending`
    /// when given) and checks it; without `pending`, also makes it the running switchboard's
    /// calendar. The error is for the administrator.
    fn calendar_update<'a>(
        &'a self,
        name: &'a str,
        pending: Option<guichet_tickets::admin::NewCalendarException>,
    ) -> BoxFuture<'a, Result<(), String>> {
        let _ = (name, pending);
        Box::pin(async { Err("les calendriers ne sont pas modifiables sur ce serveur".to_owned()) })
    }

    /// One sentence about the ticket's SLA clock for the ticket form, in French (due date,
    /// business time left, at risk, breached, paused); `None`: no clock on this server.
    fn ticket_sla_line(&self, ticket: i64) -> BoxFuture<'_, Option<String>> {
        let _ = ticket;
        Box::pin(async { None })
    }

    /// The ticket's current SLA deadline (resolution, else taking charge), shown next to
    /// « Modifier l'échéance »; `None`: no clock, or no deadline (paused, met, excluded).
    fn ticket_due(&self, ticket: i64) -> BoxFuture<'_, Option<DateTime<Utc>>> {
        let _ = ticket;
        Box::pin(async { None })
    }

    // ---- live pages ----

    /// A counter the switchboard bumps whenever the ACD picture changes; the wallboard and
    /// the agent page render on it (at most every 100 ms) instead of waiting for their
    /// 300 ms tick. `None`: the tick alone.
    fn live_changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }

    // ---- settings administrators change over the configuration (admin_settings.rs) ----

    /// The SLA grids in force: the newest version saved from `/admin/sla`, else the
    /// configuration's.
    fn sla_policies_in_force(
        &self,
    ) -> BoxFuture<'_, Result<Vec<admin_settings::InForce<SlaPolicySpec>>, String>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    /// Checks the grid (the error is French and names the field), stores it as the new
    /// version of the policy `name` (journaled, before and after) and hands it to the running
    /// SLA clocks for the tickets created from now on.
    fn sla_policy_update<'a>(
        &'a self,
        name: &'a str,
        spec: SlaPolicySpec,
        actor: &'a str,
    ) -> BoxFuture<'a, Result<(), String>> {
        let _ = (name, spec, actor);
        Box::pin(async {
            Err("les politiques SLA ne sont pas modifiables sur ce serveur".to_owned())
        })
    }

    /// Each calendar's weekly opening hours in force (saved from `/admin/calendriers`, else
    /// configured).
    fn calendar_hours(
        &self,
    ) -> BoxFuture<'_, Result<Vec<admin_settings::InForce<WeeklyHours>>, String>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    /// Checks and stores (journaled) the weekly hours of calendar `name`, and applies them at
    /// once to the lines and the SLA clocks. The error is French.
    fn calendar_hours_update<'a>(
        &'a self,
        name: &'a str,
        hours: WeeklyHours,
        actor: &'a str,
    ) -> BoxFuture<'a, Result<(), String>> {
        let _ = (name, hours, actor);
        Box::pin(async { Err("les calendriers ne sont pas modifiables sur ce serveur".to_owned()) })
    }
}

/// The IVR prompts as the administration page needs them: ids and French texts, where the
/// shipped recordings are, and the override directory where a replacement `<id>.wav` wins
/// (the switchboard checks it each time it plays a prompt, so a change needs no restart).
#[derive(Debug, Clone)]
pub struct PromptSet {
    /// `(id, text)` in catalogue order.
    pub prompts: Vec<(String, String)>,
    /// The shipped recordings (`<id>.wav`).
    pub shipped_dir: std::path::PathBuf,
    /// Where replacements are written.
    pub override_dir: std::path::PathBuf,
}

#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) backend: Arc<dyn Backend>,
}

/// The router for a backend.
pub fn router(backend: Arc<dyn Backend>) -> Router {
    let state = AppState { backend };
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/", get(pages::home))
        .route("/connexion", get(auth::login_page).post(auth::login_submit))
        .route("/deconnexion", post(auth::logout))
        .route("/agent", get(pages::agent_page))
        .route("/agent/flux", get(pages::agent_events))
        .route("/agent/etat", post(pages::agent_state))
        .route("/static/poste.js", get(pages::agent_js))
        .route(
            "/mon-compte",
            get(auth::account_page).post(auth::account_submit),
        )
        .route(
            "/superviseur/messages",
            get(pages::messages_page).post(pages::messages_set),
        )
        .route(
            "/superviseur/messages/supprimer",
            post(pages::messages_remove),
        )
        .route("/superviseur/messages/apercu", post(pages::message_preview))
        .route("/static/messages.js", get(pages::messages_js))
        .route(
            "/superviseur/messages/{line}/{kind}/ecoute",
            get(pages::message_audio),
        )
        .route("/superviseur/mur", get(pages::wallboard_page))
        .route("/superviseur/mur/flux", get(pages::wallboard_events))
        .route("/static/mur.js", get(pages::wallboard_js))
        .merge(desk::routes())
        .route("/agent/softphone", get(softphone::socket))
        .route("/static/softphone.js", get(softphone::script))
        .merge(admin::page_routes())
        .merge(admin_settings::page_routes())
        .route("/superviseur/ecoute", get(ecoute::socket))
        .route("/static/ecoute.js", get(ecoute::script))
        // Dashboards and API tokens.
        .route("/superviseur/tableaux", get(dashboards::dashboard_page))
        .route(
            "/admin/jetons",
            get(tokens::tokens_page).post(tokens::create_token),
        )
        .route("/admin/jetons/{id}/revoquer", post(tokens::revoke_token))
        // The major-incident log.
        .merge(incidents::page_routes())
        // The call log and each call's audio quality.
        .merge(call_log::page_routes())
        .nest(
            "/api/v1",
            api::routes().layer(axum::middleware::from_fn_with_state(
                state.clone(),
                tokens::journal_bearer_use,
            )),
        )
        .layer(header_layer(header::CONTENT_SECURITY_POLICY, CSP))
        .layer(header_layer(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header_layer(header::X_FRAME_OPTIONS, "DENY"))
        .layer(header_layer(header::REFERRER_POLICY, "same-origin"))
        .with_state(state)
}

/// Scripts only from our own files (no inline script), audio previews from blobs, no framing.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    media-src 'self' blob:; img-src 'self' data:; object-src 'none'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

fn header_layer(
    name: header::HeaderName,
    value: &'static str,
) -> tower_http::set_header::SetResponseHeaderLayer<axum::http::HeaderValue> {
    tower_http::set_header::SetResponseHeaderLayer::if_not_present(
        name,
        axum::http::HeaderValue::from_static(value),
    )
}

#[derive(Serialize)]
struct HealthBody {
    status: &'static str,
    checks: Vec<Check>,
}

async fn healthz(State(state): State<AppState>) -> Response {
    let checks = state.backend.health().await;
    let ok = checks.iter().all(|c| c.ok);
    let body = HealthBody {
        status: if ok { "ok" } else { "degraded" },
        checks,
    };
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(body)).into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    let text = state.backend.metrics().await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// Tells live streams (server-sent events) that the server is stopping, so they end and the
/// graceful shutdown does not wait for a wallboard left open.
#[derive(Clone)]
pub(crate) struct Stopping(tokio::sync::watch::Receiver<bool>);

impl Stopping {
    /// Resolves when the server starts stopping.
    pub(crate) async fn wait(mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then ends the live streams and
/// finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let router = router.layer(axum::Extension(Stopping(stop_rx)));
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    })
    .await
}

/// The French and URL spelling of a message kind (`crise`, `dissuasion`).
pub(crate) fn kind_slug(kind: MessageKind) -> &'static str {
    match kind {
        MessageKind::Crisis => "crise",
        MessageKind::Deterrence => "dissuasion",
    }
}

/// Parses `crise` / `dissuasion`.
pub(crate) fn parse_kind_slug(s: &str) -> Option<MessageKind> {
    match s {
        "crise" => Some(MessageKind::Crisis),
        "dissuasion" => Some(MessageKind::Deterrence),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
