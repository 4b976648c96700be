//! The browser softphone's signalling: one WebSocket per agent page (`GET /agent/softphone`),
//! authenticated by the session cookie, for accounts with the agent role only.
//!
//! The page and the switchboard exchange JSON messages tagged by `type` (see `docs/web.md`,
//! "Softphone"): the switchboard announces an offered call, the page answers with its WebRTC
//! SDP offer and gets the media room's SDP answer back, then hangs up, holds or sends digits.
//! The web room only carries the messages: the switchboard decides, through the [`Backend`].
//!
//! [`Backend`]: crate::Backend

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::{AppState, Role, Stopping, page_socket};

/// A message from the agent's page.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum FromPage {
    /// Answer the offered call; `sdp` is the browser's complete WebRTC offer (candidates
    /// gathered, no trickle).
    Answer { sdp: String },
    /// Hang up the call in progress, or decline the offered call.
    Hangup,
    /// Put the caller on hold (music on hold) or take them back.
    Hold { on: bool },
    /// Send these digits (`0-9`, `*`, `#`, `A-D`) to the caller as RFC 4733 events.
    Dtmf { digits: String },
}

/// A message to the agent's page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ToPage {
    /// The softphone is attached: calls offered to `agent` ring in this page.
    Ready { agent: String },
    /// A call is offered to the agent: the page rings.
    Incoming {
        number: String,
        name: Option<String>,
        vip: bool,
        p0: bool,
        /// The helpdesk line the caller dialled.
        line: String,
    },
    /// The call is answered: `sdp` is the answer to the page's offer; the legs are bridged.
    Connected { sdp: String },
    /// The caller is on hold (`on`) or back.
    Held { on: bool },
    /// The offered or connected call is over; `reason` is a code, `message` French text.
    Ended { reason: String, message: String },
    /// A request of the page was refused; French text.
    Error { message: String },
    /// Another page of the same agent took the softphone over; this one stops.
    Replaced,
}

/// A page's attachment to the switchboard.
pub struct Link {
    /// Identifies this attachment (a later page of the same agent replaces it).
    pub id: u64,
    /// What the switchboard tells the page.
    pub events: mpsc::UnboundedReceiver<ToPage>,
}

/// `GET /agent/softphone`: upgrades to the signalling WebSocket of the logged-in agent.
pub(crate) async fn socket(
    State(state): State<AppState>,
    stopping: Option<axum::Extension<Stopping>>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let session = match page_socket::admit(
        &state,
        &headers,
        |s| s.roles.contains(&Role::Agent),
        "Le softphone est réservé aux comptes d'agent.",
    )
    .await
    {
        Ok(session) => session,
        Err(refused) => return refused,
    };
    let login = session.login;
    let stopping = stopping.map(|s| s.0);
    upgrade
        .max_message_size(page_socket::MAX_MESSAGE)
        .on_upgrade(move |ws| run(state, login, ws, stopping))
}

impl page_socket::ToBrowser for ToPage {
    const NOT_UNDERSTOOD: &'static str = "message du softphone incompris";
    fn error(message: String) -> Self {
        ToPage::Error { message }
    }
    fn is_last(&self) -> bool {
        *self == ToPage::Replaced
    }
}

async fn run(state: AppState, login: String, mut ws: WebSocket, stopping: Option<Stopping>) {
    let mut link = match state.backend.softphone_attach(&login).await {
        Ok(link) => link,
        Err(message) => return page_socket::refuse::<ToPage>(ws, message).await,
    };
    tracing::info!(agent = %login, link = link.id, "softphone attached");
    let (backend, agent, id) = (&state.backend, login.as_str(), link.id);
    page_socket::converse(&mut ws, &mut link.events, stopping, |message: FromPage| {
        backend.softphone_send(agent, id, message)
    })
    .await;
    // A page that goes away hangs up: no agent stays "on call" behind a closed tab.
    state.backend.softphone_detach(&login, link.id).await;
    tracing::info!(agent = %login, link = link.id, "softphone detached");
    let _ = ws.send(Message::Close(None)).await;
}

/// The softphone section of the agent page (French; driven by `/static/softphone.js`).
pub(crate) const SECTION: &str = "<section id=\"softphone\" aria-labelledby=\"softphone-titre\">\
<h2 id=\"softphone-titre\">Softphone</h2>\
<p id=\"softphone-etat\" aria-live=\"polite\">Connexion du softphone…</p>\
<div id=\"softphone-appel\" role=\"alert\" hidden>\
<p><strong id=\"softphone-bandeau\">Appel entrant</strong> : \
<span id=\"softphone-appelant\"></span> <span id=\"softphone-vip\" class=\"vip\" hidden>VIP</span></p>\
<p><button type=\"button\" id=\"softphone-repondre\">Répondre</button> \
<button type=\"button\" id=\"softphone-raccrocher\">Raccrocher</button> \
<button type=\"button\" id=\"softphone-micro\" aria-pressed=\"false\" disabled>Couper le micro</button> \
<button type=\"button\" id=\"softphone-attente\" aria-pressed=\"false\" disabled>Mettre en attente</button></p>\
<p><label for=\"softphone-niveau\">Niveau reçu</label> \
<meter id=\"softphone-niveau\" min=\"0\" max=\"1\" value=\"0\">0</meter></p>\
<div id=\"softphone-clavier\" role=\"group\" aria-label=\"Clavier de numérotation\">\
<button type=\"button\" data-touche=\"1\" disabled>1</button><button type=\"button\" data-touche=\"2\" disabled>2</button>\
<button type=\"button\" data-touche=\"3\" disabled>3</button><button type=\"button\" data-touche=\"4\" disabled>4</button>\
<button type=\"button\" data-touche=\"5\" disabled>5</button><button type=\"button\" data-touche=\"6\" disabled>6</button>\
<button type=\"button\" data-touche=\"7\" disabled>7</button><button type=\"button\" data-touche=\"8\" disabled>8</button>\
<button type=\"button\" data-touche=\"9\" disabled>9</button><button type=\"button\" data-touche=\"*\" aria-label=\"étoile\" disabled>*</button>\
<button type=\"button\" data-touche=\"0\" disabled>0</button><button type=\"button\" data-touche=\"#\" aria-label=\"dièse\" disabled>#</button>\
</div></div>\
<audio id=\"softphone-audio\" autoplay></audio>\
</section><script src=\"/static/softphone.js\"></script>";

/// `GET /static/softphone.js`: the softphone's script.
pub(crate) async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("softphone.js"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_messages_parse_and_unknown_ones_are_refused() {
        assert_eq!(
            serde_json::from_str::<FromPage>(r#"{"type":"answer","sdp":"v=0"}"#).unwrap(),
            FromPage::Answer { sdp: "v=0".into() }
        );
        assert_eq!(
            serde_json::from_str::<FromPage>(r#"{"type":"hold","on":true}"#).unwrap(),
            FromPage::Hold { on: true }
        );
        assert_eq!(
            serde_json::from_str::<FromPage>(r#"{"type":"dtmf","digits":"12#"}"#).unwrap(),
            FromPage::Dtmf {
                digits: "12#".into()
            }
        );
        assert!(serde_json::from_str::<FromPage>(r#"{"type":"transfer"}"#).is_err());
    }

    #[test]
    fn switchboard_messages_carry_their_type_tag() {
        let incoming = serde_json::to_value(ToPage::Incoming {
            number: "+33140158001".into(),
            name: Some("Jeanne Dupont".into()),
            vip: true,
            p0: false,
            line: "8585".into(),
        })
        .unwrap();
        assert_eq!(incoming["type"], "incoming");
        assert_eq!(incoming["vip"], true);
        assert_eq!(
            serde_json::to_value(ToPage::Replaced).unwrap()["type"],
            "replaced"
        );
    }
}
