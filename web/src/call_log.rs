//! The call log of the supervisor room: `/superviseur/appels` (one day's calls, with each
//! call's audio verdict and the day's share of calls with degraded audio) and
//! `/superviseur/appels/{id}` (a call's record, its « Qualité audio » per leg and its
//! events), and their JSON twins `/api/v1/calls` (also as CSV) and `/api/v1/calls/{id}`.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use guichet_tickets::call_quality::{
    AudioVerdict, DEGRADED_MOS, GOOD_MOS, LegQuality, MediaLeg, call_verdict,
};
use guichet_tickets::calls::{outcome_str, parse_outcome};
use guichet_tickets::{CallEvent, CallRecord, StoreError};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::api::{api_error, authorize, parse_date};
use crate::auth::{Need, Session, require_page};
use crate::desk::outcome_label;
use crate::html::escape;

/// The pages' routes.
pub(crate) fn page_routes() -> Router<AppState> {
    Router::new()
        .route("/superviseur/appels", get(calls_page))
        .route("/superviseur/appels/{id}", get(call_page))
}

/// The API's routes (nested under `/api/v1`).
pub(crate) fn api_routes() -> Router<AppState> {
    Router::new()
        .route("/calls", get(api_list))
        .route("/calls/{id}", get(api_get))
}

const LIST_TITLE: &str = "Journal des appels";

/// Longest period the list API returns at once.
const MAX_LIST_DAYS: i64 = 31;

/// `at` in the server's zone, as `format` spells it.
fn local(state: &AppState, at: DateTime<Utc>, format: &str) -> String {
    at.with_timezone(&state.backend.settings().zone)
        .format(format)
        .to_string()
}

const DATE_TIME: &str = "%d/%m/%Y %H:%M:%S";
const TIME: &str = "%H:%M:%S";

fn vip_badge(vip: bool) -> &'static str {
    if vip {
        " <span class=\"vip\">VIP</span>"
    } else {
        ""
    }
}

/// The UTC instant of local midnight starting `day`.
fn midnight(state: &AppState, day: NaiveDate) -> Option<DateTime<Utc>> {
    day.and_hms_opt(0, 0, 0)
        .and_then(|n| {
            n.and_local_timezone(state.backend.settings().zone)
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
}

/// An event kind of the call log, for supervisors.
fn event_fr(kind: &str) -> &str {
    match kind {
        "arrived" => "Arrivée",
        "ivr" => "Menu vocal",
        "ivr_exited" => "Sortie du menu vocal",
        "queued" => "Mise en file",
        "offered" => "Présenté à l'agent",
        "answered" => "Décroché",
        "overflowed" => "Débordement",
        "ended" => "Fin de l'appel",
        "wrap_up_ended" => "Fin du post-appel",
        "interrupted" => "Interrompu (arrêt du serveur)",
        "refused" => "Refusé à l'arrivée (503)",
        other => other,
    }
}

/// `4,38`: a French decimal with `places` digits.
fn decimal_fr(v: f64, places: usize) -> String {
    format!("{v:.places$}").replace('.', ",")
}

fn verdict_badge(v: AudioVerdict) -> String {
    let class = match v {
        AudioVerdict::Good => "ok",
        AudioVerdict::Degraded | AudioVerdict::Bad => "erreur",
    };
    format!(
        "<span class=\"{class} qualite-audio\" data-qualite=\"{}\">{}</span>",
        v.as_str(),
        v.label_fr()
    )
}

/// The « Qualité audio » block of a call's page.
pub(crate) fn quality_block(legs: &[LegQuality]) -> String {
    let mut out = String::from("<section id=\"qualite-audio\"><h2>Qualité audio</h2>");
    let Some(verdict) = call_verdict(legs) else {
        out.push_str(
            "<p>Aucune mesure audio enregistrée pour cet appel (pas de média, ou appel \
             antérieur à cette mesure).</p></section>",
        );
        return out;
    };
    out.push_str(&format!(
        "<p>Qualité de l'appel : {} (la moins bonne des voies).</p>",
        verdict_badge(verdict)
    ));
    out.push_str(
        "<table><thead><tr><th scope=\"col\">Voie</th><th scope=\"col\">Paquets reçus</th>\
         <th scope=\"col\">Paquets perdus</th><th scope=\"col\">Paquets en retard (non joués)</th>\
         <th scope=\"col\">Gigue (max. / fin)</th>\
         <th scope=\"col\">Perte vue par l'autre extrémité (RTCP)</th>\
         <th scope=\"col\">MOS estimé</th><th scope=\"col\">Qualité</th></tr></thead><tbody>",
    );
    for q in legs {
        let c = &q.counters;
        let expected = c.packets_received + c.packets_lost;
        let lost_share = if expected == 0 {
            0.0
        } else {
            c.packets_lost as f64 * 100.0 / expected as f64
        };
        let remote = c.remote_fraction_lost.map_or_else(
            || "non communiquée".to_owned(),
            |f| format!("{} %", decimal_fr(f64::from(f) * 100.0 / 256.0, 1)),
        );
        out.push_str(&format!(
            "<tr data-voie=\"{leg}\"><th scope=\"row\">{label}</th><td>{received}</td>\
             <td>{lost} ({share} %)</td><td>{late}</td><td>{jmax} ms / {jfinal} ms</td>\
             <td>{remote}</td><td>{mos}</td><td>{verdict}</td></tr>",
            leg = q.leg.as_str(),
            label = q.leg.label_fr(),
            received = c.packets_received,
            lost = c.packets_lost,
            share = decimal_fr(lost_share, 1),
            late = c.late_packets,
            jmax = decimal_fr(c.jitter_max_us as f64 / 1000.0, 1),
            jfinal = decimal_fr(c.jitter_final_us as f64 / 1000.0, 1),
            mos = decimal_fr(q.mos(), 2),
            verdict = verdict_badge(q.verdict()),
        ));
    }
    out.push_str(&format!(
        "</tbody></table><p class=\"aide\">Le MOS estimé (de 1 à 4,5) est calculé par le \
         modèle E de l'UIT-T (G.107) pour le G.711, à partir des paquets perdus ou arrivés trop \
         tard pour être joués, et de la perte signalée par l'autre extrémité quand elle est \
         connue. Qualité bonne à partir de {good}, dégradée de {degraded} à {good}, mauvaise \
         en dessous de {degraded} ou si aucun son n'a été reçu. La gigue mesure l'irrégularité \
         d'arrivée des paquets (RFC 3550).</p></section>",
        good = decimal_fr(GOOD_MOS, 1),
        degraded = decimal_fr(DEGRADED_MOS, 1),
    ));
    out
}

fn caller_fr(r: &CallRecord) -> String {
    match &r.caller_name {
        Some(name) => format!("{} ({})", escape(name), escape(&r.caller_number)),
        None => escape(&r.caller_number),
    }
}

fn render(
    state: &AppState,
    session: &Session,
    status: StatusCode,
    title: &str,
    body: &str,
) -> Response {
    crate::admin::page_with_notice(state, session, title, status, body.to_owned())
}

/// The page when the store cannot be read (the list and a call's page alike).
fn unavailable(state: &AppState, session: &Session) -> Response {
    render(
        state,
        session,
        StatusCode::SERVICE_UNAVAILABLE,
        LIST_TITLE,
        "<p role=\"alert\" class=\"erreur\">Le journal des appels est indisponible, \
         réessayez.</p>",
    )
}

/// The calls that arrived in `[from, to)` and the audio quality stored for them.
async fn calls_with_quality(
    state: &AppState,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<(Vec<CallRecord>, HashMap<i64, Vec<LegQuality>>), StoreError> {
    let store = state.backend.store();
    Ok((
        store.calls_between(from, to).await?,
        store.call_quality_between(from, to).await?,
    ))
}

/// The dashboards' line on the audio of the period's calls (local days `first` to `last`
/// included), or nothing when it cannot be read.
pub(crate) async fn period_line(state: &AppState, first: NaiveDate, last: NaiveDate) -> String {
    let (Some(from), Some(to)) = (
        midnight(state, first),
        last.succ_opt().and_then(|d| midnight(state, d)),
    ) else {
        return String::new();
    };
    match state.backend.store().audio_totals_between(from, to).await {
        Ok(t) if t.measured == 0 => "<p id=\"audio-periode\">Qualité audio sur la période : \
             aucune mesure.</p>"
            .to_owned(),
        Ok(t) => format!(
            "<p id=\"audio-periode\">Appels au son dégradé ou mauvais sur la période : \
             <strong>{degraded}</strong> sur {measured} mesurés (<strong>{share}\u{a0}%</strong>) \
             (<a href=\"/superviseur/appels?jour={first}\">voir le journal des appels</a>).</p>",
            degraded = t.degraded,
            measured = t.measured,
            share = decimal_fr(t.degraded as f64 * 100.0 / t.measured as f64, 1),
            first = first.format("%Y-%m-%d"),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "audio totals unreadable");
            String::new()
        }
    }
}

/// The list page's query.
#[derive(Deserialize, Default)]
pub(crate) struct DayQuery {
    #[serde(default)]
    jour: Option<String>,
}

/// `GET /superviseur/appels`: one local day's calls.
pub(crate) async fn calls_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<DayQuery>,
) -> Response {
    let session = match require_page(&state, &headers, Need::Supervisor).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let zone = state.backend.settings().zone;
    let today = state.backend.now().with_timezone(&zone).date_naive();
    let typed = query
        .jour
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let (day, notice) = match typed.map(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d")) {
        None => (today, String::new()),
        Some(Ok(d)) => (d, String::new()),
        Some(Err(_)) => (
            today,
            "<p role=\"alert\" class=\"erreur\">Date invalide : choisissez un jour \
             (AAAA-MM-JJ). Voici les appels d'aujourd'hui.</p>"
                .to_owned(),
        ),
    };
    let (Some(from), Some(to)) = (
        midnight(&state, day),
        midnight(&state, day + Duration::days(1)),
    ) else {
        return render(
            &state,
            &session,
            StatusCode::BAD_REQUEST,
            LIST_TITLE,
            "<p role=\"alert\" class=\"erreur\">Jour hors du fuseau horaire.</p>",
        );
    };
    let (calls, quality) = match calls_with_quality(&state, from, to).await {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(error = %e, "call log unavailable");
            return unavailable(&state, &session);
        }
    };
    let mut body = notice;
    body.push_str(&format!(
        "<form method=\"get\" action=\"/superviseur/appels\"><label for=\"jour\">Jour</label> \
         <input type=\"date\" id=\"jour\" name=\"jour\" value=\"{day}\"> \
         <button type=\"submit\">Afficher</button></form>",
        day = day.format("%Y-%m-%d")
    ));
    let measured: Vec<AudioVerdict> = calls
        .iter()
        .filter_map(|c| quality.get(&c.id).and_then(|legs| call_verdict(legs)))
        .collect();
    let degraded = measured
        .iter()
        .filter(|v| **v != AudioVerdict::Good)
        .count();
    if measured.is_empty() {
        body.push_str("<p id=\"part-audio-degradee\">Aucune mesure audio ce jour-là.</p>");
    } else {
        body.push_str(&format!(
            "<p id=\"part-audio-degradee\">Appels au son dégradé ou mauvais : {degraded} sur \
             {total} mesurés ({share} %).</p>",
            total = measured.len(),
            share = decimal_fr(degraded as f64 * 100.0 / measured.len() as f64, 1),
        ));
    }
    if calls.is_empty() {
        body.push_str(&format!(
            "<p id=\"appels\">Aucun appel le {}.</p>",
            day.format("%d/%m/%Y")
        ));
    } else {
        body.push_str(
            "<table id=\"appels\"><thead><tr><th scope=\"col\">Arrivée</th>\
             <th scope=\"col\">Ligne</th><th scope=\"col\">Appelant</th>\
             <th scope=\"col\">File</th><th scope=\"col\">Agent</th><th scope=\"col\">Issue</th>\
             <th scope=\"col\">Qualité audio</th></tr></thead><tbody>",
        );
        for c in &calls {
            let verdict = quality
                .get(&c.id)
                .and_then(|legs| call_verdict(legs))
                .map_or_else(|| "—".to_owned(), verdict_badge);
            body.push_str(&format!(
                "<tr><td><a href=\"/superviseur/appels/{id}\">{at}</a></td><td>{line}</td>\
                 <td>{caller}{vip}</td><td>{queue}</td><td>{agent}</td><td>{outcome}</td>\
                 <td>{verdict}</td></tr>",
                id = c.id,
                at = local(&state, c.arrived_at, TIME),
                line = escape(&c.line),
                caller = caller_fr(c),
                vip = vip_badge(c.vip),
                queue = escape(c.queue.as_deref().unwrap_or("—")),
                agent = escape(c.agent.as_deref().unwrap_or("—")),
                outcome = outcome_label(c.outcome),
            ));
        }
        body.push_str("</tbody></table>");
    }
    render(&state, &session, StatusCode::OK, LIST_TITLE, &body)
}

/// `GET /superviseur/appels/{id}`: one call.
pub(crate) async fn call_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let session = match require_page(&state, &headers, Need::Supervisor).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let store = state.backend.store();
    let record = match store.call(id).await {
        Ok(r) => r,
        Err(StoreError::NotFound { .. }) => {
            return render(
                &state,
                &session,
                StatusCode::NOT_FOUND,
                LIST_TITLE,
                "<p role=\"alert\" class=\"erreur\">Appel introuvable.</p>\
                 <p><a href=\"/superviseur/appels\">Retour au journal des appels</a></p>",
            );
        }
        Err(e) => {
            tracing::warn!(error = %e, call = id, "call record unavailable");
            return unavailable(&state, &session);
        }
    };
    let (events, legs) = match (store.call_events(id).await, store.call_quality(id).await) {
        (Ok(e), Ok(q)) => (e, q),
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(error = %e, call = id, "call details unavailable");
            (Vec::new(), Vec::new())
        }
    };
    let zone = state.backend.settings().zone;
    let day = record.arrived_at.with_timezone(&zone).date_naive();
    let mut body = format!(
        "<p><a href=\"/superviseur/appels?jour={day}\">Retour au journal des appels du {day_fr}</a></p>",
        day = day.format("%Y-%m-%d"),
        day_fr = day.format("%d/%m/%Y"),
    );
    let when = |t: Option<DateTime<Utc>>| {
        t.map_or_else(|| "—".to_owned(), |t| local(&state, t, DATE_TIME))
    };
    let talk = match (record.answered_at, record.ended_at) {
        (Some(a), Some(e)) => format!("{} s", (e - a).num_seconds().max(0)),
        _ => "—".to_owned(),
    };
    body.push_str(&format!(
        "<dl id=\"appel\"><dt>Arrivée</dt><dd>{arrived}</dd><dt>Ligne</dt><dd>{line}</dd>\
         <dt>Appelant</dt><dd>{caller}{vip}</dd><dt>File</dt><dd>{queue}</dd>\
         <dt>Agent</dt><dd>{agent}</dd><dt>Issue</dt><dd>{outcome}</dd>\
         <dt>Décroché</dt><dd>{answered}</dd><dt>Fin</dt><dd>{ended}</dd>\
         <dt>Durée de conversation</dt><dd>{talk}</dd></dl>",
        arrived = local(&state, record.arrived_at, DATE_TIME),
        line = escape(&record.line),
        caller = caller_fr(&record),
        vip = vip_badge(record.vip),
        queue = escape(record.queue.as_deref().unwrap_or("—")),
        agent = escape(record.agent.as_deref().unwrap_or("—")),
        outcome = outcome_label(record.outcome),
        answered = when(record.answered_at),
        ended = when(record.ended_at),
    ));
    body.push_str(&quality_block(&legs));
    body.push_str("<section id=\"deroule\"><h2>Déroulé</h2><ol>");
    for e in &events {
        body.push_str(&format!(
            "<li>{at} — {kind}{detail}</li>",
            at = local(&state, e.at, TIME),
            kind = escape(event_fr(&e.kind)),
            detail = e
                .detail
                .as_deref()
                .map(|d| match (e.kind.as_str(), parse_outcome(d)) {
                    ("ended", Some(o)) => format!(" : {}", outcome_label(Some(o))),
                    ("refused", _) => match d.parse::<guichet_tickets::refusals::RefusalReason>() {
                        Ok(reason) => format!(" : {}", reason.label_fr()),
                        Err(()) => format!(" : {}", escape(d)),
                    },
                    _ => format!(" : {}", escape(d)),
                })
                .unwrap_or_default(),
        ));
    }
    body.push_str("</ol></section>");
    render(
        &state,
        &session,
        StatusCode::OK,
        &format!("Appel du {}", local(&state, record.arrived_at, DATE_TIME)),
        &body,
    )
}

fn opt_time(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| json!(t.to_rfc3339()))
}

fn round(v: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (v * scale).round() / scale
}

/// One leg's quality in the API.
fn leg_json(q: &LegQuality) -> Value {
    let c = &q.counters;
    json!({
        "leg": q.leg.as_str(),
        "packets_sent": c.packets_sent,
        "packets_received": c.packets_received,
        "packets_lost": c.packets_lost,
        "late_packets": c.late_packets,
        "jitter_max_ms": round(c.jitter_max_us as f64 / 1000.0, 3),
        "jitter_final_ms": round(c.jitter_final_us as f64 / 1000.0, 3),
        "remote_fraction_lost": c.remote_fraction_lost.map(|f| round(f64::from(f) / 256.0, 4)),
        "loss_ratio": round(c.effective_loss_ratio(), 4),
        "mos": q.mos(),
        "verdict": q.verdict().as_str(),
    })
}

/// A call's audio quality in the API: the worst verdict and each leg.
fn quality_json(legs: &[LegQuality]) -> Value {
    json!({
        "verdict": call_verdict(legs).map(AudioVerdict::as_str),
        "legs": legs.iter().map(leg_json).collect::<Vec<_>>(),
    })
}

fn call_json(r: &CallRecord, legs: &[LegQuality]) -> Value {
    json!({
        "id": r.id,
        "sip_call_id": r.sip_call_id,
        "line": r.line,
        "state": r.state.as_str(),
        "outcome": r.outcome.map(outcome_str),
        "queue": r.queue,
        "agent": r.agent,
        "caller_number": r.caller_number,
        "caller_name": r.caller_name,
        "person_id": r.person_id,
        "vip": r.vip,
        "p0": r.p0,
        "arrived_at": r.arrived_at.to_rfc3339(),
        "ivr_exited_at": opt_time(r.ivr_exited_at),
        "queued_at": opt_time(r.queued_at),
        "offered_at": opt_time(r.offered_at),
        "answered_at": opt_time(r.answered_at),
        "ended_at": opt_time(r.ended_at),
        "wrap_up_ended_at": opt_time(r.wrap_up_ended_at),
        "overflow_target": r.overflow_target,
        "ivr_exit_node": r.ivr_exit_node,
        "interrupted": r.interrupted,
        "audio_quality": quality_json(legs),
    })
}

fn events_json(events: &[CallEvent]) -> Value {
    events
        .iter()
        .map(|e| json!({"at": e.at.to_rfc3339(), "kind": e.kind, "detail": e.detail}))
        .collect()
}

/// `GET /api/v1/calls/{id}`: a call's record, audio quality and events.
async fn api_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    if let Err(r) = authorize(&state, &headers, true, false).await {
        return r;
    }
    let store = state.backend.store();
    let record = match store.call(id).await {
        Ok(r) => r,
        Err(StoreError::NotFound { .. }) => {
            return api_error(StatusCode::NOT_FOUND, "appel introuvable");
        }
        Err(e) => return api_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    match (store.call_events(id).await, store.call_quality(id).await) {
        (Ok(events), Ok(legs)) => {
            let mut body = call_json(&record, &legs);
            body["events"] = events_json(&events);
            axum::Json(body).into_response()
        }
        (Err(e), _) | (_, Err(e)) => api_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[derive(Deserialize)]
struct ListQuery {
    from: Option<String>,
    to: Option<String>,
    format: Option<String>,
}

/// Columns of the CSV export, in order.
pub const CSV_HEADER: &[&str] = &[
    "id",
    "arrivee",
    "ligne",
    "numero_appelant",
    "nom_appelant",
    "vip",
    "file",
    "agent",
    "issue",
    "decroche",
    "fin",
    "qualite_audio",
    "appelant_paquets_recus",
    "appelant_paquets_perdus",
    "appelant_paquets_en_retard",
    "appelant_gigue_max_ms",
    "appelant_perte_distante",
    "appelant_mos",
    "agent_paquets_recus",
    "agent_paquets_perdus",
    "agent_paquets_en_retard",
    "agent_gigue_max_ms",
    "agent_perte_distante",
    "agent_mos",
];

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// A leg's six CSV cells (empty without that leg).
fn leg_cells(leg: Option<&LegQuality>) -> [String; 6] {
    match leg {
        None => Default::default(),
        Some(q) => {
            let c = &q.counters;
            [
                c.packets_received.to_string(),
                c.packets_lost.to_string(),
                c.late_packets.to_string(),
                format!("{}", round(c.jitter_max_us as f64 / 1000.0, 3)),
                c.remote_fraction_lost
                    .map(|f| format!("{}", round(f64::from(f) / 256.0, 4)))
                    .unwrap_or_default(),
                format!("{:.2}", q.mos()),
            ]
        }
    }
}

fn csv_row(r: &CallRecord, legs: &[LegQuality]) -> String {
    let time = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or_default();
    let leg = |which| legs.iter().find(|q| q.leg == which);
    let mut cells = vec![
        r.id.to_string(),
        r.arrived_at.to_rfc3339(),
        r.line.clone(),
        r.caller_number.clone(),
        r.caller_name.clone().unwrap_or_default(),
        r.vip.to_string(),
        r.queue.clone().unwrap_or_default(),
        r.agent.clone().unwrap_or_default(),
        r.outcome.map(outcome_str).unwrap_or_default().to_owned(),
        time(r.answered_at),
        time(r.ended_at),
        call_verdict(legs)
            .map(AudioVerdict::as_str)
            .unwrap_or_default()
            .to_owned(),
    ];
    cells.extend(leg_cells(leg(MediaLeg::Caller)));
    cells.extend(leg_cells(leg(MediaLeg::Agent)));
    let fields: Vec<String> = cells.iter().map(|c| csv_field(c)).collect();
    fields.join(",")
}

/// `GET /api/v1/calls?from=AAAA-MM-JJ&to=AAAA-MM-JJ[&format=csv]`: the calls that arrived
/// in `[from, to)` (local days), with their audio quality.
async fn api_list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    if let Err(r) = authorize(&state, &headers, true, false).await {
        return r;
    }
    let (from, to) = match (
        parse_date("from", q.from.as_deref()),
        parse_date("to", q.to.as_deref()),
    ) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    if to <= from {
        return api_error(StatusCode::BAD_REQUEST, "« to » doit suivre « from »");
    }
    if (to - from).num_days() > MAX_LIST_DAYS {
        return api_error(
            StatusCode::BAD_REQUEST,
            format!("période trop longue ({MAX_LIST_DAYS} jours au plus)"),
        );
    }
    let (Some(start), Some(end)) = (midnight(&state, from), midnight(&state, to)) else {
        return api_error(StatusCode::BAD_REQUEST, "dates hors du fuseau horaire");
    };
    let (calls, quality) = match calls_with_quality(&state, start, end).await {
        Ok(found) => found,
        Err(e) => {
            return api_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
        }
    };
    let legs_of = |id: i64| quality.get(&id).map(Vec::as_slice).unwrap_or_default();
    match q.format.as_deref().unwrap_or("json") {
        "json" => axum::Json(json!({
            "from": from,
            "to": to,
            "calls": calls.iter().map(|c| call_json(c, legs_of(c.id))).collect::<Vec<_>>(),
        }))
        .into_response(),
        "csv" => {
            let mut out = CSV_HEADER.join(",");
            out.push_str("\r\n");
            for c in &calls {
                out.push_str(&csv_row(c, legs_of(c.id)));
                out.push_str("\r\n");
            }
            (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"appels-{from}-{to}.csv\""),
                    ),
                ],
                out,
            )
                .into_response()
        }
        other => api_error(
            StatusCode::BAD_REQUEST,
            format!("« format » inconnu « {other} » : json ou csv"),
        ),
    }
}
