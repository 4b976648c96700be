//! What the browser pages' WebSockets share (the agent softphone, the supervisors' écoute):
//! the handshake checks, and the loop carrying JSON messages between a page and the
//! switchboard until either side stops or the server shuts down.

use axum::extract::ws::{Message, WebSocket};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

use crate::auth::{Session, current};
use crate::{AppState, BoxFuture, Stopping};

/// The largest message a page may send (bytes). An SDP offer is a few kilobytes: nothing
/// legitimate comes near this.
pub(crate) const MAX_MESSAGE: usize = 64 * 1024;

/// Checks a WebSocket handshake: a logged-in session (else 401) that `allowed` accepts (else
/// 403 with the French `refusal`), from a page of this site (else 403).
pub(crate) async fn admit(
    state: &AppState,
    headers: &HeaderMap,
    allowed: fn(&Session) -> bool,
    refusal: &'static str,
) -> Result<Session, Response> {
    let Some(session) = current(state, headers).await else {
        return Err(StatusCode::UNAUTHORIZED.into_response());
    };
    if !allowed(&session) {
        return Err((StatusCode::FORBIDDEN, refusal).into_response());
    }
    if !same_origin(headers) {
        // The cookie is SameSite=Strict already; a page of another site must not even try.
        return Err((StatusCode::FORBIDDEN, "Origine refusée.").into_response());
    }
    Ok(session)
}

/// Whether the `Origin` of a WebSocket handshake (when sent) names the host it was sent to.
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .unwrap_or("");
    origin_host == host
}

/// A message the switchboard sends to a page.
pub(crate) trait ToBrowser: Serialize {
    /// What the page is told when it sent something that is not one of its messages.
    const NOT_UNDERSTOOD: &'static str;
    /// A refusal, in French.
    fn error(message: String) -> Self;
    /// Whether the page's socket ends after this message.
    fn is_last(&self) -> bool {
        false
    }
}

/// Sends `message` as JSON text; false when the page is gone.
pub(crate) async fn send<M: ToBrowser>(ws: &mut WebSocket, message: &M) -> bool {
    match serde_json::to_string(message) {
        Ok(text) => ws.send(Message::Text(text.into())).await.is_ok(),
        Err(_) => false,
    }
}

/// Tells the page why it could not be attached, and closes.
pub(crate) async fn refuse<M: ToBrowser>(mut ws: WebSocket, message: String) {
    let _ = send(&mut ws, &M::error(message)).await;
    let _ = ws.send(Message::Close(None)).await;
}

/// Carries messages until the page leaves, the switchboard drops `events`, a last message is
/// sent or the server stops: the switchboard's events go to the page, the page's messages to
/// `handle`, whose refusals go back to the page.
pub(crate) async fn converse<'h, In, Out, F>(
    ws: &mut WebSocket,
    events: &mut mpsc::UnboundedReceiver<Out>,
    stopping: Option<Stopping>,
    mut handle: F,
) where
    In: DeserializeOwned,
    Out: ToBrowser,
    F: FnMut(In) -> BoxFuture<'h, Result<(), String>>,
{
    let stop = async move {
        match stopping {
            Some(s) => s.wait().await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(stop);
    loop {
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { break };
                if !send(ws, &event).await || event.is_last() {
                    break;
                }
            }
            incoming = ws.recv() => {
                let text = match incoming {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => continue,
                };
                let reply = match serde_json::from_str::<In>(&text) {
                    Ok(message) => handle(message).await,
                    Err(_) => Err(Out::NOT_UNDERSTOOD.to_owned()),
                };
                if let Err(message) = reply
                    && !send(ws, &Out::error(message)).await
                {
                    break;
                }
            }
            () = &mut stop => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_same_origin_handshakes_pass() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "127.0.0.1:8080".parse().unwrap());
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, "http://127.0.0.1:8080".parse().unwrap());
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        assert!(!same_origin(&h));
    }
}
