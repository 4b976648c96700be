//! Écoute et coaching: a supervisor listens to, whispers to or barges into an agent's call
//! from the wallboard, in the browser through WebRTC. One WebSocket per wallboard page
//! (`GET /superviseur/ecoute`), supervisors and admins only; every start, mode change and
//! end is journaled by the switchboard. Messages are JSON tagged by `type` (`docs/web.md`,
//! "Écoute et coaching").

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::auth::Session;
use crate::{Actor, AppState, Stopping, page_socket};

/// How the supervisor joins the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MonitorMode {
    /// Hears caller and agent; nobody hears the supervisor.
    Listen,
    /// Hears both; only the agent hears the supervisor.
    Whisper,
    /// Three-way conversation.
    Barge,
}

/// A message from the supervisor's page.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum FromSupervisor {
    /// Join the call of `agent` in `mode`; `sdp` is the browser's complete WebRTC offer.
    Start {
        agent: String,
        mode: MonitorMode,
        sdp: String,
    },
    /// Switch mode during the call.
    Mode { mode: MonitorMode },
    /// Leave the call (the call goes on).
    Leave,
}

/// A message to the supervisor's page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ToSupervisor {
    /// Joined: `sdp` answers the page's offer.
    Connected {
        agent: String,
        mode: MonitorMode,
        sdp: String,
    },
    /// The mode changed.
    Mode { mode: MonitorMode },
    /// The supervision is over (left, or the call ended); French text.
    Ended { message: String },
    /// A request was refused; French text.
    Error { message: String },
}

/// A supervisor page's attachment to the switchboard.
pub struct MonitorLink {
    /// Identifies this page.
    pub id: u64,
    /// What the switchboard tells the page.
    pub events: mpsc::UnboundedReceiver<ToSupervisor>,
}

/// `GET /superviseur/ecoute`: the supervision WebSocket of a supervisor's wallboard.
pub(crate) async fn socket(
    State(state): State<AppState>,
    stopping: Option<axum::Extension<Stopping>>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let session = match page_socket::admit(
        &state,
        &headers,
        Session::is_supervisor,
        "L'écoute est réservée aux superviseurs et aux administrateurs.",
    )
    .await
    {
        Ok(session) => session,
        Err(refused) => return refused,
    };
    let actor = session.actor();
    let stopping = stopping.map(|s| s.0);
    upgrade
        .max_message_size(page_socket::MAX_MESSAGE)
        .on_upgrade(move |ws| run(state, actor, ws, stopping))
}

impl page_socket::ToBrowser for ToSupervisor {
    const NOT_UNDERSTOOD: &'static str = "message d'écoute incompris";
    fn error(message: String) -> Self {
        ToSupervisor::Error { message }
    }
}

async fn run(state: AppState, actor: Actor, mut ws: WebSocket, stopping: Option<Stopping>) {
    let mut link = match state.backend.monitor_attach(actor.clone()).await {
        Ok(link) => link,
        Err(message) => return page_socket::refuse::<ToSupervisor>(ws, message).await,
    };
    let (backend, id) = (&state.backend, link.id);
    page_socket::converse(
        &mut ws,
        &mut link.events,
        stopping,
        |message: FromSupervisor| backend.monitor_send(id, message),
    )
    .await;
    // A closed wallboard leaves the call it was listening to.
    state.backend.monitor_detach(link.id).await;
    let _ = ws.send(Message::Close(None)).await;
}

/// The « Écoute et coaching » section of the wallboard (French; `/static/ecoute.js`).
pub(crate) const SECTION: &str = "<section id=\"ecoute\" aria-labelledby=\"ecoute-titre\">\
<h2 id=\"ecoute-titre\">Écoute et coaching</h2>\
<p><label for=\"ecoute-agent\">Agent en communication</label> \
<select id=\"ecoute-agent\"><option value=\"\">(aucun appel en cours)</option></select> \
<button type=\"button\" id=\"ecoute-ecouter\" data-mode=\"listen\">Écouter</button> \
<button type=\"button\" id=\"ecoute-chuchoter\" data-mode=\"whisper\">Chuchoter à l'agent</button> \
<button type=\"button\" id=\"ecoute-intervenir\" data-mode=\"barge\">Intervenir</button> \
<button type=\"button\" id=\"ecoute-quitter\" disabled>Quitter</button></p>\
<p id=\"ecoute-etat\" role=\"status\">Choisissez un agent en communication.</p>\
<p><label for=\"ecoute-niveau\">Niveau reçu</label> \
<meter id=\"ecoute-niveau\" min=\"0\" max=\"1\" value=\"0\">0</meter></p>\
<audio id=\"ecoute-audio\" autoplay></audio>\
</section><script src=\"/static/ecoute.js\"></script>";

/// `GET /static/ecoute.js`: the supervision script.
pub(crate) async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("ecoute.js"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supervisor_messages_parse_with_their_modes() {
        assert_eq!(
            serde_json::from_str::<FromSupervisor>(
                r#"{"type":"start","agent":"amelie.martin","mode":"listen","sdp":"v=0"}"#
            )
            .unwrap(),
            FromSupervisor::Start {
                agent: "amelie.martin".into(),
                mode: MonitorMode::Listen,
                sdp: "v=0".into()
            }
        );
        assert_eq!(
            serde_json::from_str::<FromSupervisor>(r#"{"type":"mode","mode":"barge"}"#).unwrap(),
            FromSupervisor::Mode {
                mode: MonitorMode::Barge
            }
        );
        assert!(serde_json::from_str::<FromSupervisor>(r#"{"type":"mode","mode":"spy"}"#).is_err());
        assert_eq!(
            serde_json::to_value(ToSupervisor::Mode {
                mode: MonitorMode::Whisper
            })
            .unwrap(),
            serde_json::json!({"type": "mode", "mode": "whisper"})
        );
    }
}
