//! The SLA actions on the agent's ticket form (« fiche ticket », `/agent/dossier?ticket_id=N`):
//! « Escalader » (to another support group, level 2 or 3, with a mandatory reason and an
//! optional raised priority), « Modifier l'échéance » (a new deadline agreed with the user,
//! with a mandatory justification; the current one is shown), « Exclure du SLA »
//! (supervisors only, who approve it by making it), and the ticket's history, where each
//! action shows as a new line. The store operations are `guichet_tickets::sla_changes`, the
//! same as the API's (`crate::sla_changes`); the live SLA runner applies the audit rows.
//!
//! Each action is a form of its own, posted with the session's CSRF token. A refusal
//! re-renders the ticket page with the French message next to the field and the values
//! kept; a success redirects to the page with a French confirmation.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::{Form, Router};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use guichet_tickets::StoreError;
use guichet_tickets::sla_changes::{DUE_DATE_FIELD, ESCALATION_FIELD, EXCLUSION_FIELD};
use guichet_tickets::ticket::{AuditEntry, Priority, SlaOutcome, TicketStatus};
use serde::Deserialize;

use crate::AppState;
use crate::auth::{Need, Session, require_form};
use crate::html::escape;

/// The routes of the three actions (page routes, next to `/agent/dossier`).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/agent/dossier/escalade", post(escalate))
        .route("/agent/dossier/echeance", post(move_due_date))
        .route("/agent/dossier/exclusion", post(exclude))
}

/// Which action a form posted, to word its confirmation and place its errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Escalation,
    DueDate,
    Exclusion,
}

impl Action {
    /// The `sla` query parameter of the page after a success.
    fn slug(self) -> &'static str {
        match self {
            Action::Escalation => "escalade",
            Action::DueDate => "echeance",
            Action::Exclusion => "exclusion",
        }
    }

    fn from_slug(slug: &str) -> Option<Action> {
        [Action::Escalation, Action::DueDate, Action::Exclusion]
            .into_iter()
            .find(|a| a.slug() == slug)
    }

    fn confirmation(self) -> &'static str {
        match self {
            Action::Escalation => "Ticket escaladé : le groupe choisi le reprend.",
            Action::DueDate => "Échéance modifiée : le délai suit la nouvelle date.",
            Action::Exclusion => "Ticket exclu des indicateurs de délai (SLA).",
        }
    }
}

/// What the actions' block shows besides the ticket: a confirmation after a success, or
/// the refused action's values and errors (by form field name) after a refusal.
#[derive(Debug, Default)]
pub(crate) struct ActionForm {
    confirmed: Option<Action>,
    refused: Option<Action>,
    values: BTreeMap<&'static str, String>,
    errors: BTreeMap<&'static str, String>,
}

impl ActionForm {
    /// The block after the redirect of a success (`?sla=escalade` and the like); anything
    /// else shows no confirmation.
    pub(crate) fn after(slug: Option<&str>) -> ActionForm {
        ActionForm {
            confirmed: slug.and_then(Action::from_slug),
            ..ActionForm::default()
        }
    }

    fn value(&self, field: &str) -> &str {
        self.values.get(field).map_or("", String::as_str)
    }

    /// The error paragraph under a field, if any.
    fn error(&self, field: &str) -> String {
        self.errors
            .get(field)
            .map(|m| {
                format!(
                    "<p class=\"champ-erreur\" id=\"erreur-{field}\" role=\"alert\">{}</p>",
                    escape(m)
                )
            })
            .unwrap_or_default()
    }

    /// The attributes that tie a field to its error.
    fn invalid(&self, field: &str) -> String {
        if self.errors.contains_key(field) {
            format!(" aria-invalid=\"true\" aria-describedby=\"erreur-{field}\"")
        } else {
            String::new()
        }
    }
}

/// The block under the ticket form: the three actions (the exclusion for supervisors only)
/// and the ticket's history.
pub(crate) async fn block(
    state: &AppState,
    session: &Session,
    ticket_id: i64,
    form: &ActionForm,
) -> String {
    let store = state.backend.store();
    let Ok(ticket) = store.ticket(ticket_id).await else {
        return String::new();
    };
    let groups = store.support_groups().await.unwrap_or_default();
    let group_name = |id: &str| -> String {
        groups
            .iter()
            .find(|g| g.id.to_string() == id)
            .map_or_else(|| format!("groupe n° {id}"), |g| g.name.clone())
    };
    let mut out = String::from(
        "<section id=\"actions-sla\" aria-labelledby=\"actions-sla-titre\">\
        <h2 id=\"actions-sla-titre\">Escalade et délai (SLA)</h2>",
    );
    if let Some(done) = form.confirmed {
        out.push_str(&format!(
            "<p class=\"ok\" role=\"status\" id=\"action-sla-resultat\">{}</p>",
            done.confirmation()
        ));
    }
    if let Some(refused) = form.refused {
        out.push_str(&format!(
            "<p class=\"erreur\" role=\"alert\" id=\"action-sla-resultat\">{} non enregistrée : \
             corrigez le champ indiqué.</p>",
            match refused {
                Action::Escalation => "Escalade",
                Action::DueDate => "Modification de l'échéance",
                Action::Exclusion => "Exclusion du SLA",
            }
        ));
    }
    let hidden = format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <input type=\"hidden\" name=\"ticket_id\" value=\"{ticket_id}\">",
        escape(&session.csrf)
    );
    let reason_area = |field: &'static str, label: &str| -> String {
        format!(
            "<p><label for=\"{field}\">{label} *</label><br>\
             <textarea id=\"{field}\" name=\"{field}\" rows=\"2\" required{}>{}</textarea>{}</p>",
            form.invalid(field),
            escape(form.value(field)),
            form.error(field)
        )
    };
    let open = !matches!(ticket.status, TicketStatus::Resolved | TicketStatus::Closed);
    if open {
        let mut group_options = String::from("<option value=\"\">— choisir —</option>");
        for g in groups.iter().filter(|g| Some(g.id) != ticket.group_id) {
            let id = g.id.to_string();
            group_options.push_str(&format!(
                "<option value=\"{id}\"{}>{}</option>",
                if form.value("escalade_groupe") == id {
                    " selected"
                } else {
                    ""
                },
                escape(&g.name)
            ));
        }
        let mut priority_options = String::from("<option value=\"\">— inchangée —</option>");
        for p in Priority::ALL.into_iter().filter(|p| *p < ticket.priority) {
            priority_options.push_str(&format!(
                "<option value=\"{code}\"{}>{code}</option>",
                if form.value("escalade_priorite") == p.code() {
                    " selected"
                } else {
                    ""
                },
                code = p.code()
            ));
        }
        let current_group = ticket
            .group_id
            .map_or_else(|| "aucun".to_owned(), |g| group_name(&g.to_string()));
        out.push_str(&format!(
            "<form method=\"post\" action=\"/agent/dossier/escalade\" id=\"form-escalade\">{hidden}\
             <fieldset><legend>Escalader</legend>\
             <p>Groupe actuel : <span id=\"groupe-actuel\">{}</span>. Priorité actuelle : {}.</p>\
             <p><label for=\"escalade_groupe\">Groupe de niveau 2 ou 3 qui reprend le ticket *</label> \
             <select id=\"escalade_groupe\" name=\"escalade_groupe\" required{}>{group_options}</select>{}</p>\
             <p><label for=\"escalade_priorite\">Relever la priorité</label> \
             <select id=\"escalade_priorite\" name=\"escalade_priorite\"{}>{priority_options}</select>{}</p>\
             {}\
             <p><button type=\"submit\" id=\"bouton-escalader\">Escalader</button></p>\
             </fieldset></form>",
            escape(&current_group),
            ticket.priority.code(),
            form.invalid("escalade_groupe"),
            form.error("escalade_groupe"),
            form.invalid("escalade_priorite"),
            form.error("escalade_priorite"),
            reason_area("escalade_motif", "Motif de l'escalade"),
        ));
        let zone = state.backend.settings().zone;
        let current_due = match state.backend.ticket_due(ticket_id).await {
            Some(due) => due
                .with_timezone(&zone)
                .format("%d/%m/%Y à %H:%M")
                .to_string(),
            None => {
                "aucune échéance en cours (pas d'objectif, en pause ou déjà atteint)".to_owned()
            }
        };
        out.push_str(&format!(
            "<form method=\"post\" action=\"/agent/dossier/echeance\" id=\"form-echeance\">{hidden}\
             <fieldset><legend>Modifier l'échéance</legend>\
             <p>Échéance actuelle : <span id=\"echeance-actuelle\">{}</span>.</p>\
             <p><label for=\"echeance_nouvelle\">Nouvelle échéance (date et heure) *</label> \
             <input type=\"datetime-local\" id=\"echeance_nouvelle\" name=\"echeance_nouvelle\" \
             value=\"{}\" required{}>{}</p>\
             {}\
             <p><button type=\"submit\" id=\"bouton-echeance\">Modifier l'échéance</button></p>\
             </fieldset></form>",
            escape(&current_due),
            escape(form.value("echeance_nouvelle")),
            form.invalid("echeance_nouvelle"),
            form.error("echeance_nouvelle"),
            reason_area(
                "echeance_motif",
                "Justification (accord de l'usager, date convenue…)"
            ),
        ));
    } else {
        out.push_str(
            "<p id=\"actions-sla-closes\">Ticket résolu ou clos : plus d'escalade ni de \
             changement d'échéance.</p>",
        );
    }
    if session.is_supervisor() && ticket.sla_outcome != Some(SlaOutcome::Excluded) {
        out.push_str(&format!(
            "<form method=\"post\" action=\"/agent/dossier/exclusion\" id=\"form-exclusion\">{hidden}\
             <fieldset><legend>Exclure du SLA</legend>\
             <p>Le ticket ne comptera plus dans les indicateurs de délai ; vous en êtes le \
             valideur.</p>{}\
             <p><button type=\"submit\" id=\"bouton-exclure\">Exclure du SLA</button></p>\
             </fieldset></form>",
            reason_area(
                "exclusion_justification",
                "Justification (cause extérieure au support)"
            ),
        ));
    }
    out.push_str("</section>");
    let trail = store.ticket_audit(ticket_id).await.unwrap_or_default();
    out.push_str(&history(state, &trail, &group_name));
    out
}

/// The ticket's history, newest first: when, who, what changed, why.
fn history(state: &AppState, trail: &[AuditEntry], group_name: &dyn Fn(&str) -> String) -> String {
    let zone = state.backend.settings().zone;
    let mut rows = String::new();
    for entry in trail.iter().rev() {
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            entry.at.with_timezone(&zone).format("%d/%m/%Y %H:%M"),
            escape(&entry.actor),
            escape(&change_text(entry, group_name, &zone)),
            escape(entry.reason.as_deref().unwrap_or(""))
        ));
    }
    format!(
        "<section aria-labelledby=\"historique-titre\"><h2 id=\"historique-titre\">Historique du ticket</h2>\
         <table id=\"historique\"><caption>Modifications, la plus récente en premier</caption>\
         <thead><tr><th scope=\"col\">Date</th><th scope=\"col\">Par</th>\
         <th scope=\"col\">Modification</th><th scope=\"col\">Motif</th></tr></thead>\
         <tbody>{rows}</tbody></table></section>"
    )
}

/// One audit row in French.
fn change_text(
    entry: &AuditEntry,
    group_name: &dyn Fn(&str) -> String,
    zone: &chrono_tz::Tz,
) -> String {
    let old = entry.old_value.as_deref();
    let new = entry.new_value.as_deref().unwrap_or("");
    let date = |v: &str| {
        DateTime::parse_from_rfc3339(v).map_or_else(
            |_| v.to_owned(),
            |d| d.with_timezone(zone).format("%d/%m/%Y à %H:%M").to_string(),
        )
    };
    let arrow = |label: &str, old: Option<String>, new: String| match old {
        Some(old) => format!("{label} : {old} → {new}"),
        None => format!("{label} : {new}"),
    };
    match entry.field.as_str() {
        "created" => "Création du ticket".to_owned(),
        f if f == ESCALATION_FIELD => arrow("Escalade", old.map(group_name), group_name(new)),
        f if f == DUE_DATE_FIELD => arrow("Échéance", old.map(date), date(new)),
        f if f == EXCLUSION_FIELD => format!("Exclusion du SLA validée par {new}"),
        "sla_outcome" => arrow("Verdict SLA", old.map(str::to_owned), new.to_owned()),
        "status" => arrow("Statut", old.map(str::to_owned), new.to_owned()),
        "priority" => arrow("Priorité", old.map(str::to_owned), new.to_owned()),
        "group_id" => arrow("Groupe", old.map(group_name), group_name(new)),
        other => arrow(other, old.map(str::to_owned), new.to_owned()),
    }
}

// ---- the three posts ---------------------------------------------------------------------

#[derive(Deserialize)]
struct EscalationForm {
    csrf: Option<String>,
    ticket_id: String,
    #[serde(default)]
    escalade_groupe: String,
    #[serde(default)]
    escalade_priorite: String,
    #[serde(default)]
    escalade_motif: String,
}

#[derive(Deserialize)]
struct DueDateForm {
    csrf: Option<String>,
    ticket_id: String,
    #[serde(default)]
    echeance_nouvelle: String,
    #[serde(default)]
    echeance_motif: String,
}

#[derive(Deserialize)]
struct ExclusionForm {
    csrf: Option<String>,
    ticket_id: String,
    #[serde(default)]
    exclusion_justification: String,
}

/// One action's post being answered: who, on which ticket, and what was typed (kept on a
/// refusal).
struct Posted {
    state: AppState,
    session: Session,
    ticket_id: i64,
    action: Action,
    values: BTreeMap<&'static str, String>,
}

impl Posted {
    /// The session of an action's post (the form's CSRF token checked; a supervisor for the
    /// exclusion, else a 403 page) and the ticket id it names (else a 404 page).
    async fn check(
        state: AppState,
        headers: &HeaderMap,
        csrf: Option<&str>,
        ticket: &str,
        action: Action,
    ) -> Result<Posted, Response> {
        let session = require_form(&state, headers, Need::Account, csrf).await?;
        if action == Action::Exclusion && !session.is_supervisor() {
            return Err(refusal_page(
                &state,
                &session,
                StatusCode::FORBIDDEN,
                "L'exclusion du SLA est réservée aux superviseurs, qui la valident.",
            ));
        }
        let Ok(ticket_id) = ticket.trim().parse::<i64>() else {
            return Err(refusal_page(
                &state,
                &session,
                StatusCode::NOT_FOUND,
                "Ce ticket n'existe pas.",
            ));
        };
        Ok(Posted {
            state,
            session,
            ticket_id,
            action,
            values: BTreeMap::new(),
        })
    }

    /// The ticket page again, 422, with `message` under the form's `field`.
    async fn refuse(self, field: &'static str, message: String) -> Response {
        let form = ActionForm {
            confirmed: None,
            refused: Some(self.action),
            values: self.values,
            errors: BTreeMap::from([(field, message)]),
        };
        crate::desk::ticket_form_response(
            &self.state,
            &self.session,
            self.ticket_id,
            &form,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await
    }

    /// After the store call: the page with its confirmation, or the page again with the
    /// refusal under the field (`fields` maps the store's field names to the form's, with
    /// the French label).
    async fn finish(
        self,
        fields: &[(&str, &'static str, &str)],
        result: Result<(), StoreError>,
    ) -> Response {
        let (field, message) = match result {
            Ok(()) => {
                tracing::info!(
                    actor = %self.session.login,
                    ticket = self.ticket_id,
                    action = self.action.slug(),
                    "SLA action on the ticket form"
                );
                return Redirect::to(&format!(
                    "/agent/dossier?ticket_id={}&sla={}",
                    self.ticket_id,
                    self.action.slug()
                ))
                .into_response();
            }
            Err(StoreError::NotFound { .. }) => {
                return refusal_page(
                    &self.state,
                    &self.session,
                    StatusCode::NOT_FOUND,
                    "Ce ticket n'existe pas.",
                );
            }
            Err(e) => {
                let (_, field, message) = crate::api::store_failure(&e);
                (field, message)
            }
        };
        // The store's field as the form names and labels it; a refusal about the ticket as
        // a whole (its status) goes under the action's reason field, listed last.
        let (form_field, label) = fields
            .iter()
            .find(|(store_field, _, _)| Some(*store_field) == field)
            .map(|(_, form_field, label)| (*form_field, *label))
            .or_else(|| {
                fields
                    .last()
                    .map(|(_, form_field, _)| (*form_field, "Ticket"))
            })
            .unwrap_or(("", "Ticket"));
        self.refuse(form_field, format!("{label} : {message}."))
            .await
    }
}

fn refusal_page(
    state: &AppState,
    session: &Session,
    status: StatusCode,
    message: &str,
) -> Response {
    (
        status,
        crate::html::page(
            &state.backend.settings().server_name,
            "Fiche de l'appel",
            Some(session),
            &format!("<p role=\"alert\" class=\"erreur\">{}</p>", escape(message)),
        ),
    )
        .into_response()
}

/// `POST /agent/dossier/escalade`.
async fn escalate(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<EscalationForm>,
) -> Response {
    let csrf = f.csrf.as_deref();
    let mut post =
        match Posted::check(state, &headers, csrf, &f.ticket_id, Action::Escalation).await {
            Ok(p) => p,
            Err(r) => return r,
        };
    post.values = BTreeMap::from([
        ("escalade_groupe", f.escalade_groupe.clone()),
        ("escalade_priorite", f.escalade_priorite.clone()),
        ("escalade_motif", f.escalade_motif.clone()),
    ]);
    let store = post.state.backend.store().clone();
    let groups = store.support_groups().await.unwrap_or_default();
    let Some(group) = groups
        .iter()
        .find(|g| g.id.to_string() == f.escalade_groupe.trim())
    else {
        let message = "Groupe : choisissez le groupe de niveau 2 ou 3 qui reprend le ticket.";
        return post.refuse("escalade_groupe", message.to_owned()).await;
    };
    let raise_to = match f.escalade_priorite.trim() {
        "" => None,
        code => match Priority::ALL.into_iter().find(|p| p.code() == code) {
            Some(p) => Some(p),
            None => {
                let message = format!("Priorité : « {code} » inconnue (P0, P1, P2 ou P3).");
                return post.refuse("escalade_priorite", message).await;
            }
        },
    };
    let now = post.state.backend.now();
    let reason = &f.escalade_motif;
    let result = store
        .escalate_ticket(
            post.ticket_id,
            group.id,
            raise_to,
            reason,
            &post.session.login,
            now,
        )
        .await;
    let fields = [
        ("priority", "escalade_priorite", "Priorité"),
        ("reason", "escalade_motif", "Motif de l'escalade"),
    ];
    post.finish(&fields, result).await
}

/// The `datetime-local` value (`2026-11-26T10:00`, seconds allowed) or `26/11/2026 10:00`
/// (browsers without the date picker), in the server's time zone.
fn parse_local(value: &str, zone: &chrono_tz::Tz) -> Result<DateTime<Utc>, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("la date et l'heure sont obligatoires".to_owned());
    }
    let naive = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%d/%m/%Y %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(value, f).ok())
        .ok_or_else(|| format!("« {value} » n'est pas une date lisible (JJ/MM/AAAA HH:MM)"))?;
    zone.from_local_datetime(&naive)
        .earliest()
        .map(|d| d.with_timezone(&Utc))
        .ok_or_else(|| format!("{value} n'existe pas à l'heure légale (changement d'heure)"))
}

/// `POST /agent/dossier/echeance`.
async fn move_due_date(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<DueDateForm>,
) -> Response {
    let csrf = f.csrf.as_deref();
    let mut post = match Posted::check(state, &headers, csrf, &f.ticket_id, Action::DueDate).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    post.values = BTreeMap::from([
        ("echeance_nouvelle", f.echeance_nouvelle.clone()),
        ("echeance_motif", f.echeance_motif.clone()),
    ]);
    let due = match parse_local(&f.echeance_nouvelle, &post.state.backend.settings().zone) {
        Ok(due) => due,
        Err(reason) => {
            let message = format!("Nouvelle échéance : {reason}.");
            return post.refuse("echeance_nouvelle", message).await;
        }
    };
    let now = post.state.backend.now();
    let result = post
        .state
        .backend
        .store()
        .change_due_date(
            post.ticket_id,
            due,
            &f.echeance_motif,
            &post.session.login,
            now,
        )
        .await;
    let fields = [
        ("due", "echeance_nouvelle", "Nouvelle échéance"),
        ("reason", "echeance_motif", "Justification"),
    ];
    post.finish(&fields, result).await
}

/// `POST /agent/dossier/exclusion`: supervisors and admins only; an agent gets 403.
async fn exclude(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<ExclusionForm>,
) -> Response {
    let csrf = f.csrf.as_deref();
    let mut post = match Posted::check(state, &headers, csrf, &f.ticket_id, Action::Exclusion).await
    {
        Ok(p) => p,
        Err(r) => return r,
    };
    post.values = BTreeMap::from([("exclusion_justification", f.exclusion_justification.clone())]);
    let now = post.state.backend.now();
    // The supervisor who excludes is the approver (CULTURE 886-899).
    let result = post
        .state
        .backend
        .store()
        .exclude_from_sla(
            post.ticket_id,
            &f.exclusion_justification,
            &post.session.name,
            &post.session.login,
            now,
        )
        .await;
    let fields = [("justification", "exclusion_justification", "Justification")];
    post.finish(&fields, result).await
}
