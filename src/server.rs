//! Starting and stopping the server: listeners, the store, the rooms, signals.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use guichet_tickets::Store;
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
    store: Store,
}

impl Backend for ServerBackend {
    fn health(&self) -> BoxFuture<'_, Vec<Check>> {
        Box::pin(async move {
            let database = match self.store.calls_in_flight().await {
                Ok(_) => Check {
                    name: "database".to_owned(),
                    ok: true,
                    detail: None,
                },
                Err(e) => Check {
                    name: "database".to_owned(),
                    ok: false,
                    detail: Some(e.to_string()),
                },
            };
            vec![database]
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

/// SIGINT and SIGTERM, registered as soon as the server starts so that a signal arriving
/// during start-up is not lost (the default action would kill the process uncleanly).
struct ShutdownSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    fn register() -> anyhow::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                interrupt: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
                terminate: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// Resolves when SIGINT or SIGTERM arrives.
    async fn recv(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => tracing::info!("SIGINT received, shutting down"),
            _ = self.terminate.recv() => tracing::info!("SIGTERM received, shutting down"),
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("Ctrl-C received, shutting down");
        }
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
    let mut signals = ShutdownSignals::register()?;
    let config = &loaded.config;
    let database_url = database.unwrap_or_else(|| config.database.url.clone());
    tracing::info!(config = %loaded.file, database = %redact_url(&database_url), "starting Guichet");

    let store = Store::open(&database_url)
        .await
        .with_context(|| format!("cannot open the database {}", redact_url(&database_url)))?;
    let interrupted = store
        .mark_in_flight_interrupted(chrono::Utc::now())
        .await
        .context("cannot mark the calls interrupted by the last stop")?;
    if interrupted > 0 {
        tracing::warn!(
            calls = interrupted,
            "calls in progress at the last stop were marked interrupted"
        );
    }

    let http_listener = tokio::net::TcpListener::bind(config.http.listen)
        .await
        .with_context(|| format!("cannot listen for HTTP on {}", config.http.listen))?;
    let http_addr = http_listener.local_addr()?;

    let backend: Arc<dyn Backend> = Arc::new(ServerBackend {
        started: Instant::now(),
        store: store.clone(),
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

    signals.recv().await;
    let _ = stop_tx.send(true);
    web.await.context("the web task failed")??;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Creates or upgrades the schema of `database` and returns.
pub async fn migrate(database: &str) -> anyhow::Result<()> {
    let store = Store::open(database)
        .await
        .with_context(|| format!("cannot migrate {}", redact_url(database)))?;
    store.close().await;
    println!("{}: schema up to date", redact_url(database));
    Ok(())
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
