//! The major-incident log of the supervisor room (CULTURE 2239-2249, 850-868): pages
//! `/superviseur/incidents` (list, filters, declaration) and `/superviseur/incidents/{id}`
//! (timeline, status and progress notes, closing with the crisis message's removal), and their
//! JSON twins under `/api/v1/incidents`. The store journals every change.

use axum::Form;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, Utc};
use guichet_tickets::StoreError;
use guichet_tickets::admin::MessageKind;
use guichet_tickets::incidents::{
    Incident, IncidentFilter, IncidentStatus, IncidentUpdate, NewIncident,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::api::{api_error, authorize};
use crate::auth::{Need, Session, require_form, require_page};
use crate::html::{escape, page};

/// The pages' routes.
pub(crate) fn page_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/superviseur/incidents",
            get(incidents_page).post(declare_submit),
        )
        .route(
            "/superviseur/incidents/{id}",
            get(incident_page).post(update_submit),
        )
}

/// The API's routes (nested under `/api/v1`).
pub(crate) fn api_routes() -> Router<AppState> {
    Router::new()
        .route("/incidents", get(api_list).post(api_declare))
        .route("/incidents/{id}", get(api_get))
        .route("/incidents/{id}/updates", post(api_update))
}

const PAGE_TITLE: &str = "Incidents majeurs";

fn local(state: &AppState, at: DateTime<Utc>) -> String {
    at.with_timezone(&state.backend.settings().zone)
        .format("%d/%m/%Y %H:%M")
        .to_string()
}

/// `1 h 05 min`, `12 min`: how long an incident lasted, for people.
pub(crate) fn duration_fr(secs: i64) -> String {
    let minutes = secs.max(0) / 60;
    let (h, m) = (minutes / 60, minutes % 60);
    match (h, m) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m:02} min"),
    }
}

/// Parses the status as forms and the API spell it: the stored code or the French word.
fn parse_status(s: &str) -> Option<IncidentStatus> {
    let s = s.trim();
    IncidentStatus::ALL
        .iter()
        .copied()
        .find(|st| st.as_str() == s || st.label_fr() == s)
}

/// The French sentence for a store refusal, naming the field as the form labels it.
fn refusal_fr(e: &StoreError) -> String {
    match e {
        StoreError::Invalid { field, reason } => {
            let label = match *field {
                "title" => "Titre",
                "services" => "Lignes ou services touchés",
                "description" => "Description",
                "note" => "Point d'avancement",
                "status" => "Statut",
                other => other,
            };
            format!("{label} : {reason}.")
        }
        StoreError::NotFound { .. } => "Incident introuvable.".to_owned(),
        other => {
            tracing::warn!(error = %other, "incident store error");
            "Le journal des incidents est indisponible, réessayez.".to_owned()
        }
    }
}

fn status_badge(status: IncidentStatus) -> String {
    let class = if status.is_ongoing() { "erreur" } else { "ok" };
    format!(
        "<span class=\"{class} statut-incident\" data-statut=\"{}\">{}</span>",
        status.as_str(),
        status.label_fr()
    )
}

/// The list page's query: filters, and a confirmation after a redirect.
#[derive(Deserialize, Default)]
pub(crate) struct ListQuery {
    #[serde(default)]
    statut: Option<String>,
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    du: Option<String>,
    #[serde(default)]
    au: Option<String>,
}

/// The declaration form, also re-shown with the values typed after a refusal.
#[derive(Deserialize, Default)]
pub(crate) struct DeclareForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    title: String,
    #[serde(default)]
    services: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    crisis_line: String,
}

fn day_start(state: &AppState, s: &str) -> Option<DateTime<Utc>> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .ok()?
        .and_hms_opt(0, 0, 0)?
        .and_local_timezone(state.backend.settings().zone)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// The filter of the list page, or the French reason it is unreadable.
fn page_filter(state: &AppState, q: &ListQuery) -> Result<IncidentFilter, String> {
    let status = match q.statut.as_deref().map(str::trim).unwrap_or("") {
        "" => None,
        s => Some(parse_status(s).ok_or_else(|| format!("Statut inconnu « {s} ».", s = s))?),
    };
    let day = |v: &Option<String>, what: &str, next: bool| -> Result<_, String> {
        match v.as_deref().map(str::trim).unwrap_or("") {
            "" => Ok(None),
            s => {
                let start = day_start(state, s)
                    .ok_or_else(|| format!("Date {what} illisible (jj/mm/aaaa attendu)."))?;
                Ok(Some(if next {
                    start + chrono::Duration::days(1)
                } else {
                    start
                }))
            }
        }
    };
    Ok(IncidentFilter {
        status,
        from: day(&q.du, "de début", false)?,
        to: day(&q.au, "de fin", true)?,
        text: q
            .q
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
    })
}

fn incidents_table(state: &AppState, list: &[Incident], now: DateTime<Utc>) -> String {
    let mut out = String::from(
        "<table id=\"incidents\"><caption>Incidents majeurs</caption><thead><tr><th>N°</th><th>Titre</th>\
         <th>Lignes ou services touchés</th><th>Statut</th><th>Début</th><th>Fin</th><th>Durée</th>\
         <th>Déclaré par</th></tr></thead><tbody>",
    );
    if list.is_empty() {
        out.push_str("<tr><td colspan=\"8\"><em>Aucun incident pour ces critères.</em></td></tr>");
    }
    for i in list {
        out.push_str(&format!(
            "<tr data-incident=\"{id}\"><td>{id}</td><td><a href=\"/superviseur/incidents/{id}\">{title}</a></td>\
             <td>{services}</td><td>{status}</td><td>{start}</td><td>{end}</td><td>{duration}{so_far}</td><td>{who}</td></tr>",
            id = i.id,
            title = escape(&i.declared.title),
            services = escape(&i.declared.services),
            status = status_badge(i.status),
            start = local(state, i.started_at),
            end = i.ended_at.map(|t| local(state, t)).unwrap_or_default(),
            duration = duration_fr(i.duration(now).num_seconds()),
            so_far = if i.ended_at.is_none() { " (en cours)" } else { "" },
            who = escape(&i.opened_by),
        ));
    }
    out.push_str("</tbody></table>");
    out
}

async fn list_body(
    state: &AppState,
    session: &Session,
    query: &ListQuery,
    notice: &str,
    form: &DeclareForm,
) -> String {
    let store = state.backend.store();
    let now = state.backend.now();
    let mut body = String::from(notice);
    let (filter, filter_error) = match page_filter(state, query) {
        Ok(f) => (f, None),
        Err(e) => (IncidentFilter::default(), Some(e)),
    };
    match store.ongoing_incidents().await {
        Ok(ongoing) if !ongoing.is_empty() => {
            body.push_str("<section id=\"incidents-en-cours\" aria-labelledby=\"titre-en-cours\"><h2 id=\"titre-en-cours\">En cours</h2><ul>");
            for i in &ongoing {
                body.push_str(&format!(
                    "<li class=\"erreur\"><a href=\"/superviseur/incidents/{id}\">Incident n° {id} : {title}</a> — {services} — {status} depuis {start} ({duration})</li>",
                    id = i.id,
                    title = escape(&i.declared.title),
                    services = escape(&i.declared.services),
                    status = i.status.label_fr(),
                    start = local(state, i.started_at),
                    duration = duration_fr(i.duration(now).num_seconds()),
                ));
            }
            body.push_str("</ul></section>");
        }
        Ok(_) => body.push_str("<p id=\"incidents-en-cours\">Aucun incident majeur en cours.</p>"),
        Err(e) => tracing::warn!(error = %e, "ongoing incidents unreadable"),
    }
    body.push_str(&declare_form(state, session, form).await);
    let selected = |s: &str| {
        if query.statut.as_deref() == Some(s) {
            " selected"
        } else {
            ""
        }
    };
    let mut options = format!("<option value=\"\"{}>tous</option>", selected(""));
    for s in IncidentStatus::ALL {
        options.push_str(&format!(
            "<option value=\"{}\"{}>{}</option>",
            s.as_str(),
            selected(s.as_str()),
            s.label_fr()
        ));
    }
    body.push_str(&format!(
        "<h2>Journal des incidents majeurs</h2>\
         <form method=\"get\" action=\"/superviseur/incidents\" role=\"search\" id=\"filtre-incidents\">\
         <label for=\"filtre-statut\">Statut</label> <select id=\"filtre-statut\" name=\"statut\">{options}</select> \
         <label for=\"filtre-texte\">Texte</label> <input id=\"filtre-texte\" name=\"q\" value=\"{q}\"> \
         <label for=\"filtre-du\">Du</label> <input id=\"filtre-du\" name=\"du\" type=\"date\" value=\"{du}\"> \
         <label for=\"filtre-au\">au</label> <input id=\"filtre-au\" name=\"au\" type=\"date\" value=\"{au}\"> \
         <button type=\"submit\">Filtrer</button></form>",
        q = escape(query.q.as_deref().unwrap_or("")),
        du = escape(query.du.as_deref().unwrap_or("")),
        au = escape(query.au.as_deref().unwrap_or("")),
    ));
    if let Some(e) = filter_error {
        body.push_str(&format!(
            "<p role=\"alert\" class=\"erreur\">{}</p>",
            escape(&e)
        ));
    }
    match store.incidents(&filter).await {
        Ok(list) => body.push_str(&incidents_table(state, &list, now)),
        Err(e) => body.push_str(&format!(
            "<p role=\"alert\" class=\"erreur\">{}</p>",
            escape(&refusal_fr(&e))
        )),
    }
    body.push_str(
        "<p>Chaque déclaration, changement de statut et point d'avancement est aussi inscrit \
         dans le <a href=\"/superviseur/messages?journal=incident\">journal des événements</a>.</p>",
    );
    body
}

/// The lines offered for the link to a crisis message. On a fresh form (`chosen` none) the
/// first line with an active crisis message is selected: that is the usual case.
async fn crisis_line_options(state: &AppState, chosen: Option<&str>) -> String {
    let now = state.backend.now();
    let mut out = String::from("<option value=\"\">aucun</option>");
    let mut chosen = chosen.map(str::to_owned);
    for line in &state.backend.settings().lines {
        let active = state
            .backend
            .store()
            .active_message(&line.number, MessageKind::Crisis, now)
            .await
            .ok()
            .flatten();
        let note = if active.is_some() {
            " — message de crise actif"
        } else {
            ""
        };
        if chosen.is_none() && active.is_some() {
            chosen = Some(line.number.clone());
        }
        out.push_str(&format!(
            "<option value=\"{n}\"{sel}>{name} ({n}){note}</option>",
            n = escape(&line.number),
            name = escape(&line.name),
            sel = if chosen.as_deref() == Some(line.number.as_str()) {
                " selected"
            } else {
                ""
            },
        ));
    }
    out
}

/// The declaration form; `form` holds the values typed when it is shown again after a
/// refusal (`csrf` set), else it is a fresh form.
async fn declare_form(state: &AppState, session: &Session, form: &DeclareForm) -> String {
    let chosen = form.csrf.is_some().then_some(form.crisis_line.as_str());
    format!(
        "<h2>Déclarer un incident majeur</h2>\
         <form method=\"post\" action=\"/superviseur/incidents\" id=\"form-incident\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <p><label for=\"incident-titre\">Titre</label><br>\
         <input id=\"incident-titre\" name=\"title\" required maxlength=\"200\" size=\"60\" value=\"{title}\"></p>\
         <p><label for=\"incident-services\">Lignes ou services touchés</label><br>\
         <input id=\"incident-services\" name=\"services\" required maxlength=\"500\" size=\"60\" value=\"{services}\"></p>\
         <p><label for=\"incident-description\">Description</label><br>\
         <textarea id=\"incident-description\" name=\"description\" rows=\"3\" maxlength=\"5000\">{description}</textarea></p>\
         <p><label for=\"incident-ligne\">Message de crise associé (ligne)</label> \
         <select id=\"incident-ligne\" name=\"crisis_line\">{lines}</select></p>\
         <p><button type=\"submit\" id=\"declarer-incident\">Déclarer l'incident</button></p></form>",
        csrf = escape(&session.csrf),
        title = escape(&form.title),
        services = escape(&form.services),
        description = escape(&form.description),
        lines = crisis_line_options(state, chosen).await,
    )
}

fn render(state: &AppState, session: &Session, status: StatusCode, body: &str) -> Response {
    (
        status,
        page(
            &state.backend.settings().server_name,
            PAGE_TITLE,
            Some(session),
            body,
        ),
    )
        .into_response()
}

/// `GET /superviseur/incidents`.
pub(crate) async fn incidents_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Response {
    let session = match require_page(&state, &headers, Need::Supervisor).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let body = list_body(&state, &session, &query, "", &DeclareForm::default()).await;
    render(&state, &session, StatusCode::OK, &body)
}

/// Checks a line number against the configuration.
fn known_line(state: &AppState, line: &str) -> bool {
    state
        .backend
        .settings()
        .lines
        .iter()
        .any(|l| l.number == line)
}

/// `POST /superviseur/incidents`: declares, then shows the incident.
pub(crate) async fn declare_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<DeclareForm>,
) -> Response {
    let session = match require_form(&state, &headers, Need::Supervisor, form.csrf.as_deref()).await
    {
        Ok(s) => s,
        Err(r) => return r,
    };
    let line = form.crisis_line.trim();
    let result = if !line.is_empty() && !known_line(&state, line) {
        Err(format!("Ligne inconnue : {line}."))
    } else {
        declare(
            &state,
            &session,
            &form.title,
            &form.services,
            &form.description,
            line,
        )
        .await
        .map_err(|e| refusal_fr(&e))
    };
    match result {
        Ok(incident) => Redirect::to(&format!(
            "/superviseur/incidents/{}?ok=declare",
            incident.id
        ))
        .into_response(),
        Err(e) => {
            let notice = format!("<p role=\"alert\" class=\"erreur\">{}</p>", escape(&e));
            let body = list_body(&state, &session, &ListQuery::default(), &notice, &form).await;
            render(&state, &session, StatusCode::UNPROCESSABLE_ENTITY, &body)
        }
    }
}

/// Declares an incident for `session` (the pages, the API and the messages page's shortcut).
pub(crate) async fn declare(
    state: &AppState,
    session: &Session,
    title: &str,
    services: &str,
    description: &str,
    crisis_line: &str,
) -> Result<Incident, StoreError> {
    let incident = state
        .backend
        .store()
        .declare_incident(
            &NewIncident {
                title: title.to_owned(),
                services: services.to_owned(),
                description: description.to_owned(),
                crisis_line: Some(crisis_line.trim().to_owned()).filter(|l| !l.is_empty()),
            },
            &session.login,
            state.backend.now(),
        )
        .await?;
    tracing::info!(id = incident.id, by = %session.login, "major incident declared");
    Ok(incident)
}

/// The detail page's query: a confirmation after a redirect.
#[derive(Deserialize)]
pub(crate) struct DetailQuery {
    #[serde(default)]
    ok: Option<String>,
}

/// The update form.
#[derive(Deserialize, Default)]
pub(crate) struct UpdateForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    status: String,
    #[serde(default)]
    note: String,
    /// Checkbox: also remove the line's crisis message.
    #[serde(default)]
    remove_crisis_message: Option<String>,
}

fn timeline(state: &AppState, updates: &[IncidentUpdate]) -> String {
    let mut out = String::from(
        "<table id=\"suivi-incident\"><caption>Suivi</caption><thead><tr><th>Quand</th><th>Qui</th>\
         <th>Statut</th><th>Point d'avancement</th></tr></thead><tbody>",
    );
    for u in updates {
        let status = match u.status_before {
            None => format!("déclaré ({})", u.status_after.label_fr()),
            Some(b) if b == u.status_after => b.label_fr().to_owned(),
            Some(b) => format!("{} → {}", b.label_fr(), u.status_after.label_fr()),
        };
        out.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            local(state, u.at),
            escape(&u.author),
            escape(&status),
            escape(&u.note)
        ));
    }
    out.push_str("</tbody></table>");
    out
}

async fn detail_body(
    state: &AppState,
    session: &Session,
    incident: &Incident,
    updates: &[IncidentUpdate],
    notice: &str,
    form: &UpdateForm,
) -> String {
    let now = state.backend.now();
    let i = incident;
    let crisis = match &i.declared.crisis_line {
        Some(line) => {
            let active = state
                .backend
                .store()
                .active_message(line, MessageKind::Crisis, now)
                .await
                .ok()
                .flatten();
            let state_of_message = match active {
                Some(m) => format!(
                    "ligne {} : « {} » (<a href=\"/superviseur/messages/{}/crise/ecoute\">écouter</a>)",
                    escape(line),
                    escape(&m.message.text),
                    escape(line)
                ),
                None => format!("ligne {} : aucun message de crise actif", escape(line)),
            };
            format!(
                "{state_of_message} · <a href=\"/superviseur/messages\">modifier les messages</a>"
            )
        }
        None => "aucun".to_owned(),
    };
    let mut body = String::from(notice);
    body.push_str(&format!(
        "<h2 id=\"titre-incident\">Incident n° {id} : {title}</h2>\
         <dl id=\"fiche-incident\"><dt>Statut</dt><dd>{status}</dd>\
         <dt>Lignes ou services touchés</dt><dd>{services}</dd>\
         <dt>Description</dt><dd>{description}</dd>\
         <dt>Début</dt><dd>{start} (déclaré par {by})</dd>\
         <dt>Fin</dt><dd>{end}</dd><dt>Durée</dt><dd>{duration}</dd>\
         <dt>Message de crise</dt><dd>{crisis}</dd>{closed}</dl>",
        id = i.id,
        title = escape(&i.declared.title),
        status = status_badge(i.status),
        services = escape(&i.declared.services),
        description = escape(&i.declared.description),
        start = local(state, i.started_at),
        by = escape(&i.opened_by),
        end = i
            .ended_at
            .map(|t| local(state, t))
            .unwrap_or_else(|| "en cours".to_owned()),
        duration = duration_fr(i.duration(now).num_seconds()),
        closed = match (&i.closed_at, &i.closed_by) {
            (Some(at), Some(by)) => format!(
                "<dt>Clôture</dt><dd>{} par {}</dd>",
                local(state, *at),
                escape(by)
            ),
            _ => String::new(),
        },
    ));
    body.push_str(&timeline(state, updates));
    if i.status != IncidentStatus::Closed {
        let chosen = parse_status(&form.status).unwrap_or(i.status);
        let options: String = IncidentStatus::ALL
            .iter()
            .map(|s| {
                format!(
                    "<option value=\"{}\"{}>{}</option>",
                    s.as_str(),
                    if *s == chosen { " selected" } else { "" },
                    s.label_fr()
                )
            })
            .collect();
        let removal = match &i.declared.crisis_line {
            Some(line) => format!(
                "<p><input type=\"checkbox\" id=\"retirer-message\" name=\"remove_crisis_message\" value=\"1\"> \
                 <label for=\"retirer-message\">Retirer aussi le message de crise de la ligne {}</label></p>",
                escape(line)
            ),
            None => String::new(),
        };
        body.push_str(&format!(
            "<h2>Point d'avancement</h2>\
             <form method=\"post\" action=\"/superviseur/incidents/{id}\" id=\"form-suivi\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <p><label for=\"suivi-statut\">Statut</label> <select id=\"suivi-statut\" name=\"status\">{options}</select></p>\
             <p><label for=\"suivi-note\">Point d'avancement</label><br>\
             <textarea id=\"suivi-note\" name=\"note\" rows=\"3\" maxlength=\"5000\">{note}</textarea></p>\
             {removal}<p><button type=\"submit\" id=\"enregistrer-suivi\">Enregistrer</button></p></form>",
            id = i.id,
            csrf = escape(&session.csrf),
            note = escape(&form.note),
        ));
    }
    body.push_str(
        "<p><a href=\"/superviseur/incidents\">Tous les incidents majeurs</a> · \
         <a href=\"/superviseur/messages?journal=incident\">Journal des événements</a></p>",
    );
    body
}

/// `GET /superviseur/incidents/{id}`.
pub(crate) async fn incident_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(query): Query<DetailQuery>,
) -> Response {
    let session = match require_page(&state, &headers, Need::Supervisor).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let notice = match query.ok.as_deref() {
        Some("declare") => {
            "<p class=\"ok\" role=\"status\">Incident déclaré : il figure au journal des événements et sur le mur d'affichage.</p>"
        }
        Some("suivi") => "<p class=\"ok\" role=\"status\">Point d'avancement enregistré.</p>",
        Some("retire") => {
            "<p class=\"ok\" role=\"status\">Point d'avancement enregistré et message de crise retiré.</p>"
        }
        _ => "",
    };
    match state.backend.store().incident(id).await {
        Ok(Some((incident, updates))) => {
            let body = detail_body(
                &state,
                &session,
                &incident,
                &updates,
                notice,
                &UpdateForm::default(),
            )
            .await;
            render(&state, &session, StatusCode::OK, &body)
        }
        Ok(None) => render(
            &state,
            &session,
            StatusCode::NOT_FOUND,
            "<p role=\"alert\" class=\"erreur\">Incident introuvable.</p>",
        ),
        Err(e) => render(
            &state,
            &session,
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!(
                "<p role=\"alert\" class=\"erreur\">{}</p>",
                escape(&refusal_fr(&e))
            ),
        ),
    }
}

/// What an update did, for the caller to report.
enum Updated {
    /// Saved; the crisis message was removed too when asked.
    Done { removed_message: bool },
    /// Saved, but removing the crisis message failed (French reason).
    MessageKept(String),
}

/// Applies an update and, when asked, removes the incident's crisis message.
async fn apply_update(
    state: &AppState,
    session: &Session,
    id: i64,
    status: Option<IncidentStatus>,
    note: &str,
    remove_message: bool,
) -> Result<(Incident, Updated), StoreError> {
    let incident = state
        .backend
        .store()
        .update_incident(id, status, note, &session.login, state.backend.now())
        .await?;
    tracing::info!(id, status = %incident.status, by = %session.login, "major incident updated");
    let Some(line) = incident
        .declared
        .crisis_line
        .clone()
        .filter(|_| remove_message)
    else {
        return Ok((
            incident,
            Updated::Done {
                removed_message: false,
            },
        ));
    };
    match state
        .backend
        .remove_message(session.actor(), &line, MessageKind::Crisis)
        .await
    {
        Ok(()) => Ok((
            incident,
            Updated::Done {
                removed_message: true,
            },
        )),
        Err(e) => Ok((incident, Updated::MessageKept(e))),
    }
}

/// `POST /superviseur/incidents/{id}`: status change, progress note, closing.
pub(crate) async fn update_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<UpdateForm>,
) -> Response {
    let session = match require_form(&state, &headers, Need::Supervisor, form.csrf.as_deref()).await
    {
        Ok(s) => s,
        Err(r) => return r,
    };
    let status = match form.status.trim() {
        "" => Ok(None),
        s => parse_status(s)
            .map(Some)
            .ok_or_else(|| format!("Statut inconnu « {s} ».")),
    };
    let outcome = match status {
        Ok(status) => apply_update(
            &state,
            &session,
            id,
            status,
            &form.note,
            form.remove_crisis_message.is_some(),
        )
        .await
        .map_err(|e| refusal_fr(&e)),
        Err(e) => Err(e),
    };
    let error = match outcome {
        Ok((_, Updated::Done { removed_message })) => {
            let ok = if removed_message { "retire" } else { "suivi" };
            return Redirect::to(&format!("/superviseur/incidents/{id}?ok={ok}")).into_response();
        }
        Ok((_, Updated::MessageKept(e))) => {
            format!(
                "Point d'avancement enregistré, mais le message de crise n'a pas été retiré : {e}"
            )
        }
        Err(e) => e,
    };
    let notice = format!("<p role=\"alert\" class=\"erreur\">{}</p>", escape(&error));
    match state.backend.store().incident(id).await {
        Ok(Some((incident, updates))) => {
            let body = detail_body(&state, &session, &incident, &updates, &notice, &form).await;
            render(&state, &session, StatusCode::UNPROCESSABLE_ENTITY, &body)
        }
        _ => render(&state, &session, StatusCode::NOT_FOUND, &notice),
    }
}

/// The ongoing incidents as one line for the messages page (empty when none): whoever
/// changes a crisis message sees which incident it announces.
pub(crate) async fn ongoing_notice(state: &AppState) -> String {
    let ongoing = state
        .backend
        .store()
        .ongoing_incidents()
        .await
        .unwrap_or_default();
    if ongoing.is_empty() {
        return String::new();
    }
    let links: Vec<String> = ongoing
        .iter()
        .map(|i| {
            format!(
                "<a href=\"/superviseur/incidents/{id}\">n° {id} : {title}</a> ({status})",
                id = i.id,
                title = escape(&i.declared.title),
                status = i.status.label_fr()
            )
        })
        .collect();
    format!(
        "<p class=\"erreur\" id=\"incidents-en-cours\">Incident majeur en cours : {}</p>",
        links.join(" · ")
    )
}

/// The dashboards' line on the major incidents of the local days `first..=last`: how many
/// and their time inside the period, with a link to the log filtered on those days.
pub(crate) async fn period_line(state: &AppState, first: NaiveDate, last: NaiveDate) -> String {
    let day = |d: NaiveDate| day_start(state, &d.format("%Y-%m-%d").to_string());
    let (Some(from), Some(to)) = (day(first), last.succ_opt().and_then(day)) else {
        return String::new();
    };
    let now = state.backend.now();
    match state.backend.store().incident_totals(from, to, now).await {
        Ok(t) => format!(
            "<p id=\"incidents-periode\">Incidents majeurs sur la période : <strong>{}</strong>, \
             durée cumulée <strong>{}</strong> \
             (<a href=\"/superviseur/incidents?du={first}&amp;au={last}\">voir le journal des incidents</a>).</p>",
            t.count,
            duration_fr(t.total_secs),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "incident totals unreadable");
            String::new()
        }
    }
}

// ---- JSON API ----

fn incident_json(state: &AppState, i: &Incident) -> Value {
    let now = state.backend.now();
    json!({
        "id": i.id,
        "title": i.declared.title,
        "services": i.declared.services,
        "description": i.declared.description,
        "crisis_line": i.declared.crisis_line,
        "status": i.status.as_str(),
        "status_label": i.status.label_fr(),
        "opened_by": i.opened_by,
        "started_at": i.started_at,
        "ended_at": i.ended_at,
        "closed_at": i.closed_at,
        "closed_by": i.closed_by,
        "duration_secs": i.duration(now).num_seconds(),
    })
}

fn update_json(u: &IncidentUpdate) -> Value {
    json!({
        "at": u.at,
        "author": u.author,
        "status_before": u.status_before.map(IncidentStatus::as_str),
        "status_after": u.status_after.as_str(),
        "note": u.note,
    })
}

/// `GET /api/v1/incidents` query.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiListQuery {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    from: Option<DateTime<Utc>>,
    #[serde(default)]
    to: Option<DateTime<Utc>>,
}

async fn api_list(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<ApiListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(r) = authorize(&state, &headers, true, false).await {
        return r;
    }
    let Ok(Query(query)) = query else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "paramètres invalides : status (open, resolving, resolved, closed), q, from et to (dates RFC 3339)",
        );
    };
    let status = match query.status.as_deref() {
        None | Some("") => None,
        Some(s) => match parse_status(s) {
            Some(s) => Some(s),
            None => {
                return api_error(
                    StatusCode::BAD_REQUEST,
                    format!("statut inconnu « {s} » : open, resolving, resolved ou closed"),
                );
            }
        },
    };
    let filter = IncidentFilter {
        status,
        from: query.from,
        to: query.to,
        text: query.q.filter(|q| !q.trim().is_empty()),
    };
    match state.backend.store().incidents(&filter).await {
        Ok(list) => axum::Json(
            list.iter()
                .map(|i| incident_json(&state, i))
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => crate::api::store_error(&e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiDeclare {
    title: String,
    services: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    crisis_line: Option<String>,
}

async fn api_declare(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let session = match authorize(&state, &headers, true, true).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let d: ApiDeclare = match crate::api::json_body(
        &body,
        " (attendu {\"title\", \"services\", \"description\" et \"crisis_line\" facultatifs})",
    ) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let line = d.crisis_line.unwrap_or_default();
    if !line.trim().is_empty() && !known_line(&state, line.trim()) {
        return api_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("ligne inconnue : {}", line.trim()),
        );
    }
    match declare(
        &state,
        &session,
        &d.title,
        &d.services,
        &d.description,
        &line,
    )
    .await
    {
        Ok(i) => (StatusCode::CREATED, axum::Json(incident_json(&state, &i))).into_response(),
        Err(e) => crate::api::store_error(&e),
    }
}

async fn api_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = authorize(&state, &headers, true, false).await {
        return r;
    }
    let Ok(id) = id.parse::<i64>() else {
        return api_error(StatusCode::NOT_FOUND, "incident introuvable");
    };
    match state.backend.store().incident(id).await {
        Ok(Some((i, updates))) => {
            let mut v = incident_json(&state, &i);
            v["updates"] = updates.iter().map(update_json).collect();
            axum::Json(v).into_response()
        }
        Ok(None) => api_error(StatusCode::NOT_FOUND, "incident introuvable"),
        Err(e) => crate::api::store_error(&e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiUpdate {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    note: String,
    #[serde(default)]
    remove_crisis_message: bool,
}

async fn api_update(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let session = match authorize(&state, &headers, true, true).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(id) = id.parse::<i64>() else {
        return api_error(StatusCode::NOT_FOUND, "incident introuvable");
    };
    let u: ApiUpdate = match crate::api::json_body(
        &body,
        " (attendu {\"status\", \"note\", \"remove_crisis_message\"})",
    ) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let status = match u.status.as_deref() {
        None => None,
        Some(s) => match parse_status(s) {
            Some(s) => Some(s),
            None => {
                return api_error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("statut inconnu « {s} » : open, resolving, resolved ou closed"),
                );
            }
        },
    };
    match apply_update(
        &state,
        &session,
        id,
        status,
        &u.note,
        u.remove_crisis_message,
    )
    .await
    {
        Ok((i, outcome)) => {
            let mut v = incident_json(&state, &i);
            match outcome {
                Updated::Done { removed_message } => {
                    v["crisis_message_removed"] = json!(removed_message);
                }
                Updated::MessageKept(e) => {
                    v["crisis_message_removed"] = json!(false);
                    v["crisis_message_error"] = json!(e);
                }
            }
            axum::Json(v).into_response()
        }
        Err(e) => crate::api::store_error(&e),
    }
}
