//! Settings the configuration file defines and administrators change in the browser: the SLA
//! grids (`/admin/sla`) and the calendars' weekly opening hours (a section of
//! `/admin/calendriers`), with their JSON twins under `/api/v1/admin`. The pages check what
//! was typed and say in French which field is wrong; the backend stores the change
//! (journaled, before and after) and applies it without a restart (docs/web.md).

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post, put};
use chrono::{DateTime, TimeDelta, Utc};
use guichet_calendar::WeeklyHours;
use guichet_tickets::priority::Priority;
use guichet_tickets::sla::{Nature, SlaPolicySpec, TargetSpec, parse_duration};
use serde::Serialize;
use serde_json::json;

use crate::AppState;
use crate::admin::{
    admin_form, api_json, api_session, first, json_error, local, notice_html, page_with_notice,
};
use crate::auth::{Need, Session, require_page};
use crate::html::escape;

/// A setting in force, and who saved it when it is not the configuration's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InForce<T> {
    /// Policy or calendar name.
    pub name: String,
    /// The value in force.
    pub value: T,
    /// Who saved it from the administration (none: the configuration's).
    pub saved_by: Option<String>,
    /// When.
    pub saved_at: Option<DateTime<Utc>>,
    /// The lines that use it (`8585 (Hotline informatique du Louvre)`).
    pub lines: Vec<String>,
}

/// « Lignes : … » for a setting, or that no line uses it.
fn lines_sentence(lines: &[String]) -> String {
    if lines.is_empty() {
        "Aucune ligne ne l'utilise.".to_owned()
    } else {
        format!("Lignes : {}.", escape(&lines.join(", ")))
    }
}

/// The days of [`WeeklyHours`], with their French names and form field names.
const DAYS: [(&str, &str); 7] = [
    ("monday", "Lundi"),
    ("tuesday", "Mardi"),
    ("wednesday", "Mercredi"),
    ("thursday", "Jeudi"),
    ("friday", "Vendredi"),
    ("saturday", "Samedi"),
    ("sunday", "Dimanche"),
];

fn day_ranges<'a>(hours: &'a WeeklyHours, day: &str) -> &'a Vec<String> {
    match day {
        "monday" => &hours.monday,
        "tuesday" => &hours.tuesday,
        "wednesday" => &hours.wednesday,
        "thursday" => &hours.thursday,
        "friday" => &hours.friday,
        "saturday" => &hours.saturday,
        _ => &hours.sunday,
    }
}

fn day_ranges_mut<'a>(hours: &'a mut WeeklyHours, day: &str) -> &'a mut Vec<String> {
    match day {
        "monday" => &mut hours.monday,
        "tuesday" => &mut hours.tuesday,
        "wednesday" => &mut hours.wednesday,
        "thursday" => &mut hours.thursday,
        "friday" => &mut hours.friday,
        "saturday" => &mut hours.saturday,
        _ => &mut hours.sunday,
    }
}

/// Minutes since midnight of `HH:MM` (`24:00` allowed).
fn minutes(text: &str) -> Option<u32> {
    let (h, m) = text.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && (h < 24 || (h == 24 && m == 0)) && h.to_string().len() <= 2).then_some(h * 60 + m)
}

/// Checks every day's ranges (`08:00-12:00`, end after start, no overlap), in French naming
/// the day.
pub(crate) fn check_week(hours: &WeeklyHours) -> Result<(), String> {
    for (day, french) in DAYS {
        let mut spans = Vec::new();
        for range in day_ranges(hours, day) {
            let span = range
                .split_once('-')
                .and_then(|(a, b)| Some((minutes(a)?, minutes(b)?)));
            let Some((start, end)) = span else {
                return Err(format!(
                    "{french} : plage horaire illisible « {range} » (attendu 08:00-12:00)"
                ));
            };
            if end <= start {
                return Err(format!(
                    "{french} : la plage « {range} » doit finir après son début"
                ));
            }
            spans.push((start, end, range));
        }
        spans.sort();
        if let Some(pair) = spans.windows(2).find(|w| w[1].0 < w[0].1) {
            return Err(format!(
                "{french} : les plages « {} » et « {} » se chevauchent",
                pair[0].2, pair[1].2
            ));
        }
    }
    Ok(())
}

fn week_from_form(fields: &HashMap<String, Vec<String>>) -> WeeklyHours {
    let mut hours = WeeklyHours::default();
    for (day, _) in DAYS {
        *day_ranges_mut(&mut hours, day) = first(fields, day)
            .split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect();
    }
    hours
}

/// The weekly-hours section of `/admin/calendriers`: one form per calendar.
pub(crate) async fn weekly_hours_section(state: &AppState, session: &Session) -> String {
    let csrf = escape(&session.csrf);
    let mut out = String::from(
        "<h2>Horaires d'ouverture de chaque semaine</h2><p>Plages séparées par des virgules \
         (<code>09:00-12:00, 14:00-18:00</code>) ; un jour laissé vide est fermé. Un changement \
         s'applique tout de suite aux lignes et aux délais SLA des tickets, et remplace les \
         horaires du fichier de configuration.</p>",
    );
    let calendars = match state.backend.calendar_hours().await {
        Ok(c) => c,
        Err(e) => return format!("{out}<p role=\"alert\" class=\"erreur\">{}</p>", escape(&e)),
    };
    for cal in calendars {
        let name = escape(&cal.name);
        let origin = match (&cal.saved_by, cal.saved_at) {
            (Some(by), Some(at)) => {
                format!("modifiés par {} le {}", escape(by), local(state, at))
            }
            _ => "ceux de la configuration".to_owned(),
        };
        out.push_str(&format!(
            "<form method=\"post\" action=\"/admin/calendriers/{name}/horaires\" \
             class=\"horaires\" data-calendar=\"{name}\"><input type=\"hidden\" name=\"csrf\" \
             value=\"{csrf}\"><h3>Calendrier {name}</h3><p>Horaires en vigueur : {origin}. {}</p><p>",
            lines_sentence(&cal.lines)
        ));
        for (day, french) in DAYS {
            out.push_str(&format!(
                "<label for=\"h-{name}-{day}\">{french}</label> <input id=\"h-{name}-{day}\" \
                 name=\"{day}\" value=\"{}\" placeholder=\"fermé\" size=\"24\"><br>",
                escape(&day_ranges(&cal.value, day).join(", "))
            ));
        }
        out.push_str(&format!(
            "</p><p><button type=\"submit\">Enregistrer les horaires de {name}</button></p></form>"
        ));
    }
    out
}

/// `POST /admin/calendriers/{name}/horaires`.
pub(crate) async fn hours_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let (session, fields) = match admin_form(&state, &headers, &body).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let result = save_hours(&state, &session, &name, week_from_form(&fields)).await;
    crate::admin::calendars_result(&state, &session, result).await
}

async fn save_hours(
    state: &AppState,
    session: &Session,
    name: &str,
    hours: WeeklyHours,
) -> Result<(), String> {
    check_week(&hours)?;
    state
        .backend
        .calendar_hours_update(name, hours, &session.login)
        .await
}

async fn api_hours(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(r) = api_session(&state, &headers, false, false).await {
        return r;
    }
    match state.backend.calendar_hours().await {
        Ok(c) => Json(c).into_response(),
        Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn api_set_hours(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let (session, hours): (Session, WeeklyHours) = match api_json(
        &state,
        &headers,
        false,
        &body,
        " (attendu {\"monday\": [\"09:00-18:00\"], …})",
    )
    .await
    {
        Ok(found) => found,
        Err(r) => return r,
    };
    match save_hours(&state, &session, &name, hours).await {
        Ok(()) => Json(json!({ "calendar": name })).into_response(),
        Err(e) => json_error(StatusCode::UNPROCESSABLE_ENTITY, e),
    }
}

// ---- SLA grids ----------------------------------------------------------------------------

fn priority_label(p: Option<Priority>) -> &'static str {
    match p {
        None => "toutes",
        Some(Priority::P0) => "P0",
        Some(Priority::P1) => "P1",
        Some(Priority::P2) => "P2",
        Some(Priority::P3) => "P3",
    }
}

fn nature_label(n: Option<Nature>) -> &'static str {
    match n {
        None => "toutes",
        Some(Nature::Incident) => "incident",
        Some(Nature::Request) => "demande",
        Some(Nature::Assistance) => "assistance",
    }
}

const NATURES: [Nature; 3] = [Nature::Incident, Nature::Request, Nature::Assistance];

fn nature_code(n: Nature) -> &'static str {
    match n {
        Nature::Incident => "incident",
        Nature::Request => "request",
        Nature::Assistance => "assistance",
    }
}

/// Checks a grid's at-risk threshold, calendar and durations, in French naming the field
/// (the backend checks the rest when it builds the policy).
pub(crate) fn check_grid(spec: &SlaPolicySpec, calendars: &[String]) -> Result<(), String> {
    if !calendars.contains(&spec.calendar) {
        return Err(format!(
            "Calendrier : « {} » n'existe pas (calendriers : {})",
            spec.calendar,
            calendars.join(", ")
        ));
    }
    if !(spec.at_risk > 0.0 && spec.at_risk < 1.0) {
        return Err("Seuil « menacé » : indiquez un pourcentage entre 1 et 99 du délai".to_owned());
    }
    let day: TimeDelta = parse_duration(&spec.business_day, None).map_err(|_| {
        format!(
            "Journée ouvrée : durée « {} » illisible (écrivez par exemple 9h ou 10h30min)",
            spec.business_day
        )
    })?;
    if spec.targets.is_empty() {
        return Err("La grille doit garder au moins une ligne d'objectifs".to_owned());
    }
    for (i, t) in spec.targets.iter().enumerate() {
        let fields = [
            ("Prise en charge", &t.take_charge),
            ("Résolution", &t.resolve),
            ("Escalade", &t.escalate_within),
            ("Relèvement", &t.bump_after),
        ];
        for (what, value) in fields {
            if let Some(text) = value
                && parse_duration(text, Some(day)).is_err()
            {
                return Err(format!(
                    "Ligne {}, « {what} » : durée « {text} » illisible (écrivez par exemple \
                     25min, 2h, 1h30min ou 3d ; 3d = trois journées ouvrées)",
                    i + 1
                ));
            }
        }
        if t.take_charge.is_none() && t.resolve.is_none() {
            return Err(format!(
                "Ligne {} : indiquez un délai de prise en charge ou de résolution",
                i + 1
            ));
        }
    }
    Ok(())
}

/// The grid typed in the form, on top of the grid in force (fields the form does not show,
/// such as a row's escalation or bump, are kept row by row).
fn grid_from_form(
    current: &SlaPolicySpec,
    fields: &HashMap<String, Vec<String>>,
) -> Result<SlaPolicySpec, String> {
    let mut spec = current.clone();
    spec.calendar = first(fields, "calendar");
    let at_risk = first(fields, "at_risk");
    spec.at_risk = at_risk
        .trim()
        .replace(',', ".")
        .parse::<f64>()
        .map(|p| p / 100.0)
        .map_err(|_| {
            format!("Seuil « menacé » : « {at_risk} » n'est pas un pourcentage (par exemple 75)")
        })?;
    let mut targets = Vec::new();
    for i in 0..=current.targets.len() {
        let text = |name: &str| {
            let v = first(fields, &format!("{name}_{i}"));
            let v = v.trim();
            (!v.is_empty()).then(|| v.to_owned())
        };
        let (take_charge, resolve) = (text("take_charge"), text("resolve"));
        if take_charge.is_none() && resolve.is_none() {
            // An emptied row is removed; the blank row left blank adds nothing.
            continue;
        }
        let mut row: TargetSpec = current.targets.get(i).cloned().unwrap_or_default();
        row.priority = match text("priority").as_deref() {
            None => None,
            Some(code) => Some(
                Priority::ALL
                    .into_iter()
                    .find(|p| p.code().eq_ignore_ascii_case(code))
                    .ok_or_else(|| {
                        format!("Ligne {}, « Priorité » : « {code} » inconnue", i + 1)
                    })?,
            ),
        };
        row.nature = match text("nature").as_deref() {
            None => None,
            Some(code) => Some(
                NATURES
                    .into_iter()
                    .find(|n| nature_code(*n) == code)
                    .ok_or_else(|| format!("Ligne {}, « Nature » : « {code} » inconnue", i + 1))?,
            ),
        };
        row.take_charge = take_charge;
        row.resolve = resolve;
        targets.push(row);
    }
    spec.targets = targets;
    Ok(spec)
}

fn options<T: Copy + PartialEq>(
    all: &[T],
    selected: Option<T>,
    code: impl Fn(T) -> &'static str,
    label: impl Fn(Option<T>) -> &'static str,
) -> String {
    let mut out = format!(
        "<option value=\"\"{}>{}</option>",
        if selected.is_none() { " selected" } else { "" },
        label(None)
    );
    for v in all {
        out.push_str(&format!(
            "<option value=\"{}\"{}>{}</option>",
            code(*v),
            if selected == Some(*v) {
                " selected"
            } else {
                ""
            },
            label(Some(*v))
        ));
    }
    out
}

fn grid_form(csrf: &str, policy: &InForce<SlaPolicySpec>, calendars: &[String]) -> String {
    let name = escape(&policy.name);
    let spec = &policy.value;
    let calendar_options: String = calendars
        .iter()
        .map(|c| {
            format!(
                "<option value=\"{c}\"{}>{c}</option>",
                if *c == spec.calendar { " selected" } else { "" },
                c = escape(c)
            )
        })
        .collect();
    let mut out = format!(
        "<form method=\"post\" action=\"/admin/sla/{name}\" class=\"grille-sla\" \
         data-policy=\"{name}\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <p><label for=\"cal-{name}\">Calendrier des heures ouvrées</label> \
         <select id=\"cal-{name}\" name=\"calendar\">{calendar_options}</select> \
         <label for=\"risk-{name}\">Seuil « menacé » (% du délai)</label> \
         <input id=\"risk-{name}\" name=\"at_risk\" inputmode=\"decimal\" size=\"4\" value=\"{}\"></p>\
         <table><caption>Objectifs de la politique {name} (durées ouvrées : 25min, 2h, 3d ; \
         une ligne vidée est retirée, la dernière ligne en ajoute une)</caption>\
         <tr><th scope=\"col\">Priorité</th><th scope=\"col\">Nature</th>\
         <th scope=\"col\">Prise en charge</th><th scope=\"col\">Résolution</th></tr>",
        (spec.at_risk * 100.0).round()
    );
    let blank = TargetSpec::default();
    for (i, t) in spec.targets.iter().chain([&blank]).enumerate() {
        let row = i + 1;
        out.push_str(&format!(
            "<tr><td><select name=\"priority_{i}\" aria-label=\"Priorité, ligne {row}\">{}</select></td>\
             <td><select name=\"nature_{i}\" aria-label=\"Nature, ligne {row}\">{}</select></td>\
             <td><input name=\"take_charge_{i}\" size=\"8\" aria-label=\"Prise en charge, ligne {row}\" value=\"{}\"></td>\
             <td><input name=\"resolve_{i}\" size=\"8\" aria-label=\"Résolution, ligne {row}\" value=\"{}\"></td></tr>",
            options(&Priority::ALL, t.priority, Priority::code, priority_label),
            options(&NATURES, t.nature, nature_code, nature_label),
            escape(t.take_charge.as_deref().unwrap_or("")),
            escape(t.resolve.as_deref().unwrap_or("")),
        ));
    }
    out.push_str(&format!(
        "</table><p><button type=\"submit\">Enregistrer la politique {name}</button></p></form>"
    ));
    out
}

async fn calendar_names(state: &AppState) -> Vec<String> {
    state
        .backend
        .calendar_hours()
        .await
        .map(|c| c.into_iter().map(|c| c.name).collect())
        .unwrap_or_default()
}

async fn sla_body(state: &AppState, session: &Session, notice: &str) -> String {
    let csrf = escape(&session.csrf);
    let mut body = format!(
        "{notice}<p>Chaque politique fixe, par priorité et nature de ticket, les délais de prise \
         en charge et de résolution, comptés en heures ouvrées de son calendrier, et le seuil \
         à partir duquel un ticket est signalé « menacé ». Une politique enregistrée ici \
         remplace celle du fichier de configuration et s'applique tout de suite aux tickets \
         créés ensuite ; un ticket déjà ouvert garde la grille sous laquelle son délai a \
         démarré.</p>"
    );
    let policies = match state.backend.sla_policies_in_force().await {
        Ok(p) => p,
        Err(e) => {
            body.push_str(&format!(
                "<p role=\"alert\" class=\"erreur\">{}</p>",
                escape(&e)
            ));
            return body;
        }
    };
    if policies.is_empty() {
        body.push_str("<p>Aucune politique SLA configurée.</p>");
    }
    let calendars = calendar_names(state).await;
    for policy in &policies {
        let origin = match (&policy.saved_by, policy.saved_at) {
            (Some(by), Some(at)) => format!("modifiée par {} le {}", escape(by), local(state, at)),
            _ => "celle du fichier de configuration".to_owned(),
        };
        body.push_str(&format!(
            "<h2>{}</h2><p>Version en vigueur : {origin}. {}</p>{}",
            escape(&policy.name),
            lines_sentence(&policy.lines),
            grid_form(&csrf, policy, &calendars)
        ));
    }
    body
}

/// `GET /admin/sla`: the SLA grids in force, each editable.
pub(crate) async fn sla_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<crate::admin::NoticeQuery>,
) -> Response {
    let session = match require_page(&state, &headers, Need::Admin).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let notice = notice_html(
        q.ok.as_deref()
            .map(|_| "Politique enregistrée : elle s'applique aux nouveaux tickets."),
        None,
    );
    let body = sla_body(&state, &session, &notice).await;
    page_with_notice(&state, &session, "Politiques SLA", StatusCode::OK, body)
}

async fn save_grid(
    state: &AppState,
    session: &Session,
    name: &str,
    spec: SlaPolicySpec,
) -> Result<(), String> {
    check_grid(&spec, &calendar_names(state).await)?;
    state
        .backend
        .sla_policy_update(name, spec, &session.login)
        .await
}

/// `POST /admin/sla/{name}`.
pub(crate) async fn sla_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let (session, fields) = match admin_form(&state, &headers, &body).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let current = state
        .backend
        .sla_policies_in_force()
        .await
        .ok()
        .and_then(|all| all.into_iter().find(|p| p.name == name));
    let result = match current {
        None => Err(format!("politique SLA inconnue : « {name} »")),
        Some(current) => match grid_from_form(&current.value, &fields) {
            Ok(spec) => save_grid(&state, &session, &name, spec).await,
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => Redirect::to("/admin/sla?ok=1").into_response(),
        Err(e) => {
            let notice = notice_html(
                None,
                Some(&format!("Politique {name} non enregistrée : {e}")),
            );
            let body = sla_body(&state, &session, &notice).await;
            page_with_notice(
                &state,
                &session,
                "Politiques SLA",
                StatusCode::UNPROCESSABLE_ENTITY,
                body,
            )
        }
    }
}

/// `GET /api/v1/admin/sla-policies`: each grid in force, with the configuration's TOML.
async fn api_sla(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(r) = api_session(&state, &headers, false, false).await {
        return r;
    }
    let configured: HashMap<String, String> =
        state.backend.sla_policies_toml().into_iter().collect();
    match state.backend.sla_policies_in_force().await {
        Ok(policies) => Json(
            policies
                .into_iter()
                .map(|p| {
                    json!({
                        "configuration": configured.get(&p.name),
                        "name": p.name,
                        "policy": p.value,
                        "saved_by": p.saved_by,
                        "saved_at": p.saved_at,
                        "lines": p.lines,
                    })
                })
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// `PUT /api/v1/admin/sla-policies/{name}`: a new version of the grid (JSON as in the
/// configuration's `[sla_policies.NAME]`).
async fn api_set_sla(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let (session, spec): (Session, SlaPolicySpec) = match api_json(
        &state,
        &headers,
        false,
        &body,
        " (une politique comme [sla_policies.NOM])",
    )
    .await
    {
        Ok(found) => found,
        Err(r) => return r,
    };
    let known = state
        .backend
        .sla_policies_in_force()
        .await
        .is_ok_and(|all| all.iter().any(|p| p.name == name));
    if !known {
        return json_error(
            StatusCode::NOT_FOUND,
            format!("politique SLA inconnue : « {name} »"),
        );
    }
    match save_grid(&state, &session, &name, spec).await {
        Ok(()) => Json(json!({ "policy": name })).into_response(),
        Err(e) => json_error(StatusCode::UNPROCESSABLE_ENTITY, e),
    }
}

/// The pages' routes.
pub(crate) fn page_routes() -> Router<AppState> {
    Router::new()
        .route("/admin/sla", get(sla_page))
        .route("/admin/sla/{name}", post(sla_form))
        .route("/admin/calendriers/{name}/horaires", post(hours_form))
}

/// The API's routes (under `/api/v1`).
pub(crate) fn api_routes() -> Router<AppState> {
    Router::new()
        .route("/admin/sla-policies", get(api_sla))
        .route("/admin/sla-policies/{name}", put(api_set_sla))
        .route("/admin/calendars/hours", get(api_hours))
        .route("/admin/calendars/{name}/hours", put(api_set_hours))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekly_hours_are_checked_day_by_day_in_french() {
        let mut week = WeeklyHours {
            monday: vec!["09:00-12:00".to_owned(), "14:00-18:00".to_owned()],
            ..WeeklyHours::default()
        };
        assert_eq!(check_week(&week), Ok(()));
        week.tuesday = vec!["9h-18h".to_owned()];
        assert_eq!(
            check_week(&week),
            Err("Mardi : plage horaire illisible « 9h-18h » (attendu 08:00-12:00)".to_owned())
        );
        week.tuesday = vec!["18:00-09:00".to_owned()];
        assert!(check_week(&week).is_err_and(|e| e.contains("doit finir après")));
        week.tuesday = vec!["09:00-13:00".to_owned(), "12:00-18:00".to_owned()];
        assert!(
            check_week(&week).is_err_and(|e| e.starts_with("Mardi") && e.contains("chevauchent"))
        );
        week.tuesday = vec!["08:00-24:00".to_owned()];
        assert_eq!(check_week(&week), Ok(()));
    }

    fn grid() -> SlaPolicySpec {
        SlaPolicySpec::louvre("louvre")
    }

    #[test]
    fn grids_name_the_wrong_field_in_french() {
        let calendars = vec!["louvre".to_owned(), "culture".to_owned()];
        assert_eq!(check_grid(&grid(), &calendars), Ok(()));
        let mut g = grid();
        g.calendar = "lune".to_owned();
        assert!(check_grid(&g, &calendars).is_err_and(|e| e.starts_with("Calendrier : « lune »")));
        let mut g = grid();
        g.at_risk = 1.5;
        assert!(check_grid(&g, &calendars).is_err_and(|e| e.starts_with("Seuil « menacé »")));
        let mut g = grid();
        g.targets[1].resolve = Some("4 heures".to_owned());
        assert!(
            check_grid(&g, &calendars)
                .is_err_and(|e| e.starts_with("Ligne 2, « Résolution » : durée « 4 heures »")),
        );
    }

    #[test]
    fn the_form_edits_rows_removes_emptied_ones_and_adds_the_blank_one() {
        let current = grid();
        let n = current.targets.len();
        let mut form: Vec<(String, String)> = Vec::new();
        let mut set = |k: String, v: &str| form.push((k, v.to_owned()));
        set("calendar".to_owned(), "culture");
        set("at_risk".to_owned(), "80");
        for (i, t) in current.targets.iter().enumerate() {
            set(format!("priority_{i}"), t.priority.map_or("", |p| p.code()));
            set(format!("resolve_{i}"), t.resolve.as_deref().unwrap_or(""));
            set(
                format!("take_charge_{i}"),
                t.take_charge.as_deref().unwrap_or(""),
            );
        }
        set("resolve_0".to_owned(), "");
        set("take_charge_0".to_owned(), "");
        set(format!("priority_{n}"), "P1");
        set(format!("nature_{n}"), "request");
        set(format!("resolve_{n}"), "1d");
        // Later values win, as a browser sends one value per field.
        let mut fields: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in form {
            fields.insert(k, vec![v]);
        }
        let spec = grid_from_form(&current, &fields).expect("grid");
        assert_eq!(spec.calendar, "culture");
        assert!((spec.at_risk - 0.8).abs() < 1e-9);
        assert_eq!(spec.targets.len(), n, "one removed, one added");
        assert_eq!(spec.targets[..n - 1], current.targets[1..]);
        let added = &spec.targets[n - 1];
        assert_eq!(
            (added.priority, added.nature, added.resolve.as_deref()),
            (Some(Priority::P1), Some(Nature::Request), Some("1d"))
        );
        fields.insert("at_risk".to_owned(), vec!["beaucoup".to_owned()]);
        assert!(
            grid_from_form(&current, &fields)
                .is_err_and(|e| e.contains("« beaucoup » n'est pas un pourcentage"))
        );
    }
}
