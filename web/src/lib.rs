//! The `web` room: Guichet's HTTP face.
//!
//! One job: serve people and programs over HTTP — the health check (`/healthz`), the
//! Prometheus metrics (`/metrics`), and, as they land, the agent desk, the supervisor's
//! wallboard and message editor, the administration pages and the JSON API (`/api/v1`).
//!
//! It never reaches into the `sip` or `media` rooms: everything live comes through the
//! [`Backend`] the binary gives it (health probes, metrics collection, and later the
//! switchboard handle).
//!
//! Public API:
//! - [`Backend`]: what the binary implements for the web room.
//! - [`router`]: the axum router for a backend.
//! - [`serve`]: serves a router on a bound listener until the shutdown future resolves.
//! - [`metrics::MetricsText`]: the Prometheus text writer the binary fills.

pub mod metrics;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
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

/// What the binary provides to the web room.
pub trait Backend: Send + Sync + 'static {
    /// Runs the health checks (database reachable, listeners up, ...).
    fn health(&self) -> BoxFuture<'_, Vec<Check>>;
    /// Renders all metrics in Prometheus text format.
    fn metrics(&self) -> BoxFuture<'_, String>;
}

#[derive(Clone)]
struct AppState {
    backend: Arc<dyn Backend>,
}

/// The router for a backend.
pub fn router(backend: Arc<dyn Backend>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(AppState { backend })
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

/// Serves `router` on `listener` until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    struct FakeDown;

    impl Backend for FakeDown {
        fn health(&self) -> BoxFuture<'_, Vec<Check>> {
            Box::pin(async {
                vec![Check {
                    name: "database".into(),
                    ok: false,
                    detail: Some("connection refused".into()),
                }]
            })
        }
        fn metrics(&self) -> BoxFuture<'_, String> {
            Box::pin(async { "guichet_up 1\n".to_owned() })
        }
    }

    #[tokio::test]
    async fn healthz_reports_503_when_a_check_fails_and_metrics_is_prometheus_text() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, router(Arc::new(FakeDown)), async {
            let _ = rx.await;
        }));
        let client = reqwest::Client::new();
        let health = client
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), 503);
        let body: serde_json::Value = health.json().await.unwrap();
        assert_eq!(body["status"], "degraded");
        assert_eq!(body["checks"][0]["detail"], "connection refused");
        let metrics = client
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .unwrap();
        assert!(
            metrics.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/plain; version=0.0.4")
        );
        assert_eq!(metrics.text().await.unwrap(), "guichet_up 1\n");
        let _ = tx.send(());
        server.await.unwrap().unwrap();
    }
}
