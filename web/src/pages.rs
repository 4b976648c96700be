//! The HTML pages: home, agent status, supervisor messages and the live wallboard.

use std::convert::Infallible;
use std::time::Duration as StdDuration;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Duration, Utc};
use futures::Stream;
use guichet_tickets::admin::MessageKind;
use serde::{Deserialize, Serialize};

use crate::auth::{Need, Session, current, require_form, require_page};
use crate::html::{escape, page};
use crate::{AppState, Stopping, kind_slug, parse_kind_slug};

const KINDS: [MessageKind; 2] = [MessageKind::Crisis, MessageKind::Deterrence];

fn kind_label(kind: MessageKind) -> &'static str {
    match kind {
        MessageKind::Crisis => "Message de crise",
        MessageKind::Deterrence => "Message de dissuasion",
    }
}

fn local(state: &AppState, at: DateTime<Utc>) -> String {
    at.with_timezone(&state.backend.settings().zone)
        .format("%d/%m/%Y %H:%M:%S")
        .to_string()
}

/// `GET /`: the login page, or the home of the account's role.
pub(crate) async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match current(&state, &headers).await {
        None => Redirect::to("/connexion").into_response(),
        Some(s) if s.is_supervisor() => Redirect::to("/superviseur/mur").into_response(),
        Some(_) => Redirect::to("/agent").into_response(),
    }
}

fn status_fr(status: &guichet_acd::AgentStatus) -> String {
    use guichet_acd::AgentStatus as S;
    match status {
        S::LoggedOut => "Déconnecté".to_owned(),
        S::Available => "Disponible".to_owned(),
        S::Ringing { .. } => "Sonnerie".to_owned(),
        S::OnCall { .. } => "En communication".to_owned(),
        S::WrapUp { .. } => "Post-appel".to_owned(),
        S::Paused { reason } => format!("En pause ({reason})"),
    }
}

fn duration_fr(secs: i64) -> String {
    let secs = secs.max(0);
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// Pause reasons offered to agents (shown to supervisors as typed).
const PAUSE_REASONS: [&str; 5] = ["Déjeuner", "Formation", "Back-office", "Réunion", "Autre"];

/// The agent page's query: a refused change to explain.
#[derive(Deserialize)]
pub(crate) struct AgentQuery {
    #[serde(default)]
    erreur: Option<String>,
}

/// The agent state form.
#[derive(Deserialize)]
pub(crate) struct AgentStateForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    action: String,
    #[serde(default)]
    reason: String,
}

/// Parses a state change as forms and the API spell it.
pub(crate) fn parse_state_change(
    action: &str,
    reason: &str,
) -> Result<crate::AgentStateChange, String> {
    use crate::AgentStateChange as C;
    match action {
        "connexion" => Ok(C::LogIn),
        "deconnexion" => Ok(C::LogOut),
        "reprise" => Ok(C::Resume),
        "fin-post-appel" => Ok(C::EndWrapUp),
        "pause" if reason.trim().is_empty() => Err("une pause demande un motif".to_owned()),
        "pause" if reason.chars().count() > 60 => {
            Err("le motif de pause compte 60 caractères au plus".to_owned())
        }
        "pause" => Ok(C::Pause {
            reason: reason.trim().to_owned(),
        }),
        other => Err(format!(
            "action inconnue « {other} » : connexion, deconnexion, pause, reprise ou fin-post-appel"
        )),
    }
}

/// `POST /agent/etat`: the agent changes their own state.
pub(crate) async fn agent_state(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<AgentStateForm>,
) -> Response {
    let session = match require_form(&state, &headers, Need::Account, form.csrf.as_deref()).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(change) = parse_state_change(&form.action, &form.reason) else {
        return Redirect::to("/agent?erreur=saisie").into_response();
    };
    match state.backend.agent_state(&session.login, change).await {
        Ok(()) => Redirect::to("/agent").into_response(),
        Err(e) => {
            tracing::info!(login = %session.login, error = %e, "agent state change refused");
            Redirect::to("/agent?erreur=etat").into_response()
        }
    }
}

/// `GET /agent`: the agent's state, queues and the calls waiting in them.
pub(crate) async fn agent_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<AgentQuery>,
) -> Response {
    let session = match require_page(&state, &headers, Need::Account).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let name = &state.backend.settings().server_name;
    let snapshot = match state.backend.snapshot().await {
        Ok(s) => s,
        Err(e) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                page(
                    name,
                    "Mon poste",
                    Some(&session),
                    &format!(
                        "<p role=\"alert\" class=\"erreur\">Le standard ne répond pas : {}</p>",
                        escape(&e)
                    ),
                ),
            )
                .into_response();
        }
    };
    let reasons: String = PAUSE_REASONS
        .iter()
        .map(|r| format!("<option>{r}</option>"))
        .collect();
    let body = format!(
        "{notice}{desk_style}<section id=\"fiche-appel\" aria-live=\"polite\"></section>\
         <p><a href=\"/agent/dossier\" target=\"guichet-fiche\">Nouveau ticket</a> · \
         <a href=\"/agent/rappels\" id=\"lien-rappels\">Rappels</a></p>\
         <section id=\"poste\" aria-live=\"polite\">{}</section>\
         <form method=\"post\" action=\"/agent/etat\" id=\"changer-etat\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <p><button name=\"action\" value=\"connexion\" id=\"etat-connexion\">Me connecter aux files</button> \
         <button name=\"action\" value=\"reprise\" id=\"etat-reprise\">Reprendre</button> \
         <button name=\"action\" value=\"fin-post-appel\" id=\"etat-fin-post-appel\">Terminer le post-appel</button> \
         <button name=\"action\" value=\"deconnexion\" id=\"etat-deconnexion\">Me déconnecter des files</button></p>\
         <p><label for=\"reason\">Motif de pause</label> <select id=\"reason\" name=\"reason\">{reasons}</select> \
         <button name=\"action\" value=\"pause\" id=\"etat-pause\">Me mettre en pause</button></p></form>\
         {softphone}<script src=\"/static/poste.js\"></script><script src=\"/static/fiche.js\"></script>",
        agent_fragment(&snapshot, &session.login),
        softphone = crate::softphone::SECTION,
        // Fixed sentences only: a crafted link cannot put its own text in the page.
        notice = match query.erreur.as_deref() {
            Some("etat") =>
                "<p role=\"alert\" class=\"erreur\">Changement d'état refusé : \
                cette action ne s'applique pas à votre état actuel.</p>",
            Some(_) =>
                "<p role=\"alert\" class=\"erreur\">Changement d'état refusé : \
                choisissez une action et, pour une pause, un motif.</p>",
            None => "",
        },
        csrf = escape(&session.csrf),
        desk_style = crate::desk::DESK_STYLE,
    );
    page(name, "Mon poste", Some(&session), &body).into_response()
}

/// The agent's status, queues and waiting calls, as an HTML fragment (escaped).
pub(crate) fn agent_fragment(snapshot: &guichet_acd::Snapshot, login: &str) -> String {
    let me = snapshot.agents.iter().find(|a| a.agent.0 == login);
    let mut body = String::new();
    match me {
        Some(a) => {
            let since = if a.status == guichet_acd::AgentStatus::LoggedOut {
                String::new()
            } else if let Some(left) = a.wrap_up_left_secs {
                format!(
                    " depuis {}, fin dans <span id=\"post-appel-restant\">{}</span>",
                    duration_fr(a.time_in_state_secs),
                    duration_fr(left)
                )
            } else {
                format!(" depuis {}", duration_fr(a.time_in_state_secs))
            };
            body.push_str(&format!(
                "<p id=\"etat\">État : <strong>{}</strong>{since} — {} appel(s) traité(s) depuis la connexion.</p>",
                escape(&status_fr(&a.status)),
                a.calls_answered
            ));
            body.push_str("<table><caption>Mes files</caption><tr><th>File</th><th>Niveau</th><th>Appels en attente</th><th>Attente la plus longue</th></tr>");
            for (queue, level) in &a.queues {
                let q = snapshot.queues.iter().find(|q| &q.name == queue);
                let waiting = q.map_or(0, |q| q.waiting.len());
                let vip = q.map_or(0, |q| q.waiting.iter().filter(|w| w.vip).count());
                let vip = if vip > 0 {
                    format!(" <span class=\"vip\">{vip} VIP</span>")
                } else {
                    String::new()
                };
                body.push_str(&format!(
                    "<tr><td>{}</td><td>{level}</td><td>{waiting}{vip}</td><td>{}</td></tr>",
                    escape(queue),
                    duration_fr(q.map_or(0, |q| q.longest_wait_secs))
                ));
            }
            body.push_str("</table>");
        }
        None => {
            body.push_str("<p id=\"etat\">Votre compte n'est membre d'aucune file d'appels.</p>")
        }
    }
    body
}

/// `GET /agent/flux`: server-sent events, one `poste` event (the HTML fragment of the
/// agent's status) each time it changes (see [`changes`]).
pub(crate) async fn agent_events(
    State(state): State<AppState>,
    stopping: Option<axum::Extension<Stopping>>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Response> {
    let session = current(&state, &headers)
        .await
        .ok_or_else(|| StatusCode::UNAUTHORIZED.into_response())?;
    let login = session.login;
    Ok(changes(
        state,
        stopping.map(|s| s.0),
        "poste",
        move |state| {
            let login = login.clone();
            async move {
                match state.backend.snapshot().await {
                    Ok(s) => agent_fragment(&s, &login),
                    Err(e) => format!(
                        "<p role=\"alert\" class=\"erreur\">Le standard ne répond pas : {}</p>",
                        escape(&e)
                    ),
                }
            }
        },
    ))
}

/// `GET /static/poste.js`: the agent page's script.
pub(crate) async fn agent_js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("poste.js"),
    )
        .into_response()
}

/// Without a change from the switchboard, a live page is rendered again this often (the
/// store-backed parts: messages, incidents; the time-in-state counters).
const LIVE_TICK: StdDuration = StdDuration::from_millis(300);
/// The wallboard is rendered at most this often, however busy the switchboard is.
const WALLBOARD_MIN_INTERVAL: StdDuration = StdDuration::from_millis(100);

/// Waits for the switchboard's next ACD change or the tick, whichever comes first.
async fn next_change(wake: &mut Option<tokio::sync::watch::Receiver<u64>>) {
    let closed = match wake {
        Some(rx) => tokio::select! {
            changed = rx.changed() => changed.is_err(),
            () = tokio::time::sleep(LIVE_TICK) => false,
        },
        None => {
            tokio::time::sleep(LIVE_TICK).await;
            false
        }
    };
    if closed {
        *wake = None;
    }
}

/// An SSE stream of `event` carrying `render(state)` each time it changes, the first one at
/// once. It is rendered again on each change of the switchboard's ACD picture
/// ([`crate::Backend::live_changes`]) and every 300 ms, at most every 300 ms: the agents'
/// pages (one per agent) cost no more than a 300 ms poll under load.
pub(crate) fn changes<F, Fut>(
    state: AppState,
    stopping: Option<Stopping>,
    event: &'static str,
    render: F,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>>
where
    F: Fn(AppState) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = String> + Send,
{
    live_stream(state, stopping, event, LIVE_TICK, render)
}

/// [`changes`] rendered at most every `min_interval` (the wallboard: 100 ms).
fn live_stream<F, Fut>(
    state: AppState,
    stopping: Option<Stopping>,
    event: &'static str,
    min_interval: StdDuration,
    render: F,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>>
where
    F: Fn(AppState) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = String> + Send,
{
    let wake = state.backend.live_changes();
    let stream = futures::stream::unfold(
        (state, render, None::<String>, None, wake),
        move |(state, render, last, rendered_at, mut wake)| async move {
            let mut rendered_at: Option<tokio::time::Instant> = rendered_at;
            loop {
                if let Some(at) = rendered_at {
                    next_change(&mut wake).await;
                    tokio::time::sleep_until(at + min_interval).await;
                }
                rendered_at = Some(tokio::time::Instant::now());
                let data = render(state.clone()).await;
                if last.as_deref() != Some(data.as_str()) {
                    let out = Event::default().event(event).data(data.clone());
                    return Some((Ok(out), (state, render, Some(data), rendered_at, wake)));
                }
            }
        },
    );
    let stop = async move {
        match stopping {
            Some(s) => s.wait().await,
            None => std::future::pending().await,
        }
    };
    Sse::new(futures::StreamExt::take_until(stream, Box::pin(stop)))
        .keep_alive(KeepAlive::default())
}

/// The messages page's query: a confirmation to show after a redirect, a journal filter.
#[derive(Deserialize)]
pub(crate) struct MessagesQuery {
    #[serde(default)]
    ok: Option<String>,
    #[serde(default)]
    journal: Option<String>,
}

async fn messages_body(
    state: &AppState,
    session: &Session,
    notice: &str,
    filter: Option<&str>,
) -> String {
    let store = state.backend.store();
    let now = state.backend.now();
    let settings = state.backend.settings();
    let mut body = String::from(notice);
    body.push_str(&crate::incidents::ongoing_notice(state).await);
    body.push_str("<h2>Messages actifs</h2><table id=\"messages-actifs\"><tr><th>Ligne</th><th>Type</th><th>Texte</th><th>Depuis</th><th>Auteur</th><th></th></tr>");
    for line in &settings.lines {
        for kind in KINDS {
            let active = match store.active_message(&line.number, kind, now).await {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "active message unreadable");
                    None
                }
            };
            let (text, since, author, actions) = match active {
                Some(m) => (
                    format!("<q>{}</q>", escape(&m.message.text)),
                    local(state, m.created_at),
                    escape(&m.author),
                    format!(
                        "<a href=\"/superviseur/messages/{line}/{slug}/ecoute\">Écouter</a> \
                         <form method=\"post\" action=\"/superviseur/messages/supprimer\" style=\"display:inline\">\
                         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
                         <input type=\"hidden\" name=\"line\" value=\"{line}\">\
                         <input type=\"hidden\" name=\"kind\" value=\"{slug}\">\
                         <button type=\"submit\">Retirer</button></form>",
                        line = escape(&line.number),
                        slug = kind_slug(kind),
                        csrf = escape(&session.csrf),
                    ),
                ),
                None => (
                    "<em>aucun</em>".to_owned(),
                    String::new(),
                    String::new(),
                    String::new(),
                ),
            };
            body.push_str(&format!(
                "<tr data-ligne=\"{}\" data-type=\"{}\"><td>{} ({})</td><td>{}</td><td>{text}</td><td>{since}</td><td>{author}</td><td>{actions}</td></tr>",
                escape(&line.number),
                kind_slug(kind),
                escape(&line.name),
                escape(&line.number),
                kind_label(kind),
            ));
        }
    }
    body.push_str("</table>");
    let options: String = settings
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
    body.push_str(&format!(
        "<h2>Activer ou remplacer un message</h2>\
         <form method=\"post\" action=\"/superviseur/messages\" id=\"form-message\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <p><label for=\"line\">Ligne</label> <select id=\"line\" name=\"line\">{options}</select> \
         <label for=\"kind\">Type</label> <select id=\"kind\" name=\"kind\">\
         <option value=\"crise\">Message de crise</option><option value=\"dissuasion\">Message de dissuasion</option></select></p>\
         <p><label for=\"text\">Texte lu aux appelants (synthèse vocale)</label><br>\
         <textarea id=\"text\" name=\"text\" rows=\"4\" required maxlength=\"2000\"></textarea></p>\
         <p><label for=\"ends_at\">Fin (facultatif, heure locale)</label> \
         <input id=\"ends_at\" name=\"ends_at\" type=\"datetime-local\"></p>\
         <fieldset id=\"avec-incident\"><legend>Incident majeur (facultatif, message de crise)</legend>\
         <p><input type=\"checkbox\" id=\"declarer-incident\" name=\"incident\" value=\"1\"> \
         <label for=\"declarer-incident\">Déclarer aussi un incident majeur</label></p>\
         <p><label for=\"incident-titre\">Titre de l'incident</label> \
         <input id=\"incident-titre\" name=\"incident_title\" maxlength=\"200\" size=\"50\"> \
         <label for=\"incident-services\">Services touchés (facultatif : la ligne)</label> \
         <input id=\"incident-services\" name=\"incident_services\" maxlength=\"500\" size=\"30\"></p></fieldset>\
         <p><button type=\"button\" id=\"ecouter-apercu\">Écouter avant d'enregistrer</button> \
         <button type=\"submit\" id=\"enregistrer\">Enregistrer et diffuser</button> \
         <span id=\"apercu-etat\" role=\"status\"></span></p></form>\
         <script src=\"/static/messages.js\"></script>",
        csrf = escape(&session.csrf),
    ));
    body.push_str(&crate::admin::messages_extra(state, session).await);
    let journal = store
        .journal_between(now - Duration::days(7), now + Duration::minutes(1))
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "journal unreadable");
            Vec::new()
        });
    let filter = filter.map(str::trim).filter(|f| !f.is_empty());
    body.push_str(&format!(
        "<h2>Journal des événements (7 derniers jours)</h2>\
         <p><a href=\"/superviseur/incidents\" id=\"lien-incidents\">Journal des incidents majeurs</a> \
         (début, fin, statut et suivi de chaque incident).</p>\
         <form method=\"get\" action=\"/superviseur/messages\" role=\"search\">\
         <label for=\"filtre-journal\">Filtrer</label> \
         <input id=\"filtre-journal\" name=\"journal\" value=\"{}\" placeholder=\"qui, action, ligne, texte…\"> \
         <button type=\"submit\">Filtrer</button></form>\
         <table id=\"journal\"><tr><th>Quand</th><th>Qui</th><th>Action</th><th>Objet</th><th>Avant</th><th>Après</th></tr>",
        escape(filter.unwrap_or(""))
    ));
    let needle = filter.map(str::to_lowercase);
    let matches = |e: &&guichet_tickets::JournalEntry| {
        needle.as_deref().is_none_or(|n| {
            [
                Some(e.actor.as_str()),
                Some(e.action.as_str()),
                Some(e.subject.as_str()),
                e.old_value.as_deref(),
                e.new_value.as_deref(),
            ]
            .into_iter()
            .flatten()
            .any(|field| field.to_lowercase().contains(n))
        })
    };
    for e in journal.iter().rev().filter(matches).take(100) {
        body.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            local(state, e.at),
            escape(&e.actor),
            escape(&e.action),
            escape(&e.subject),
            escape(e.old_value.as_deref().unwrap_or("")),
            escape(e.new_value.as_deref().unwrap_or("")),
        ));
    }
    body.push_str("</table>");
    body
}

/// `GET /superviseur/messages`.
pub(crate) async fn messages_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<MessagesQuery>,
) -> Response {
    let session = match require_page(&state, &headers, Need::Supervisor).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let notice = match query.ok.as_deref() {
        Some("enregistre") => {
            "<p class=\"ok\" role=\"status\">Message enregistré : il est diffusé dès le prochain appel.</p>"
        }
        Some("retire") => "<p class=\"ok\" role=\"status\">Message retiré.</p>",
        _ => "",
    };
    let body = messages_body(&state, &session, notice, query.journal.as_deref()).await;
    page(
        &state.backend.settings().server_name,
        "Messages de crise et de dissuasion",
        Some(&session),
        &body,
    )
    .into_response()
}

/// The set-message form.
#[derive(Deserialize)]
pub(crate) struct SetForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    line: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    ends_at: String,
    /// Checkbox: declare a major incident with this crisis message.
    #[serde(default)]
    incident: Option<String>,
    #[serde(default)]
    incident_title: String,
    #[serde(default)]
    incident_services: String,
}

async fn messages_error(state: &AppState, session: &Session, error: &str) -> Response {
    let notice = format!("<p role=\"alert\" class=\"erreur\">{}</p>", escape(error));
    let body = messages_body(state, session, &notice, None).await;
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        page(
            &state.backend.settings().server_name,
            "Messages de crise et de dissuasion",
            Some(session),
            &body,
        ),
    )
        .into_response()
}

/// Parses a `datetime-local` value (local time of the server's zone).
pub(crate) fn parse_local(state: &AppState, s: &str) -> Option<DateTime<Utc>> {
    let naive = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S"))
        .ok()?;
    naive
        .and_local_timezone(state.backend.settings().zone)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// `POST /superviseur/messages`: synthesise and activate.
pub(crate) async fn messages_set(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SetForm>,
) -> Response {
    let session = match require_form(&state, &headers, Need::Supervisor, form.csrf.as_deref()).await
    {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(kind) = parse_kind_slug(&form.kind) else {
        return messages_error(&state, &session, "Type de message inconnu.").await;
    };
    let text = form.text.trim();
    if text.is_empty() {
        return messages_error(&state, &session, "Saisissez le texte du message.").await;
    }
    let ends_at = if form.ends_at.trim().is_empty() {
        None
    } else {
        match parse_local(&state, form.ends_at.trim()) {
            Some(t) if t > state.backend.now() => Some(t),
            Some(_) => {
                return messages_error(&state, &session, "La fin doit être dans le futur.").await;
            }
            None => {
                return messages_error(&state, &session, "Date de fin illisible.").await;
            }
        }
    };
    let with_incident = form.incident.is_some();
    if with_incident && kind != MessageKind::Crisis {
        return messages_error(
            &state,
            &session,
            "Un incident majeur se déclare avec un message de crise.",
        )
        .await;
    }
    if with_incident && form.incident_title.trim().is_empty() {
        return messages_error(&state, &session, "Saisissez le titre de l'incident majeur.").await;
    }
    match state
        .backend
        .set_message(session.actor(), &form.line, kind, text, ends_at)
        .await
    {
        Ok(()) if with_incident => declare_with_message(&state, &session, &form, text).await,
        Ok(()) => Redirect::to("/superviseur/messages?ok=enregistre").into_response(),
        Err(e) => {
            messages_error(
                &state,
                &session,
                &format!("Le message n'a pas été diffusé : {e}"),
            )
            .await
        }
    }
}

/// Declares the major incident a crisis message announces (the messages form's checkbox),
/// then shows it; the message is already live.
async fn declare_with_message(
    state: &AppState,
    session: &Session,
    form: &SetForm,
    text: &str,
) -> Response {
    let services = match form.incident_services.trim() {
        "" => state
            .backend
            .settings()
            .lines
            .iter()
            .find(|l| l.number == form.line)
            .map_or_else(
                || format!("Ligne {}", form.line),
                |l| format!("Ligne {} ({})", l.name, l.number),
            ),
        s => s.to_owned(),
    };
    match crate::incidents::declare(
        state,
        session,
        &form.incident_title,
        &services,
        text,
        &form.line,
    )
    .await
    {
        Ok(i) => {
            Redirect::to(&format!("/superviseur/incidents/{}?ok=declare", i.id)).into_response()
        }
        Err(e) => {
            messages_error(
                state,
                session,
                &format!("Le message est diffusé, mais l'incident n'a pas été déclaré : {e}"),
            )
            .await
        }
    }
}

/// The remove-message form.
#[derive(Deserialize)]
pub(crate) struct RemoveForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    line: String,
    #[serde(default)]
    kind: String,
}

/// `POST /superviseur/messages/supprimer`.
pub(crate) async fn messages_remove(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<RemoveForm>,
) -> Response {
    let session = match require_form(&state, &headers, Need::Supervisor, form.csrf.as_deref()).await
    {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(kind) = parse_kind_slug(&form.kind) else {
        return messages_error(&state, &session, "Type de message inconnu.").await;
    };
    match state
        .backend
        .remove_message(session.actor(), &form.line, kind)
        .await
    {
        Ok(()) => Redirect::to("/superviseur/messages?ok=retire").into_response(),
        Err(e) => {
            messages_error(
                &state,
                &session,
                &format!("Le message n'a pas été retiré : {e}"),
            )
            .await
        }
    }
}

/// The WAV of a line's active message, or a French error status.
pub(crate) async fn active_audio(
    state: &AppState,
    line: &str,
    kind: MessageKind,
) -> Result<Vec<u8>, (StatusCode, String)> {
    let message = state
        .backend
        .store()
        .active_message(line, kind, state.backend.now())
        .await
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .ok_or((StatusCode::NOT_FOUND, "aucun message actif".to_owned()))?;
    let path = message.message.audio_path.ok_or((
        StatusCode::NOT_FOUND,
        "ce message n'a pas de fichier audio".to_owned(),
    ))?;
    tokio::fs::read(&path).await.map_err(|_| {
        (
            StatusCode::NOT_FOUND,
            "fichier audio introuvable".to_owned(),
        )
    })
}

/// `GET /superviseur/messages/{line}/{kind}/ecoute`: the active message's WAV.
pub(crate) async fn message_audio(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((line, kind)): Path<(String, String)>,
) -> Response {
    if let Err(r) = require_page(&state, &headers, Need::Supervisor).await {
        return r;
    }
    let Some(kind) = parse_kind_slug(&kind) else {
        return (StatusCode::NOT_FOUND, "type de message inconnu").into_response();
    };
    match active_audio(&state, &line, kind).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, "audio/wav")], bytes).into_response(),
        Err((code, text)) => (code, text).into_response(),
    }
}

/// What the wallboard shows, pushed as JSON.
#[derive(Serialize, PartialEq)]
pub(crate) struct WallboardView {
    queues: Vec<guichet_acd::QueueSnapshot>,
    agents: Vec<WallAgent>,
    messages: Vec<WallMessage>,
    /// Major incidents not ended yet, newest first.
    incidents: Vec<WallIncident>,
    /// Set when the switchboard does not answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize, PartialEq)]
struct WallAgent {
    login: String,
    name: String,
    state: String,
    time_in_state_secs: i64,
    calls_answered: u32,
}

#[derive(Serialize, PartialEq)]
struct WallIncident {
    id: i64,
    title: String,
    services: String,
    status: &'static str,
    elapsed: String,
}

#[derive(Serialize, PartialEq)]
struct WallMessage {
    line: String,
    line_name: String,
    kind: &'static str,
    text: String,
}

pub(crate) async fn wallboard_view(state: &AppState) -> WallboardView {
    let store = state.backend.store();
    let now = state.backend.now();
    let names: std::collections::HashMap<String, String> = store
        .agents()
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|a| (a.login, a.display_name))
        .collect();
    let mut messages = Vec::new();
    for line in &state.backend.settings().lines {
        for kind in KINDS {
            if let Ok(Some(m)) = store.active_message(&line.number, kind, now).await {
                messages.push(WallMessage {
                    line: line.number.clone(),
                    line_name: line.name.clone(),
                    kind: kind_slug(kind),
                    text: m.message.text,
                });
            }
        }
    }
    let incidents = store
        .ongoing_incidents()
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|i| WallIncident {
            elapsed: crate::incidents::duration_fr(i.duration(now).num_seconds()),
            id: i.id,
            title: i.declared.title,
            services: i.declared.services,
            status: i.status.label_fr(),
        })
        .collect();
    match state.backend.snapshot().await {
        Ok(s) => WallboardView {
            queues: s.queues,
            agents: s
                .agents
                .into_iter()
                .map(|a| WallAgent {
                    name: names
                        .get(&a.agent.0)
                        .cloned()
                        .unwrap_or_else(|| a.agent.0.clone()),
                    login: a.agent.0,
                    state: status_fr(&a.status),
                    time_in_state_secs: a.time_in_state_secs,
                    calls_answered: a.calls_answered,
                })
                .collect(),
            messages,
            incidents,
            error: None,
        },
        Err(e) => WallboardView {
            queues: Vec::new(),
            agents: Vec::new(),
            messages,
            incidents,
            error: Some(format!("Le standard ne répond pas : {e}")),
        },
    }
}

/// `GET /superviseur/mur`.
pub(crate) async fn wallboard_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let session = match require_page(&state, &headers, Need::Supervisor).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let body = format!(
        "<div id=\"jeton\" data-csrf=\"{}\" hidden></div>{WALLBOARD_BODY}{}",
        escape(&session.csrf),
        crate::ecoute::SECTION
    );
    page(
        &state.backend.settings().server_name,
        "Mur d'affichage",
        Some(&session),
        &body,
    )
    .into_response()
}

const WALLBOARD_BODY: &str = "<p><button type=\"button\" id=\"plein-ecran\">Plein écran</button> \
        <span id=\"connexion-flux\" role=\"status\">Connexion au flux…</span> \
        <span>Dernière mise à jour : <time id=\"maj\">—</time></span></p>\
        <details id=\"seuils\"><summary>Seuils d'alerte (enregistrés dans ce navigateur)</summary>\
        <p><label for=\"seuil-attente\">Attente la plus longue au-delà de (s)</label> \
        <input id=\"seuil-attente\" type=\"number\" min=\"0\" value=\"120\"> \
        <label for=\"seuil-file\">Appels en attente au-delà de</label> \
        <input id=\"seuil-file\" type=\"number\" min=\"0\" value=\"5\"> \
        <label for=\"seuil-ns\">Niveau de service en dessous de (%)</label> \
        <input id=\"seuil-ns\" type=\"number\" min=\"0\" max=\"100\" value=\"80\"></p></details>\
        <section id=\"incidents-en-cours\" aria-live=\"polite\"></section>\
        <section id=\"messages\" aria-live=\"polite\"></section>\
        <h2>Files d'attente</h2><table id=\"files\"><thead><tr><th>File</th><th>En attente</th>\
        <th>Attente la plus longue</th><th>Agents disponibles / connectés</th><th>Présentés</th><th>Répondus</th>\
        <th>Abandonnés</th><th>Taux de décroché</th><th>Taux d'abandon</th><th>Niveau de service</th></tr></thead><tbody></tbody></table>\
        <h2>Agents</h2><p id=\"action-agent\" role=\"status\"></p><table id=\"agents\"><thead><tr><th>Agent</th><th>État</th><th>Depuis</th><th>Appels traités</th><th>Actions</th></tr></thead><tbody></tbody></table>\
        <p><small>Indicateurs depuis minuit (définitions : docs/statistics.md).</small> \
        <a href=\"/superviseur/incidents\" id=\"lien-incidents\">Journal des incidents majeurs</a></p>\
        <script src=\"/static/mur.js\"></script>";

/// `GET /static/mur.js`: the wallboard's script (no build step).
pub(crate) async fn wallboard_js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("mur.js"),
    )
        .into_response()
}

/// `GET /superviseur/mur/flux`: server-sent events, one `mur` event each time the view
/// changes: rendered on each change of the ACD picture (at most every 100 ms) and every
/// 300 ms for the rest (messages, incidents, times in state).
pub(crate) async fn wallboard_events(
    State(state): State<AppState>,
    stopping: Option<axum::Extension<Stopping>>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Response> {
    let session = current(&state, &headers)
        .await
        .ok_or_else(|| StatusCode::UNAUTHORIZED.into_response())?;
    if !session.is_supervisor() {
        return Err(StatusCode::FORBIDDEN.into_response());
    }
    Ok(live_stream(
        state,
        stopping.map(|s| s.0),
        "mur",
        WALLBOARD_MIN_INTERVAL,
        |state| async move {
            serde_json::to_string(&wallboard_view(&state).await).unwrap_or_else(|_| "{}".to_owned())
        },
    ))
}

/// `GET /static/messages.js`: the messages page's preview script.
pub(crate) async fn messages_js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("messages.js"),
    )
        .into_response()
}

/// The preview form.
#[derive(Deserialize)]
pub(crate) struct PreviewForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    text: String,
}

/// `POST /superviseur/messages/apercu`: the WAV of typed text, nothing saved.
pub(crate) async fn message_preview(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<PreviewForm>,
) -> Response {
    if let Err(r) = require_form(&state, &headers, Need::Supervisor, form.csrf.as_deref()).await {
        return r;
    }
    let text = form.text.trim();
    if text.is_empty() {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Saisissez le texte du message.",
        )
            .into_response();
    }
    match state.backend.preview_message(text).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, "audio/wav")], bytes).into_response(),
        Err(e) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("La synthèse vocale a échoué : {e}"),
        )
            .into_response(),
    }
}
