//! Starting and stopping the server: listeners, the store, the rooms, signals.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use guichet_web::metrics::{MetricKind, MetricsText};
use guichet_web::{Backend, BoxFuture, Check};
use tokio::sync::watch;

use crate::config::LoadedConfig;

/// Command-line overrides of listen addresses (port 0 lets the system choose, which is
/// what tests and a second demo on the same machine use).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Overrides {
    /// SIP listen address (UDP and TCP), overriding [sip] listen.
    #[arg(long)]
    pub sip_listen: Option<SocketAddr>,
    /// HTTP listen address, overriding [http] listen.
    #[arg(long)]
    pub http_listen: Option<SocketAddr>,
}

/// How the server was started (the demo prints its addresses and logins).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Serve,
    Demo,
}

struct ServerBackend {
    started: Instant,
}

impl Backend for ServerBackend {
    fn health(&self) -> BoxFuture<'_, Vec<Check>> {
        Box::pin(async move {
            vec![Check {
                name: "http".to_owned(),
                ok: true,
                detail: None,
            }]
        })
    }

    fn metrics(&self) -> BoxFuture<'_, String> {
        Box::pin(async move {
            let mut m = MetricsText::new();
            m.family(
                "guichet_build_info",
                "Version of the running Guichet.",
                MetricKind::Gauge,
            )
            .sample(&[("version", env!("CARGO_PKG_VERSION"))], 1.0);
            m.single(
                "guichet_uptime_seconds",
                "Seconds since the server started.",
                MetricKind::Gauge,
                self.started.elapsed().as_secs_f64().floor(),
            );
            m.finish()
        })
    }
}

/// Resolves when SIGINT or SIGTERM arrives.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received, shutting down"),
        () = term => tracing::info!("SIGTERM received, shutting down"),
    }
}

/// Runs the server until SIGINT/SIGTERM.
pub async fn run(
    mut loaded: LoadedConfig,
    database: Option<String>,
    overrides: Overrides,
    mode: Mode,
) -> anyhow::Result<()> {
    if let Some(addr) = overrides.sip_listen {
        loaded.config.sip.listen = addr;
    }
    if let Some(addr) = overrides.http_listen {
        loaded.config.http.listen = addr;
    }
    let config = &loaded.config;
    let database_url = database.unwrap_or_else(|| config.database.url.clone());
    tracing::info!(config = %loaded.file, database = %redact_url(&database_url), "starting Guichet");

    let http_listener = tokio::net::TcpListener::bind(config.http.listen)
        .await
        .with_context(|| format!("cannot listen for HTTP on {}", config.http.listen))?;
    let http_addr = http_listener.local_addr()?;

    let backend: Arc<dyn Backend> = Arc::new(ServerBackend {
        started: Instant::now(),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut web_stop = stop_rx.clone();
    let web = tokio::spawn(guichet_web::serve(
        http_listener,
        guichet_web::router(backend),
        async move {
            let _ = web_stop.wait_for(|stop| *stop).await;
        },
    ));

    if mode == Mode::Demo {
        print_demo_banner(&loaded, config.sip.listen, http_addr);
    }
    tracing::info!(%http_addr, "HTTP listening");

    shutdown_signal().await;
    let _ = stop_tx.send(true);
    web.await.context("the web task failed")??;
    tracing::info!("stopped");
    Ok(())
}

/// Creates or upgrades the schema of `database` and returns.
pub async fn migrate(database: &str) -> anyhow::Result<()> {
    anyhow::bail!(
        "cannot migrate {}: the store is not wired into this build yet",
        redact_url(database)
    )
}

fn print_demo_banner(loaded: &LoadedConfig, sip: SocketAddr, http: SocketAddr) {
    let config = &loaded.config;
    println!("Guichet démo : prêt.");
    println!();
    println!("  SIP (UDP et TCP) : sip:{sip}");
    for line in &config.lines {
        println!(
            "    appeler {:<6} {}  →  sip:{}@{}",
            line.number, line.name, line.number, sip
        );
    }
    println!("  Web : http://{http}/");
    println!();
    println!("  Comptes de démonstration :");
    for agent in &config.agents {
        let roles: Vec<String> = agent
            .roles
            .iter()
            .map(|r| format!("{r:?}").to_lowercase())
            .collect();
        println!(
            "    {:<15} mot de passe {:<22} rôles {:<20} {}",
            agent.login,
            agent.password.as_deref().unwrap_or("-"),
            roles.join(","),
            agent
                .extension
                .as_ref()
                .map(|e| format!(
                    "poste SIP {e} (secret {})",
                    agent.sip_secret.as_deref().unwrap_or("-")
                ))
                .unwrap_or_default()
        );
    }
    println!();
    println!("  Arrêt : Ctrl-C");
}

/// Hides the password of a database URL before it is logged.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn database_passwords_are_hidden() {
        assert_eq!(
            redact_url("postgres://guichet:secret@127.0.0.1/db"),
            "postgres://guichet:***@127.0.0.1/db"
        );
        assert_eq!(redact_url("sqlite://guichet.db"), "sqlite://guichet.db");
    }
}
