//! The agent's desk around a call: the screen pop (who calls, VIP, P0 window, open tickets,
//! last calls), the ticket form (simplified and complete call-taking forms, LOUVRE-IT
//! 1239-1242), and the callbacks list; with their JSON API twins under `/api/v1`.
//!
//! The screen pop follows the ACD state of the agent (ringing, on call, wrap-up) and the call
//! log the switchboard writes, so it works the same whether the agent answers on a desk phone
//! or in the browser. The ticket form completes the ticket already linked to the call (the
//! switchboard opens a simplified draft when the conversation ends) rather than opening a
//! second one; the priority is always computed by the tickets room.

use std::collections::BTreeMap;
use std::convert::Infallible;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::{DateTime, Duration, Utc};
use futures::Stream;
use guichet_tickets::CallRecord;
use guichet_tickets::directory::Caller;
use guichet_tickets::ticket::{
    Category, Form as TicketForm, Impact, Nature, NewTicket, Priority, Ticket, TicketAction,
    TicketStatus, Urgency, compute_priority, impact_str, urgency_str,
};
use guichet_tickets::{JournalEntry, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::api::{authorize, error};
use crate::auth::{Need, Session, current, require_form, require_page};
use crate::html::{escape, page};
use crate::{AppState, Stopping};

/// The pages' routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/agent/appel/flux", get(screen_pop_events))
        .route("/agent/dossier", get(ticket_page).post(ticket_submit))
        .route("/agent/dossier/priorite", get(priority_preview))
        .route("/agent/rappels", get(callbacks_page))
        .route("/agent/rappels/rappeler", post(callbacks_submit))
        .route("/static/fiche.js", get(desk_js))
        .merge(crate::ticket_actions::routes())
}

/// The API's routes (nested under `/api/v1`).
pub(crate) fn api_routes() -> Router<AppState> {
    Router::new()
        .route("/agent/call", get(api_current_call))
        .route("/tickets", post(api_create_ticket))
        .route("/tickets/{id}", get(api_get_ticket).put(api_update_ticket))
        .route("/callbacks", get(api_callbacks))
        .route("/callbacks/{id}/call", post(api_call_back_request))
        .route("/calls/{id}/call-back", post(api_call_back_abandoned))
}

/// Styles of the desk pages (inline styles are allowed by the CSP; scripts are not).
pub(crate) const DESK_STYLE: &str = "<style>\
.p0{background:#6a1b9a;color:#fff;font-weight:bold;padding:0 .3rem;border-radius:3px}\
.champ-erreur{color:#b00020;font-weight:bold;margin:.2rem 0}\
#form-ticket fieldset{background:#fff;border:1px solid #bbb;margin:0 0 .6rem 0}\
#form-ticket p{margin:.35rem 0}\
#form-ticket label[for]{display:inline-block;min-width:10rem}\
#form-ticket input[type=text],#form-ticket select{width:20rem;max-width:100%}\
#form-ticket textarea{width:100%;box-sizing:border-box}\
.colonnes{display:grid;grid-template-columns:1fr 1fr;gap:0 1rem}.colonnes>div{min-width:0}\
.bouton{display:inline-block;background:#000091;color:#fff;padding:.3rem .8rem;text-decoration:none;border-radius:3px}\
.bouton:focus,a:focus,button:focus,input:focus,select:focus,textarea:focus{outline:3px solid #ff9940;outline-offset:2px}\
#fiche-appel{background:#fff;border:2px solid #000091;padding:.5rem 1rem;margin-bottom:1rem}\
#fiche-appel:empty{display:none}\
dl.appelant{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}dl.appelant dt{font-weight:bold}\
</style>";

fn local(state: &AppState, at: DateTime<Utc>) -> String {
    at.with_timezone(&state.backend.settings().zone)
        .format("%d/%m/%Y %H:%M")
        .to_string()
}

/// The French sentence of a store failure, the API's wording ([`crate::api::store_failure`]).
fn store_error(e: &StoreError) -> String {
    crate::api::store_failure(e).2
}

/// The status and French sentence of a store failure, the API's policy
/// ([`crate::api::store_failure`]), for the answers shared by a page and the API.
fn store_refusal(e: &StoreError) -> (StatusCode, String) {
    let (status, _, message) = crate::api::store_failure(e);
    (status, message)
}

// ---- the call an agent is handling -----------------------------------------------------

/// Where the agent is with the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum CallPhase {
    Ringing,
    OnCall,
    WrapUp,
}

impl CallPhase {
    fn label(self) -> &'static str {
        match self {
            CallPhase::Ringing => "Appel entrant",
            CallPhase::OnCall => "En communication",
            CallPhase::WrapUp => "Post-appel",
        }
    }
}

/// Everything the screen pop shows about the agent's current call.
struct CallContext {
    phase: CallPhase,
    record: CallRecord,
    caller: Option<Caller>,
    open_tickets: Vec<Ticket>,
    last_calls: Vec<CallRecord>,
    ticket: Option<i64>,
}

impl CallContext {
    fn vip(&self) -> bool {
        self.caller.as_ref().map_or(self.record.vip, |c| c.vip)
    }
    fn p0(&self) -> bool {
        self.caller.as_ref().map_or(self.record.p0, |c| c.p0_active)
    }
    fn name(&self) -> Option<String> {
        self.caller
            .as_ref()
            .map(|c| format!("{} {}", c.first_name, c.last_name))
            .or_else(|| self.record.caller_name.clone())
    }
}

/// The agent's call from the ACD state (ringing, on call, wrap-up) and the switchboard's call
/// log; `None` when the agent has no call.
async fn current_call(state: &AppState, login: &str) -> Result<Option<CallContext>, String> {
    use guichet_acd::AgentStatus as S;
    let snapshot = state.backend.snapshot().await?;
    let Some(me) = snapshot.agents.iter().find(|a| a.agent.0 == login) else {
        return Ok(None);
    };
    let phase = match me.status {
        S::Ringing { .. } => CallPhase::Ringing,
        S::OnCall { .. } => CallPhase::OnCall,
        S::WrapUp { .. } => CallPhase::WrapUp,
        _ => return Ok(None),
    };
    let store = state.backend.store();
    let Some(record) = store
        .agent_latest_call(login)
        .await
        .map_err(|e| store_error(&e))?
    else {
        return Ok(None);
    };
    // A ringing or answered call is not over: an ended record is the previous call, the new
    // offer is not written yet.
    if phase != CallPhase::WrapUp && record.ended_at.is_some() {
        return Ok(None);
    }
    context_of(state, phase, record).await.map(Some)
}

async fn context_of(
    state: &AppState,
    phase: CallPhase,
    record: CallRecord,
) -> Result<CallContext, String> {
    let store = state.backend.store();
    let caller = store
        .lookup_caller(&record.caller_number, state.backend.now())
        .await
        .map_err(|e| store_error(&e))?;
    let person = caller.as_ref().map(|c| c.person_id).or(record.person_id);
    let open_tickets = match person {
        Some(p) => store
            .open_tickets_of_person(p, 5)
            .await
            .map_err(|e| store_error(&e))?,
        None => Vec::new(),
    };
    let last_calls = store
        .caller_history(&record.caller_number, 6)
        .await
        .map_err(|e| store_error(&e))?
        .into_iter()
        .filter(|c| c.id != record.id)
        .take(5)
        .collect();
    let ticket = store
        .tickets_of_call(record.id)
        .await
        .map_err(|e| store_error(&e))?
        .first()
        .copied();
    Ok(CallContext {
        phase,
        record,
        caller,
        open_tickets,
        last_calls,
        ticket,
    })
}

pub(crate) fn status_label(s: TicketStatus) -> &'static str {
    match s {
        TicketStatus::New => "Nouveau",
        TicketStatus::Assigned => "Affecté",
        TicketStatus::InProgress => "En cours",
        TicketStatus::Waiting => "En attente",
        TicketStatus::Resolved => "Résolu",
        TicketStatus::Closed => "Clos",
    }
}

fn nature_label(n: Nature) -> &'static str {
    match n {
        Nature::Incident => "Incident",
        Nature::Request => "Demande",
        Nature::Assistance => "Assistance",
    }
}

pub(crate) fn outcome_label(o: Option<guichet_tickets::CallOutcome>) -> &'static str {
    use guichet_tickets::CallOutcome as O;
    match o {
        None => "en cours",
        Some(O::Answered) => "répondu",
        Some(O::AbandonedInQueue) => "abandonné en file",
        Some(O::AbandonedWhileRinging) => "abandonné pendant la sonnerie",
        Some(O::AbandonedInIvr) => "raccroché dans le menu",
        Some(O::OverflowedToQueue) => "débordé vers une autre file",
        Some(O::OverflowedExternal) => "débordé vers l'extérieur",
        Some(O::OverflowedCallback) => "rappel demandé",
        Some(O::Rejected) => "refusé",
        Some(O::Refused) => "refusé (saturation ou arrêt)",
        Some(O::Closed) => "hors horaires",
    }
}

/// The screen pop as an HTML fragment (escaped). Without a call, only a comment: an SSE
/// event with empty data is not dispatched by browsers, so the page would keep the last call.
fn screen_pop_html(state: &AppState, ctx: Option<&CallContext>) -> String {
    let Some(ctx) = ctx else {
        return "<!-- aucun appel -->".to_owned();
    };
    let r = &ctx.record;
    let name = ctx
        .name()
        .unwrap_or_else(|| "Appelant inconnu de l'annuaire".to_owned());
    let mut out = format!(
        "<h2 id=\"appel-phase\">{}</h2><p><strong id=\"appelant-nom\">{}</strong>",
        ctx.phase.label(),
        escape(&name)
    );
    if ctx.vip() {
        out.push_str(" <span class=\"vip\" id=\"badge-vip\">VIP</span>");
    }
    if ctx.p0() {
        out.push_str(" <span class=\"p0\" id=\"badge-p0\">Fenêtre P0</span>");
    }
    out.push_str("</p><dl class=\"appelant\">");
    out.push_str(&format!(
        "<dt>Numéro</dt><dd id=\"appelant-numero\">{}</dd>",
        escape(&r.caller_number)
    ));
    if let Some(c) = &ctx.caller {
        out.push_str(&format!(
            "<dt>Entité</dt><dd id=\"appelant-entite\">{}</dd><dt>Site</dt><dd id=\"appelant-site\">{}</dd>",
            escape(&c.entity),
            escape(&c.site)
        ));
    }
    out.push_str(&format!(
        "<dt>Ligne</dt><dd>{}</dd></dl>",
        escape(
            &state
                .backend
                .settings()
                .lines
                .iter()
                .find(|l| l.number == r.line)
                .map_or_else(|| r.line.clone(), |l| format!("{} ({})", l.name, l.number))
        )
    ));
    let action = match ctx.ticket {
        Some(t) => format!("Compléter le ticket n° {t}"),
        None => "Ouvrir la fiche de l'appel".to_owned(),
    };
    out.push_str(&format!(
        "<p><a class=\"bouton\" id=\"ouvrir-fiche\" href=\"/agent/dossier?call_id={}\" \
         target=\"guichet-fiche\">{action}</a></p>",
        r.id
    ));
    if !ctx.open_tickets.is_empty() {
        out.push_str(
            "<table id=\"tickets-ouverts\"><caption>Tickets ouverts de l'appelant</caption>\
             <tr><th>N°</th><th>Titre</th><th>Nature</th><th>Priorité</th><th>État</th><th>Ouvert le</th></tr>",
        );
        for t in &ctx.open_tickets {
            out.push_str(&format!(
                "<tr><td><a href=\"/agent/dossier?ticket_id={id}\" target=\"guichet-fiche\">{id}</a></td>\
                 <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&t.title),
                nature_label(t.nature),
                t.priority.code(),
                status_label(t.status),
                local(state, t.created_at),
                id = t.id,
            ));
        }
        out.push_str("</table>");
    } else {
        out.push_str("<p id=\"tickets-ouverts\">Aucun ticket ouvert pour cet appelant.</p>");
    }
    if !ctx.last_calls.is_empty() {
        out.push_str(
            "<table id=\"derniers-appels\"><caption>Derniers appels</caption>\
             <tr><th>Arrivé le</th><th>Issue</th><th>Agent</th></tr>",
        );
        for c in &ctx.last_calls {
            out.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                local(state, c.arrived_at),
                outcome_label(c.outcome),
                escape(c.agent.as_deref().unwrap_or("—"))
            ));
        }
        out.push_str("</table>");
    }
    out
}

/// `GET /agent/appel/flux`: server-sent events, one `appel` event (the screen pop's HTML
/// fragment, a bare comment without a call) each time it changes.
async fn screen_pop_events(
    State(state): State<AppState>,
    stopping: Option<axum::Extension<Stopping>>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Response> {
    let session = current(&state, &headers)
        .await
        .ok_or_else(|| StatusCode::UNAUTHORIZED.into_response())?;
    let login = session.login;
    Ok(crate::pages::changes(
        state,
        stopping.map(|s| s.0),
        "appel",
        move |state| {
            let login = login.clone();
            async move {
                match current_call(&state, &login).await {
                    Ok(ctx) => screen_pop_html(&state, ctx.as_ref()),
                    Err(e) => format!(
                        "<p role=\"alert\" class=\"erreur\">Fiche d'appel indisponible : {}</p>",
                        escape(&e)
                    ),
                }
            }
        },
    ))
}

/// `GET /static/fiche.js`: the screen pop and ticket form script.
async fn desk_js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("fiche.js"),
    )
        .into_response()
}

fn call_json(ctx: &CallContext) -> Value {
    json!({
        "phase": ctx.phase,
        "call_id": ctx.record.id,
        "line": ctx.record.line,
        "caller_number": ctx.record.caller_number,
        "caller_name": ctx.name(),
        "person_id": ctx.caller.as_ref().map(|c| c.person_id),
        "entity": ctx.caller.as_ref().map(|c| c.entity.clone()),
        "site": ctx.caller.as_ref().map(|c| c.site.clone()),
        "vip": ctx.vip(),
        "p0_window": ctx.p0(),
        "ticket_id": ctx.ticket,
        "open_tickets": ctx.open_tickets.iter().map(|t| ticket_json(t, &[])).collect::<Vec<_>>(),
        "last_calls": ctx.last_calls.iter().map(|c| json!({
            "call_id": c.id,
            "arrived_at": c.arrived_at,
            "outcome": c.outcome.map(guichet_tickets::calls::outcome_str),
            "agent": c.agent,
        })).collect::<Vec<_>>(),
    })
}

/// `GET /api/v1/agent/call`: the screen pop of the session's agent (`null` without a call).
async fn api_current_call(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let session = match authorize(&state, &headers, false, false).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match current_call(&state, &session.login).await {
        Ok(Some(ctx)) => axum::Json(call_json(&ctx)).into_response(),
        Ok(None) => axum::Json(Value::Null).into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

// ---- the ticket form -------------------------------------------------------------------

/// What the form and the API send; every value as typed (ids as text), checked by
/// [`TicketInput::check`].
#[derive(Debug, Clone, Default, Deserialize)]
struct TicketInput {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    call_id: Option<String>,
    #[serde(default)]
    ticket_id: Option<String>,
    #[serde(default)]
    form: Option<String>,
    #[serde(default)]
    nature: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    requester_name: Option<String>,
    #[serde(default)]
    entity: Option<String>,
    #[serde(default)]
    site: Option<String>,
    #[serde(default)]
    category_id: Option<String>,
    #[serde(default)]
    urgency: Option<String>,
    #[serde(default)]
    impact: Option<String>,
    #[serde(default)]
    technical_domain: Option<String>,
    #[serde(default)]
    symptom: Option<String>,
    #[serde(default)]
    diagnosis: Option<String>,
    #[serde(default)]
    outcome: Option<String>,
    #[serde(default)]
    group_id: Option<String>,
    #[serde(default)]
    attach_to_ticket: Option<String>,
}

const INPUT_KEYS: [&str; 17] = [
    "call_id",
    "ticket_id",
    "form",
    "nature",
    "title",
    "requester_name",
    "entity",
    "site",
    "category_id",
    "urgency",
    "impact",
    "technical_domain",
    "symptom",
    "diagnosis",
    "outcome",
    "group_id",
    "attach_to_ticket",
];

impl TicketInput {
    /// From a JSON object: strings as they are, numbers as text, null as absent.
    fn from_json(v: &Value) -> Result<TicketInput, String> {
        let Some(map) = v.as_object() else {
            return Err("le corps doit être un objet JSON".to_owned());
        };
        if let Some(k) = map.keys().find(|k| !INPUT_KEYS.contains(&k.as_str())) {
            return Err(format!("champ inconnu « {k} »"));
        }
        let get = |k: &str| -> Result<Option<String>, String> {
            match map.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Number(n)) => Ok(Some(n.to_string())),
                Some(_) => Err(format!("« {k} » doit être un texte ou un nombre")),
            }
        };
        Ok(TicketInput {
            csrf: None,
            call_id: get("call_id")?,
            ticket_id: get("ticket_id")?,
            form: get("form")?,
            nature: get("nature")?,
            title: get("title")?,
            requester_name: get("requester_name")?,
            entity: get("entity")?,
            site: get("site")?,
            category_id: get("category_id")?,
            urgency: get("urgency")?,
            impact: get("impact")?,
            technical_domain: get("technical_domain")?,
            symptom: get("symptom")?,
            diagnosis: get("diagnosis")?,
            outcome: get("outcome")?,
            group_id: get("group_id")?,
            attach_to_ticket: get("attach_to_ticket")?,
        })
    }

    fn value(&self, key: &str) -> &str {
        let v = match key {
            "call_id" => &self.call_id,
            "ticket_id" => &self.ticket_id,
            "form" => &self.form,
            "nature" => &self.nature,
            "title" => &self.title,
            "requester_name" => &self.requester_name,
            "entity" => &self.entity,
            "site" => &self.site,
            "category_id" => &self.category_id,
            "urgency" => &self.urgency,
            "impact" => &self.impact,
            "technical_domain" => &self.technical_domain,
            "symptom" => &self.symptom,
            "diagnosis" => &self.diagnosis,
            "outcome" => &self.outcome,
            "group_id" => &self.group_id,
            "attach_to_ticket" => &self.attach_to_ticket,
            _ => &None,
        };
        v.as_deref().map_or("", str::trim)
    }

    fn text(&self, key: &str) -> Option<String> {
        Some(self.value(key).to_owned()).filter(|s| !s.is_empty())
    }
}

/// Field → French message.
type FieldErrors = BTreeMap<&'static str, String>;

/// What to do with the ticket once saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Resolved at first contact.
    ResolvedOnline,
    /// Given to a support group.
    AssignGroup,
    /// Kept open by the agent.
    Keep,
}

fn parse_nature(s: &str) -> Option<Nature> {
    match s {
        "incident" => Some(Nature::Incident),
        "request" => Some(Nature::Request),
        "assistance" => Some(Nature::Assistance),
        _ => None,
    }
}

fn parse_urgency(s: &str) -> Option<Urgency> {
    Urgency::from_code(s)
}

fn parse_impact(s: &str) -> Option<Impact> {
    Impact::from_code(s)
}

fn parse_id(s: &str) -> Option<i64> {
    s.parse::<i64>().ok().filter(|v| *v > 0)
}

/// A checked form: what to save and where.
struct Checked {
    ticket: NewTicket,
    outcome: Outcome,
    call: Option<CallRecord>,
    /// The ticket to complete (given, or already linked to the call).
    target: Option<i64>,
    /// Attach the call to this existing ticket instead of writing one.
    attach: Option<i64>,
}

/// Checks every field, collecting one French message per wrong field.
async fn check_input(
    state: &AppState,
    session: &Session,
    input: &TicketInput,
) -> Result<Checked, (StatusCode, FieldErrors)> {
    let store = state.backend.store();
    let mut errors = FieldErrors::new();
    let mut fail = |k: &'static str, m: &str| {
        errors.entry(k).or_insert_with(|| m.to_owned());
    };
    // Call and ticket: where the form belongs.
    let mut call = None;
    if !input.value("call_id").is_empty() {
        match parse_id(input.value("call_id")) {
            None => fail("call_id", "Numéro d'appel invalide."),
            Some(id) => match store.call(id).await {
                Ok(c)
                    if c.agent.as_deref() == Some(session.login.as_str())
                        || session.is_supervisor() =>
                {
                    call = Some(c)
                }
                Ok(_) => {
                    return Err((StatusCode::FORBIDDEN, {
                        let mut e = FieldErrors::new();
                        e.insert("call_id", "Cet appel n'a pas été pris par vous.".to_owned());
                        e
                    }));
                }
                Err(_) => fail("call_id", "Cet appel n'existe pas."),
            },
        }
    }
    let mut target = None;
    let mut existing: Option<Ticket> = None;
    if !input.value("ticket_id").is_empty() {
        match parse_id(input.value("ticket_id")) {
            None => fail("ticket_id", "Numéro de ticket invalide."),
            Some(id) => match store.ticket(id).await {
                Ok(t) => {
                    target = Some(id);
                    existing = Some(t);
                }
                Err(_) => fail("ticket_id", "Ce ticket n'existe pas."),
            },
        }
    } else if let Some(c) = &call
        && let Ok(linked) = store.tickets_of_call(c.id).await
        && let Some(&id) = linked.first()
        && let Ok(t) = store.ticket(id).await
    {
        target = Some(id);
        existing = Some(t);
    }
    if let Some(t) = &existing
        && matches!(t.status, TicketStatus::Resolved | TicketStatus::Closed)
    {
        fail(
            "ticket_id",
            &format!("Le ticket n° {} est déjà résolu ou clos.", t.id),
        );
    }
    // Attach instead of writing a ticket.
    let mut attach = None;
    if !input.value("attach_to_ticket").is_empty() {
        match parse_id(input.value("attach_to_ticket")) {
            None => fail("attach_to_ticket", "Indiquez un numéro de ticket."),
            Some(_) if call.is_none() => fail(
                "attach_to_ticket",
                "Seul un appel peut être rattaché à un ticket existant.",
            ),
            Some(id) if target.is_some_and(|t| t != id) => fail(
                "attach_to_ticket",
                "Cet appel a déjà son ticket : complétez-le plutôt.",
            ),
            Some(id) => match store.ticket(id).await {
                Ok(t) if matches!(t.status, TicketStatus::Resolved | TicketStatus::Closed) => fail(
                    "attach_to_ticket",
                    &format!("Le ticket n° {id} est déjà résolu ou clos."),
                ),
                Ok(_) => attach = Some(id),
                Err(_) => fail(
                    "attach_to_ticket",
                    &format!("Le ticket n° {id} n'existe pas."),
                ),
            },
        }
    }
    let form = match input.value("form") {
        "" | "simplified" => TicketForm::Simplified,
        "complete" => TicketForm::Complete,
        _ => {
            fail("form", "Choisissez le formulaire simplifié ou complet.");
            TicketForm::Simplified
        }
    };
    // Attaching the call writes no ticket fields: only the target ticket matters then.
    let nature = match parse_nature(input.value("nature")) {
        Some(n) => n,
        None if attach.is_some() && input.value("nature").is_empty() => Nature::Incident,
        None => {
            fail(
                "nature",
                "Choisissez la nature : incident, demande ou assistance.",
            );
            Nature::Incident
        }
    };
    let complete = form == TicketForm::Complete;
    let title = input.value("title");
    if attach.is_none() {
        if title.is_empty() {
            fail("title", "Le titre est obligatoire.");
        } else if title.chars().count() > 200 {
            fail("title", "Le titre compte 200 caractères au plus.");
        }
        if input.value("requester_name").is_empty() {
            fail("requester_name", "Le nom du demandeur est obligatoire.");
        }
        if complete {
            for (k, m) in [
                (
                    "entity",
                    "L'entité est obligatoire dans le formulaire complet.",
                ),
                (
                    "site",
                    "Le site est obligatoire dans le formulaire complet.",
                ),
                (
                    "symptom",
                    "La description est obligatoire dans le formulaire complet.",
                ),
                (
                    "diagnosis",
                    "Le diagnostic est obligatoire dans le formulaire complet.",
                ),
                (
                    "technical_domain",
                    "Le domaine technique est obligatoire dans le formulaire complet.",
                ),
            ] {
                if input.value(k).is_empty() {
                    fail(k, m);
                }
            }
        }
    }
    let urgency = match input.value("urgency") {
        "" => None,
        s => parse_urgency(s).or_else(|| {
            fail("urgency", "Urgence inconnue : sévère, élevée ou moyenne.");
            None
        }),
    };
    let impact = match input.value("impact") {
        "" => None,
        s => parse_impact(s).or_else(|| {
            fail("impact", "Impact inconnu : critique, majeur ou modéré.");
            None
        }),
    };
    if attach.is_none() && complete {
        if urgency.is_none() && input.value("urgency").is_empty() {
            fail(
                "urgency",
                "L'urgence est obligatoire dans le formulaire complet.",
            );
        }
        if impact.is_none() && input.value("impact").is_empty() {
            fail(
                "impact",
                "L'impact est obligatoire dans le formulaire complet.",
            );
        }
    }
    let categories = store.categories().await.unwrap_or_default();
    let category_id = match input.value("category_id") {
        "" => {
            if attach.is_none() && complete {
                fail(
                    "category_id",
                    "La catégorie est obligatoire dans le formulaire complet.",
                );
            }
            None
        }
        s => match parse_id(s).filter(|id| categories.iter().any(|c| c.id == *id && c.active)) {
            Some(id) => Some(id),
            None => {
                fail("category_id", "Catégorie inconnue ou retirée de la liste.");
                None
            }
        },
    };
    let outcome = match input.value("outcome") {
        "" | "keep" => Outcome::Keep,
        "resolved_online" => Outcome::ResolvedOnline,
        "assign_group" => Outcome::AssignGroup,
        _ => {
            fail(
                "outcome",
                "Choisissez : résolu en ligne, affecter à un groupe ou garder le ticket.",
            );
            Outcome::Keep
        }
    };
    let groups = store.support_groups().await.unwrap_or_default();
    let group_id = match (outcome, input.value("group_id")) {
        (Outcome::AssignGroup, "") => {
            fail("group_id", "Choisissez le groupe à qui affecter le ticket.");
            None
        }
        (Outcome::AssignGroup, s) => {
            match parse_id(s).filter(|id| groups.iter().any(|g| g.id == *id)) {
                Some(id) => Some(id),
                None => {
                    fail("group_id", "Groupe de support inconnu.");
                    None
                }
            }
        }
        _ => None,
    };
    if !errors.is_empty() {
        return Err((StatusCode::UNPROCESSABLE_ENTITY, errors));
    }
    // VIP and P0 come from the server's records, never from the form.
    let (vip, p0, person) = match (&existing, &call) {
        (Some(t), _) => (t.vip, t.p0, t.requester_person_id),
        (None, Some(c)) => (c.vip, c.p0, c.person_id),
        (None, None) => (false, false, None),
    };
    let ticket = NewTicket {
        nature,
        form,
        title: title.to_owned(),
        requester_person_id: person,
        requester_name: input.value("requester_name").to_owned(),
        entity: input.text("entity"),
        site: input.text("site"),
        vip,
        p0,
        symptom: input.text("symptom"),
        diagnosis: input.text("diagnosis"),
        technical_domain: input.text("technical_domain"),
        urgency,
        impact,
        category_id,
        group_id,
        assignee: (outcome == Outcome::Keep || outcome == Outcome::ResolvedOnline)
            .then(|| session.login.clone()),
        parent_id: None,
        tasks: Vec::new(),
        call_id: call.as_ref().map(|c| c.id),
    };
    Ok(Checked {
        ticket,
        outcome,
        call,
        target,
        attach,
    })
}

/// What a save did.
struct Saved {
    ticket: Ticket,
    /// The call was attached to an existing ticket.
    attached: bool,
    /// A new ticket was written (no draft existed).
    created: bool,
}

/// Writes a checked form: attaches the call, completes the existing ticket or creates one,
/// then resolves it (first contact) when asked.
async fn save(state: &AppState, session: &Session, c: Checked) -> Result<Saved, String> {
    let store = state.backend.store();
    let now = state.backend.now();
    let actor = session.login.as_str();
    if let (Some(ticket), Some(call)) = (c.attach, &c.call) {
        store
            .link_call(ticket, call.id, actor, now)
            .await
            .map_err(|e| store_error(&e))?;
        let t = store.ticket(ticket).await.map_err(|e| store_error(&e))?;
        tracing::info!(ticket, call = call.id, agent = %actor, "call attached to a ticket");
        return Ok(Saved {
            ticket: t,
            attached: true,
            created: false,
        });
    }
    let (id, created) = match c.target {
        Some(id) => {
            store
                .qualify_ticket(id, &c.ticket, actor, now)
                .await
                .map_err(|e| store_error(&e))?;
            (id, false)
        }
        None => (
            store
                .create_ticket(&c.ticket, actor, now)
                .await
                .map_err(|e| store_error(&e))?,
            true,
        ),
    };
    if c.outcome == Outcome::ResolvedOnline {
        store
            .transition_ticket(id, &TicketAction::Resolve, actor, now)
            .await
            .map_err(|e| store_error(&e))?;
    }
    let t = store.ticket(id).await.map_err(|e| store_error(&e))?;
    tracing::info!(ticket = id, created, priority = t.priority.code(), agent = %actor, "ticket saved from the desk");
    Ok(Saved {
        ticket: t,
        attached: false,
        created,
    })
}

/// The page's query: which call or ticket, and a confirmation after a save.
#[derive(Debug, Default, Deserialize)]
struct TicketQuery {
    #[serde(default)]
    call_id: Option<String>,
    #[serde(default)]
    ticket_id: Option<String>,
    #[serde(default)]
    enregistre: Option<String>,
    #[serde(default)]
    rattache: Option<String>,
    /// The SLA action just saved (`escalade`, `echeance`, `exclusion`), for its confirmation.
    #[serde(default)]
    sla: Option<String>,
}

/// The form's values prefilled from the ticket, or from the call and the directory.
async fn prefill(
    state: &AppState,
    session: &Session,
    query: &TicketQuery,
) -> Result<TicketInput, Response> {
    let store = state.backend.store();
    let mut input = TicketInput {
        form: Some("simplified".into()),
        nature: Some("incident".into()),
        outcome: Some("keep".into()),
        ..TicketInput::default()
    };
    let denied = |m: &str| {
        (
            StatusCode::FORBIDDEN,
            page(
                &state.backend.settings().server_name,
                "Fiche de l'appel",
                Some(session),
                &format!("<p role=\"alert\" class=\"erreur\">{m}</p>"),
            ),
        )
            .into_response()
    };
    let mut ticket_id = query.ticket_id.as_deref().and_then(parse_id);
    if let Some(id) = query.call_id.as_deref().and_then(parse_id) {
        let Ok(call) = store.call(id).await else {
            return Err(denied("Cet appel n'existe pas."));
        };
        if call.agent.as_deref() != Some(session.login.as_str()) && !session.is_supervisor() {
            return Err(denied("Cet appel n'a pas été pris par vous."));
        }
        input.call_id = Some(id.to_string());
        if ticket_id.is_none() {
            ticket_id = store
                .tickets_of_call(id)
                .await
                .ok()
                .and_then(|l| l.first().copied());
        }
        let caller = store
            .lookup_caller(&call.caller_number, state.backend.now())
            .await
            .ok()
            .flatten();
        let name = caller
            .as_ref()
            .map(|c| format!("{} {}", c.first_name, c.last_name))
            .or_else(|| call.caller_name.clone())
            .unwrap_or_else(|| call.caller_number.clone());
        input.requester_name = Some(name.clone());
        input.entity = caller.as_ref().map(|c| c.entity.clone());
        input.site = caller.as_ref().map(|c| c.site.clone());
        input.title = Some(format!("Appel de {name}"));
    }
    if let Some(id) = ticket_id {
        let Ok(t) = store.ticket(id).await else {
            return Err(denied("Ce ticket n'existe pas."));
        };
        input.ticket_id = Some(id.to_string());
        input.form = Some(t.form.as_str().to_owned());
        input.nature = Some(t.nature.as_str().to_owned());
        input.title = Some(t.title.clone());
        input.requester_name = Some(t.requester_name.clone());
        input.entity = t.entity.clone();
        input.site = t.site.clone();
        input.category_id = t.category_id.map(|v| v.to_string());
        input.urgency = t.urgency.map(|u| urgency_str(u).to_owned());
        input.impact = t.impact.map(|i| impact_str(i).to_owned());
        input.technical_domain = t.technical_domain.clone();
        input.symptom = t.symptom.clone();
        input.diagnosis = t.diagnosis.clone();
        input.group_id = t.group_id.map(|v| v.to_string());
        input.outcome = Some(
            match t.status {
                TicketStatus::Resolved | TicketStatus::Closed => "resolved_online",
                _ if t.group_id.is_some() => "assign_group",
                _ => "keep",
            }
            .to_owned(),
        );
    }
    Ok(input)
}

fn options(items: &[(String, String)], selected: &str, empty: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(label) = empty {
        out.push_str(&format!("<option value=\"\">{}</option>", escape(label)));
    }
    for (value, label) in items {
        out.push_str(&format!(
            "<option value=\"{}\"{}>{}</option>",
            escape(value),
            if value == selected { " selected" } else { "" },
            escape(label)
        ));
    }
    out
}

fn category_options(categories: &[Category], selected: &str) -> String {
    let mut out = String::from("<option value=\"\">— choisir —</option>");
    for top in categories
        .iter()
        .filter(|c| c.parent_id.is_none() && c.active)
    {
        out.push_str(&format!("<optgroup label=\"{}\">", escape(&top.name)));
        let sel = |id: i64| {
            if id.to_string() == selected {
                " selected"
            } else {
                ""
            }
        };
        out.push_str(&format!(
            "<option value=\"{}\"{}>{}</option>",
            top.id,
            sel(top.id),
            escape(&top.name)
        ));
        for sub in categories
            .iter()
            .filter(|c| c.parent_id == Some(top.id) && c.active)
        {
            out.push_str(&format!(
                "<option value=\"{}\"{}>{} › {}</option>",
                sub.id,
                sel(sub.id),
                escape(&top.name),
                escape(&sub.name)
            ));
        }
        out.push_str("</optgroup>");
    }
    out
}

/// The standing shown next to the priority (and used to compute it): from the ticket, else
/// the call.
async fn standing(state: &AppState, input: &TicketInput) -> (bool, bool) {
    let store = state.backend.store();
    if let Some(id) = parse_id(input.value("ticket_id"))
        && let Ok(t) = store.ticket(id).await
    {
        return (t.vip, t.p0);
    }
    if let Some(id) = parse_id(input.value("call_id"))
        && let Ok(c) = store.call(id).await
    {
        return (c.vip, c.p0);
    }
    (false, false)
}

fn priority_text(p: Priority, vip: bool, p0: bool) -> String {
    let why = if p == Priority::P0 && vip {
        " (appelant VIP)"
    } else if p == Priority::P0 && p0 {
        " (fenêtre P0 de l'appelant)"
    } else {
        ""
    };
    format!("{}{why}", p.label())
}

/// Renders the ticket form with `input`, the field errors next to their fields, and a
/// notice on top.
/// The ticket form, with the SLA actions' block (`actions`) and the history under it for a
/// ticket.
async fn form_page(
    state: &AppState,
    session: &Session,
    input: &TicketInput,
    errors: &FieldErrors,
    notice: &str,
    saved_draft_key: Option<&str>,
    actions: &crate::ticket_actions::ActionForm,
) -> String {
    let store = state.backend.store();
    let categories = store.categories().await.unwrap_or_default();
    let groups = store.support_groups().await.unwrap_or_default();
    let (vip, p0) = standing(state, input).await;
    let priority = compute_priority(
        parse_urgency(input.value("urgency")),
        parse_impact(input.value("impact")),
        vip,
        p0,
    );
    let err = |k: &str| -> String {
        errors
            .get(k)
            .map(|m| {
                format!(
                    "<p class=\"champ-erreur\" id=\"erreur-{k}\" role=\"alert\">{}</p>",
                    escape(m)
                )
            })
            .unwrap_or_default()
    };
    let invalid = |k: &str| -> String {
        if errors.contains_key(k) {
            format!(" aria-invalid=\"true\" aria-describedby=\"erreur-{k}\"")
        } else {
            String::new()
        }
    };
    let text_field = |k: &str, label: &str, required: bool| -> String {
        format!(
            "<p><label for=\"{k}\">{label}{}</label> <input type=\"text\" id=\"{k}\" name=\"{k}\" value=\"{}\"{}>{}</p>",
            if required { " *" } else { "" },
            escape(input.value(k)),
            invalid(k),
            err(k)
        )
    };
    let area = |k: &str, label: &str| -> String {
        format!(
            "<p><label for=\"{k}\">{label}</label><br><textarea id=\"{k}\" name=\"{k}\" rows=\"3\"{}>{}</textarea>{}</p>",
            invalid(k),
            escape(input.value(k)),
            err(k)
        )
    };
    let radio = |name: &str, value: &str, label: &str, id: &str| -> String {
        format!(
            "<label><input type=\"radio\" name=\"{name}\" value=\"{value}\" id=\"{id}\"{}> {label}</label> ",
            if input.value(name) == value
                || (input.value(name).is_empty() && (value == "simplified" || value == "keep"))
            {
                " checked"
            } else {
                ""
            }
        )
    };
    let call_id = input.value("call_id");
    let ticket_id = input.value("ticket_id");
    let draft_key = if !call_id.is_empty() {
        format!("appel-{call_id}")
    } else if !ticket_id.is_empty() {
        format!("ticket-{ticket_id}")
    } else {
        "nouveau".to_owned()
    };
    let heading = match (ticket_id.is_empty(), call_id.is_empty()) {
        (false, _) => {
            let status = match parse_id(ticket_id) {
                Some(id) => store.ticket(id).await.ok().map(|t| t.status),
                None => None,
            };
            let closed = matches!(status, Some(TicketStatus::Resolved | TicketStatus::Closed));
            // The SLA clock kept by the server's live runner, read-only.
            let sla = match parse_id(ticket_id) {
                Some(id) => state.backend.ticket_sla_line(id).await,
                None => None,
            }
            .map(|line| format!("<p id=\"delai-sla\">{}</p>", escape(&line)))
            .unwrap_or_default();
            format!(
                "<p id=\"fiche-cible\">Ticket n° {} — {}{}</p>{sla}",
                escape(ticket_id),
                status.map_or("", status_label),
                if closed {
                    " : il n'est plus modifiable ici."
                } else {
                    ""
                }
            )
        }
        (true, false) => format!(
            "<p id=\"fiche-cible\">Nouveau ticket pour l'appel n° {}</p>",
            escape(call_id)
        ),
        (true, true) => "<p id=\"fiche-cible\">Nouveau ticket</p>".to_owned(),
    };
    let mut standing_badges = String::new();
    if vip {
        standing_badges.push_str(" <span class=\"vip\" id=\"badge-vip\">VIP</span>");
    }
    if p0 {
        standing_badges.push_str(" <span class=\"p0\" id=\"badge-p0\">Fenêtre P0</span>");
    }
    // Attaching is offered while the call has no ticket of its own.
    let attach = if !call_id.is_empty() && ticket_id.is_empty() {
        let mut open = String::new();
        if let Some(id) = parse_id(call_id)
            && let Ok(c) = store.call(id).await
            && let Some(p) = c.person_id
        {
            for t in store
                .open_tickets_of_person(p, 10)
                .await
                .unwrap_or_default()
            {
                open.push_str(&format!(
                    "<option value=\"{}\"{}>n° {} — {} ({})</option>",
                    t.id,
                    if input.value("attach_to_ticket") == t.id.to_string() {
                        " selected"
                    } else {
                        ""
                    },
                    t.id,
                    escape(&t.title),
                    t.priority.code()
                ));
            }
        }
        format!(
            "<fieldset><legend>Ou rattacher l'appel à un ticket existant</legend>\
             <p><label for=\"attach_to_ticket\">Ticket existant</label> \
             <select id=\"attach_to_ticket\" name=\"attach_to_ticket\"{}>\
             <option value=\"\">— aucun : enregistrer la fiche ci-dessus —</option>{open}</select>{}</p>\
             </fieldset>",
            invalid("attach_to_ticket"),
            err("attach_to_ticket")
        )
    } else {
        String::new()
    };
    let natures = [
        ("incident".to_owned(), "Incident".to_owned()),
        ("request".to_owned(), "Demande".to_owned()),
        ("assistance".to_owned(), "Assistance".to_owned()),
    ];
    let urgencies: Vec<(String, String)> = Urgency::ALL
        .iter()
        .map(|u| (urgency_str(*u).to_owned(), u.label().to_owned()))
        .collect();
    let impacts: Vec<(String, String)> = Impact::ALL
        .iter()
        .map(|i| (impact_str(*i).to_owned(), i.label().to_owned()))
        .collect();
    let group_items: Vec<(String, String)> = groups
        .iter()
        .map(|g| (g.id.to_string(), g.name.clone()))
        .collect();
    let sla_actions = match parse_id(ticket_id) {
        Some(id) => crate::ticket_actions::block(state, session, id, actions).await,
        None => String::new(),
    };
    let summary = if errors.is_empty() {
        String::new()
    } else {
        format!(
            "<p role=\"alert\" class=\"erreur\" id=\"erreurs\">La fiche n'est pas enregistrée : \
             {} champ(s) à corriger.</p>",
            errors.len()
        )
    };
    format!(
        "{DESK_STYLE}{notice}{summary}{heading}\
         <form method=\"post\" action=\"/agent/dossier\" id=\"form-ticket\" data-brouillon=\"{draft_key}\"{saved}>\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"call_id\" value=\"{call_id_e}\">\
         <input type=\"hidden\" name=\"ticket_id\" value=\"{ticket_id_e}\">{ticket_err}{call_err}\
         <div class=\"colonnes\"><div><fieldset><legend>Prise d'appel</legend>\
         <p role=\"radiogroup\" aria-label=\"Formulaire\">Formulaire : {r_simple}{r_complete}</p>{form_err}\
         <p><label for=\"nature\">Nature *</label> <select id=\"nature\" name=\"nature\"{nature_inv}>{nature_opts}</select>{nature_err}</p>\
         {title}{requester}{entity}{site}\
         <p><label for=\"category_id\">Catégorie / sous-catégorie</label> <select id=\"category_id\" name=\"category_id\"{cat_inv}>{cat_opts}</select>{cat_err}</p>\
         {domain}</fieldset></div><div>\
         <fieldset><legend>Priorité</legend>\
         <p><label for=\"urgency\">Urgence</label> <select id=\"urgency\" name=\"urgency\"{urg_inv}>{urg_opts}</select>{urg_err}</p>\
         <p><label for=\"impact\">Impact</label> <select id=\"impact\" name=\"impact\"{imp_inv}>{imp_opts}</select>{imp_err}</p>\
         <p>Priorité calculée : <output id=\"priorite\" for=\"urgency impact\" aria-live=\"polite\">{priority}</output>{standing_badges}</p>\
         </fieldset>\
         <fieldset><legend>Suite donnée</legend>\
         <p role=\"radiogroup\" aria-label=\"Suite donnée\">{o_online}{o_group}{o_keep}</p>{outcome_err}\
         <p><label for=\"group_id\">Groupe de support</label> <select id=\"group_id\" name=\"group_id\"{grp_inv}>{grp_opts}</select>{grp_err}</p>\
         </fieldset>{attach}</div></div>\
         <fieldset><legend>Description</legend>{symptom}{diagnosis}</fieldset>\
         <p><button type=\"submit\" id=\"enregistrer-ticket\">Enregistrer la fiche</button> \
         <span id=\"brouillon-etat\" role=\"status\"></span></p></form>{sla_actions}\
         <p><a href=\"/agent\">Retour à mon poste</a> · <a href=\"/agent/rappels\">Rappels</a></p>\
         <script src=\"/static/fiche.js\"></script>",
        saved = saved_draft_key
            .map(|k| format!(" data-brouillon-enregistre=\"{}\"", escape(k)))
            .unwrap_or_default(),
        csrf = escape(&session.csrf),
        call_id_e = escape(call_id),
        ticket_id_e = escape(ticket_id),
        ticket_err = err("ticket_id"),
        call_err = err("call_id"),
        r_simple = radio("form", "simplified", "simplifié", "form-simplified"),
        r_complete = radio("form", "complete", "complet", "form-complete"),
        form_err = err("form"),
        nature_inv = invalid("nature"),
        nature_opts = options(&natures, input.value("nature"), None),
        nature_err = err("nature"),
        title = text_field("title", "Titre", true),
        requester = text_field("requester_name", "Demandeur", true),
        entity = text_field("entity", "Entité", false),
        site = text_field("site", "Site", false),
        cat_inv = invalid("category_id"),
        cat_opts = category_options(&categories, input.value("category_id")),
        cat_err = err("category_id"),
        domain = text_field("technical_domain", "Domaine technique", false),
        urg_inv = invalid("urgency"),
        urg_opts = options(
            &urgencies,
            input.value("urgency"),
            Some("— non qualifiée —")
        ),
        urg_err = err("urgency"),
        imp_inv = invalid("impact"),
        imp_opts = options(&impacts, input.value("impact"), Some("— non qualifié —")),
        imp_err = err("impact"),
        priority = escape(&priority_text(priority, vip, p0)),
        symptom = area("symptom", "Description (symptôme)"),
        diagnosis = area("diagnosis", "Diagnostic"),
        o_online = radio(
            "outcome",
            "resolved_online",
            "Résolu en ligne",
            "outcome-resolved-online"
        ),
        o_group = radio(
            "outcome",
            "assign_group",
            "Affecter à un groupe",
            "outcome-assign-group"
        ),
        o_keep = radio("outcome", "keep", "Je garde le ticket", "outcome-keep"),
        outcome_err = err("outcome"),
        grp_inv = invalid("group_id"),
        grp_opts = options(&group_items, input.value("group_id"), Some("— aucun —")),
        grp_err = err("group_id"),
    )
}

/// `GET /agent/dossier?call_id=N` or `?ticket_id=N`: the ticket form, prefilled.
async fn ticket_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<TicketQuery>,
) -> Response {
    let session = match require_page(&state, &headers, Need::Account).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let input = match prefill(&state, &session, &query).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    // After a save: a fixed sentence with the (numeric) ticket id, and the draft to forget.
    let (notice, saved) = match (
        query.enregistre.as_deref(),
        input.ticket_id.as_deref().and_then(parse_id),
    ) {
        (Some(draft), Some(id)) => {
            let key = match draft {
                "nouveau" => Some("nouveau".to_owned()),
                d => d
                    .strip_prefix("appel-")
                    .and_then(parse_id)
                    .map(|c| format!("appel-{c}")),
            };
            (
                if query.rattache.is_some() {
                    format!(
                        "<p class=\"ok\" role=\"status\" id=\"fiche-enregistree\">Appel rattaché au ticket n° {id} : enregistré.</p>"
                    )
                } else {
                    format!(
                        "<p class=\"ok\" role=\"status\" id=\"fiche-enregistree\">Ticket n° {id} enregistré.</p>"
                    )
                },
                key.or_else(|| Some(format!("ticket-{id}"))),
            )
        }
        _ => (String::new(), None),
    };
    let actions = crate::ticket_actions::ActionForm::after(query.sla.as_deref());
    let body = form_page(
        &state,
        &session,
        &input,
        &FieldErrors::new(),
        &notice,
        saved.as_deref(),
        &actions,
    )
    .await;
    page(
        &state.backend.settings().server_name,
        "Fiche de l'appel",
        Some(&session),
        &body,
    )
    .into_response()
}

/// The ticket page for `ticket_id` with `status`, showing the SLA actions' `actions` (a
/// refused action's values and errors).
pub(crate) async fn ticket_form_response(
    state: &AppState,
    session: &Session,
    ticket_id: i64,
    actions: &crate::ticket_actions::ActionForm,
    status: StatusCode,
) -> Response {
    let query = TicketQuery {
        ticket_id: Some(ticket_id.to_string()),
        ..TicketQuery::default()
    };
    let input = match prefill(state, session, &query).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    let body = form_page(
        state,
        session,
        &input,
        &FieldErrors::new(),
        "",
        None,
        actions,
    )
    .await;
    (
        status,
        page(
            &state.backend.settings().server_name,
            "Fiche de l'appel",
            Some(session),
            &body,
        ),
    )
        .into_response()
}

/// `POST /agent/dossier`: checks and saves the form; errors re-render it with the values.
async fn ticket_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(input): Form<TicketInput>,
) -> Response {
    let session = match require_form(&state, &headers, Need::Account, input.csrf.as_deref()).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let name = state.backend.settings().server_name.clone();
    let rerender = |status: StatusCode, body: String| {
        (
            status,
            page(&name, "Fiche de l'appel", Some(&session), &body),
        )
            .into_response()
    };
    // The draft to forget after a save, from the ids the check accepted.
    let draft = match (
        parse_id(input.value("call_id")),
        parse_id(input.value("ticket_id")),
    ) {
        (Some(c), _) => format!("appel-{c}"),
        (None, Some(t)) => format!("ticket-{t}"),
        (None, None) => "nouveau".to_owned(),
    };
    match check_input(&state, &session, &input).await {
        Err((status, errors)) => {
            let body = form_page(
                &state,
                &session,
                &input,
                &errors,
                "",
                None,
                &Default::default(),
            )
            .await;
            rerender(status, body)
        }
        Ok(checked) => match save(&state, &session, checked).await {
            Ok(saved) => {
                let mut url = format!(
                    "/agent/dossier?ticket_id={}&enregistre={draft}",
                    saved.ticket.id
                );
                if saved.attached {
                    url.push_str("&rattache=1");
                }
                if let Some(c) = parse_id(input.value("call_id")) {
                    url.push_str(&format!("&call_id={c}"));
                }
                Redirect::to(&url).into_response()
            }
            Err(e) => {
                let notice = format!(
                    "<p role=\"alert\" class=\"erreur\">La fiche n'est pas enregistrée : {}</p>",
                    escape(&e)
                );
                let body = form_page(
                    &state,
                    &session,
                    &input,
                    &FieldErrors::new(),
                    &notice,
                    None,
                    &Default::default(),
                )
                .await;
                rerender(StatusCode::UNPROCESSABLE_ENTITY, body)
            }
        },
    }
}

#[derive(Debug, Deserialize)]
struct PriorityQuery {
    #[serde(default)]
    urgency: Option<String>,
    #[serde(default)]
    impact: Option<String>,
    #[serde(default)]
    call_id: Option<String>,
    #[serde(default)]
    ticket_id: Option<String>,
}

/// `GET /agent/dossier/priorite`: the priority the tickets room computes for an urgency, an
/// impact and the standing of the call's or ticket's caller (the form shows it live).
async fn priority_preview(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<PriorityQuery>,
) -> Response {
    if current(&state, &headers).await.is_none() {
        return error(StatusCode::UNAUTHORIZED, "authentification requise");
    }
    let input = TicketInput {
        call_id: q.call_id,
        ticket_id: q.ticket_id,
        urgency: q.urgency,
        impact: q.impact,
        ..TicketInput::default()
    };
    let (vip, p0) = standing(&state, &input).await;
    let p = compute_priority(
        parse_urgency(input.value("urgency")),
        parse_impact(input.value("impact")),
        vip,
        p0,
    );
    axum::Json(json!({
        "code": p.code(),
        "label": priority_text(p, vip, p0),
        "vip": vip,
        "p0_window": p0,
    }))
    .into_response()
}

fn ticket_json(t: &Ticket, calls: &[i64]) -> Value {
    json!({
        "id": t.id,
        "nature": t.nature.as_str(),
        "form": t.form.as_str(),
        "status": t.status.as_str(),
        "title": t.title,
        "requester_person_id": t.requester_person_id,
        "requester_name": t.requester_name,
        "entity": t.entity,
        "site": t.site,
        "vip": t.vip,
        "p0": t.p0,
        "symptom": t.symptom,
        "diagnosis": t.diagnosis,
        "technical_domain": t.technical_domain,
        "urgency": t.urgency.map(urgency_str),
        "impact": t.impact.map(impact_str),
        "priority": t.priority.code(),
        "category_id": t.category_id,
        "group_id": t.group_id,
        "assignee": t.assignee,
        "created_by": t.created_by,
        "created_at": t.created_at,
        "updated_at": t.updated_at,
        "resolved_at": t.resolved_at,
        "calls": calls,
    })
}

fn validation_error(status: StatusCode, errors: &FieldErrors) -> Response {
    (
        status,
        axum::Json(json!({
            "error": "saisie invalide : corrigez les champs indiqués",
            "fields": errors,
        })),
    )
        .into_response()
}

async fn ticket_response(state: &AppState, status: StatusCode, t: &Ticket) -> Response {
    let calls = state
        .backend
        .store()
        .ticket_calls(t.id)
        .await
        .unwrap_or_default();
    (status, axum::Json(ticket_json(t, &calls))).into_response()
}

async fn api_save(
    state: &AppState,
    headers: &HeaderMap,
    body: &Bytes,
    ticket: Option<i64>,
) -> Response {
    let session = match authorize(state, headers, false, true).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let value: Value = match crate::api::json_body(body, "") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut input = match TicketInput::from_json(&value) {
        Ok(i) => i,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    if let Some(id) = ticket {
        if let Err(e) = state.backend.store().ticket(id).await {
            return crate::api::store_error(&e);
        }
        input.ticket_id = Some(id.to_string());
    }
    let checked = match check_input(state, &session, &input).await {
        Ok(c) => c,
        Err((status, errors)) => return validation_error(status, &errors),
    };
    match save(state, &session, checked).await {
        Ok(saved) => {
            let status = if saved.created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            ticket_response(state, status, &saved.ticket).await
        }
        Err(e) => error(StatusCode::UNPROCESSABLE_ENTITY, e),
    }
}

/// `POST /api/v1/tickets`: the ticket form as JSON (completes the call's ticket when it has one).
async fn api_create_ticket(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    api_save(&state, &headers, &body, None).await
}

/// `PUT /api/v1/tickets/{id}`: rewrites the call-taking fields of a ticket.
async fn api_update_ticket(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    api_save(&state, &headers, &body, Some(id)).await
}

/// `GET /api/v1/tickets/{id}`.
async fn api_get_ticket(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    if let Err(r) = authorize(&state, &headers, false, false).await {
        return r;
    }
    match state.backend.store().ticket(id).await {
        Ok(t) => ticket_response(&state, StatusCode::OK, &t).await,
        Err(e) => crate::api::store_error(&e),
    }
}

// ---- callbacks -------------------------------------------------------------------------

/// How far back abandoned calls are offered for a callback.
const ABANDONED_WINDOW_HOURS: i64 = 24;

struct CallbackLists {
    requests: Vec<guichet_tickets::admin::Callback>,
    abandoned: Vec<(CallRecord, Option<Caller>)>,
}

async fn callback_lists(state: &AppState) -> Result<CallbackLists, String> {
    let store = state.backend.store();
    let now = state.backend.now();
    let requests = store
        .all_pending_callbacks()
        .await
        .map_err(|e| store_error(&e))?;
    let mut abandoned = Vec::new();
    for call in store
        .abandoned_calls_to_return(now - Duration::hours(ABANDONED_WINDOW_HOURS), 50)
        .await
        .map_err(|e| store_error(&e))?
    {
        let caller = store
            .lookup_caller(&call.caller_number, now)
            .await
            .ok()
            .flatten();
        abandoned.push((call, caller));
    }
    Ok(CallbackLists {
        requests,
        abandoned,
    })
}

async fn callbacks_body(state: &AppState, session: &Session, notice: &str) -> String {
    let lists = match callback_lists(state).await {
        Ok(l) => l,
        Err(e) => {
            return format!(
                "<p role=\"alert\" class=\"erreur\">Liste des rappels indisponible : {}</p>",
                escape(&e)
            );
        }
    };
    let csrf = escape(&session.csrf);
    let mut body = format!("{DESK_STYLE}{notice}<h2>Demandes de rappel</h2>");
    if lists.requests.is_empty() {
        body.push_str("<p id=\"demandes-rappel\">Aucune demande de rappel en attente.</p>");
    } else {
        body.push_str(
            "<table id=\"demandes-rappel\"><tr><th>Demandé le</th><th>Appelant</th><th>Numéro</th>\
             <th>File</th><th>Action</th></tr>",
        );
        for r in &lists.requests {
            body.push_str(&format!(
                "<tr data-rappel=\"{id}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>\
                 <form method=\"post\" action=\"/agent/rappels/rappeler\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
                 <input type=\"hidden\" name=\"callback_id\" value=\"{id}\">\
                 <button type=\"submit\" class=\"rappeler\" aria-label=\"Rappeler {who}\">Rappeler</button></form></td></tr>",
                local(state, r.requested_at),
                escape(r.name.as_deref().unwrap_or("—")),
                escape(&r.number),
                escape(&r.queue),
                id = r.id,
                who = escape(r.name.as_deref().unwrap_or(&r.number)),
            ));
        }
        body.push_str("</table>");
    }
    body.push_str(&format!(
        "<h2>Appels abandonnés d'appelants identifiés ({ABANDONED_WINDOW_HOURS} dernières heures)</h2>"
    ));
    if lists.abandoned.is_empty() {
        body.push_str("<p id=\"appels-abandonnes\">Aucun appel abandonné à rappeler.</p>");
    } else {
        body.push_str(
            "<table id=\"appels-abandonnes\"><tr><th>Arrivé le</th><th>Appelant</th><th>Numéro</th>\
             <th>File</th><th>Issue</th><th>Action</th></tr>",
        );
        for (c, caller) in &lists.abandoned {
            let name = caller
                .as_ref()
                .map(|p| format!("{} {}", p.first_name, p.last_name))
                .or_else(|| c.caller_name.clone())
                .unwrap_or_else(|| "—".to_owned());
            let vip = if caller.as_ref().is_some_and(|p| p.vip) {
                " <span class=\"vip\">VIP</span>"
            } else {
                ""
            };
            body.push_str(&format!(
                "<tr data-appel=\"{id}\"><td>{}</td><td>{}{vip}</td><td>{}</td><td>{}</td><td>{}</td><td>\
                 <form method=\"post\" action=\"/agent/rappels/rappeler\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
                 <input type=\"hidden\" name=\"call_id\" value=\"{id}\">\
                 <button type=\"submit\" class=\"rappeler\" aria-label=\"Rappeler {who}\">Rappeler</button></form></td></tr>",
                local(state, c.arrived_at),
                escape(&name),
                escape(&c.caller_number),
                escape(c.queue.as_deref().unwrap_or("—")),
                outcome_label(c.outcome),
                id = c.id,
                who = escape(&name),
            ));
        }
        body.push_str("</table>");
    }
    body.push_str(
        "<p>« Rappeler » fait d'abord sonner votre téléphone ; quand vous décrochez, Guichet \
         appelle la personne. <a href=\"/agent\">Retour à mon poste</a></p>",
    );
    body
}

/// `GET /agent/rappels`: pending callback requests and abandoned calls of identified callers.
async fn callbacks_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let session = match require_page(&state, &headers, Need::Account).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let body = callbacks_body(&state, &session, "").await;
    page(
        &state.backend.settings().server_name,
        "Rappels",
        Some(&session),
        &body,
    )
    .into_response()
}

/// What to call back.
enum CallBackTarget {
    /// A pending callback request.
    Request(i64),
    /// An abandoned call of an identified caller: a request is made for it first.
    Abandoned(i64),
}

/// Starts a callback for the session's agent and journals it; returns the request id.
async fn call_back(
    state: &AppState,
    session: &Session,
    target: CallBackTarget,
) -> Result<i64, (StatusCode, String)> {
    let store = state.backend.store();
    let now = state.backend.now();
    let request = match target {
        CallBackTarget::Request(id) => match store.pending_callback(id).await {
            Ok(Some(r)) => r.id,
            Ok(None) => {
                return Err((
                    StatusCode::NOT_FOUND,
                    format!("aucun rappel en attente n° {id}"),
                ));
            }
            Err(e) => return Err(store_refusal(&e)),
        },
        CallBackTarget::Abandoned(call_id) => {
            let call = store.call(call_id).await.map_err(|e| store_refusal(&e))?;
            let to_return = store
                .abandoned_calls_to_return(now - Duration::hours(ABANDONED_WINDOW_HOURS), 500)
                .await
                .map_err(|e| store_refusal(&e))?;
            let (true, Some(queue)) = (to_return.iter().any(|c| c.id == call_id), &call.queue)
            else {
                return Err((
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("l'appel n° {call_id} n'est pas un appel abandonné à rappeler"),
                ));
            };
            let caller = store
                .lookup_caller(&call.caller_number, now)
                .await
                .ok()
                .flatten();
            let name = caller
                .map(|p| format!("{} {}", p.first_name, p.last_name))
                .or(call.caller_name.clone());
            store
                .create_callback(
                    Some(call.id),
                    &call.caller_number,
                    name.as_deref(),
                    queue,
                    now,
                )
                .await
                .map_err(|e| store_refusal(&e))?
        }
    };
    let result = state.backend.call_back(&session.login, request).await;
    let entry = JournalEntry {
        at: now,
        actor: session.login.clone(),
        action: "callback.start".to_owned(),
        subject: format!("callback:{request}"),
        old_value: None,
        new_value: Some(match &result {
            Ok(()) => "lancé".to_owned(),
            Err(e) => format!("refusé : {e}"),
        }),
    };
    if let Err(e) = store.journal(&entry).await {
        tracing::warn!(error = %e, "callback not journaled");
    }
    match result {
        Ok(()) => {
            tracing::info!(callback = request, agent = %session.login, "callback started from the desk");
            Ok(request)
        }
        Err(e) => {
            tracing::info!(callback = request, agent = %session.login, error = %e, "callback refused");
            Err((StatusCode::UNPROCESSABLE_ENTITY, e))
        }
    }
}

#[derive(Debug, Deserialize)]
struct CallBackForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    callback_id: Option<String>,
    #[serde(default)]
    call_id: Option<String>,
}

/// `POST /agent/rappels/rappeler`: « Rappeler » on a request or an abandoned call; the page
/// comes back with the result.
async fn callbacks_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<CallBackForm>,
) -> Response {
    let session = match require_form(&state, &headers, Need::Account, form.csrf.as_deref()).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let target = match (
        form.callback_id.as_deref().and_then(parse_id),
        form.call_id.as_deref().and_then(parse_id),
    ) {
        (Some(id), _) => Some(CallBackTarget::Request(id)),
        (None, Some(id)) => Some(CallBackTarget::Abandoned(id)),
        (None, None) => None,
    };
    let (status, notice) = match target {
        None => (
            StatusCode::BAD_REQUEST,
            "<p role=\"alert\" class=\"erreur\" id=\"rappel-resultat\">Choisissez un rappel dans la liste.</p>".to_owned(),
        ),
        Some(t) => match call_back(&state, &session, t).await {
            Ok(id) => (
                StatusCode::OK,
                format!(
                    "<p class=\"ok\" role=\"status\" id=\"rappel-resultat\">Rappel n° {id} lancé : \
                     votre téléphone sonne ; décrochez et Guichet appelle la personne.</p>"
                ),
            ),
            Err((status, e)) => (
                status,
                format!(
                    "<p role=\"alert\" class=\"erreur\" id=\"rappel-resultat\">Rappel impossible : {}</p>",
                    escape(&e)
                ),
            ),
        },
    };
    let body = callbacks_body(&state, &session, &notice).await;
    (
        status,
        page(
            &state.backend.settings().server_name,
            "Rappels",
            Some(&session),
            &body,
        ),
    )
        .into_response()
}

/// `GET /api/v1/callbacks`: pending requests and abandoned calls to return.
async fn api_callbacks(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(r) = authorize(&state, &headers, false, false).await {
        return r;
    }
    match callback_lists(&state).await {
        Ok(l) => axum::Json(json!({
            "requests": l.requests.iter().map(|r| json!({
                "id": r.id,
                "call_id": r.call_id,
                "number": r.number,
                "name": r.name,
                "queue": r.queue,
                "requested_at": r.requested_at,
            })).collect::<Vec<_>>(),
            "abandoned_calls": l.abandoned.iter().map(|(c, p)| json!({
                "call_id": c.id,
                "number": c.caller_number,
                "name": p.as_ref().map(|p| format!("{} {}", p.first_name, p.last_name)).or(c.caller_name.clone()),
                "vip": p.as_ref().is_some_and(|p| p.vip),
                "queue": c.queue,
                "arrived_at": c.arrived_at,
                "outcome": c.outcome.map(guichet_tickets::calls::outcome_str),
            })).collect::<Vec<_>>(),
        }))
        .into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn api_call_back(state: &AppState, headers: &HeaderMap, target: CallBackTarget) -> Response {
    let session = match authorize(state, headers, false, true).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match call_back(state, &session, target).await {
        Ok(id) => (
            StatusCode::ACCEPTED,
            axum::Json(json!({ "callback_id": id, "status": "ringing_agent" })),
        )
            .into_response(),
        Err((status, e)) => error(status, e),
    }
}

/// `POST /api/v1/callbacks/{id}/call`: calls back a pending request.
async fn api_call_back_request(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    api_call_back(&state, &headers, CallBackTarget::Request(id)).await
}

/// `POST /api/v1/calls/{id}/call-back`: calls back an abandoned call of an identified caller.
async fn api_call_back_abandoned(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    api_call_back(&state, &headers, CallBackTarget::Abandoned(id)).await
}
