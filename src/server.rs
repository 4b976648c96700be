//! Starting and stopping the server: listeners, the store, the rooms, signals.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use guichet_tickets::Store;

use crate::clock::Clock;
use crate::config::Config;
use crate::prompts::PromptLibrary;
use crate::switchboard;
use crate::web_backend::ServerBackend;
use guichet_web::Backend;
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
    /// First port of the RTP range, overriding [rtp] port_min (the range keeps its size).
    #[arg(long)]
    pub rtp_port_min: Option<u16>,
    /// Run as if the time were this instant (RFC 3339, e.g. 2026-11-24T10:00:00+01:00),
    /// advancing in real time: to try the demo during opening hours, or to test closed hours
    /// and holidays. Call records carry this shifted time.
    #[arg(long)]
    pub clock_start: Option<chrono::DateTime<chrono::FixedOffset>>,
}

/// How the server was started (the demo prints its addresses and logins).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Serve,
    Demo,
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
    if let Some(min) = overrides.rtp_port_min {
        let size = loaded.config.rtp.port_max - loaded.config.rtp.port_min;
        loaded.config.rtp.port_min = min;
        loaded.config.rtp.port_max = min.saturating_add(size);
    }
    let clock = match overrides.clock_start {
        Some(start) => Clock::starting_at(start.with_timezone(&chrono::Utc)),
        None => Clock::system(),
    };
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

    if let Some(csv) = &config.directory.csv {
        import_directory(&store, &loaded, csv, clock.now()).await?;
    }

    let (sip_endpoint, sip_events) = guichet_sip::SipEndpoint::start(sip_config(config))
        .await
        .with_context(|| format!("cannot start SIP on {}", config.sip.listen))?;
    let sip_addr = sip_endpoint.local_addr();
    let sip = sip_endpoint.handle();
    let (media, media_events) = guichet_media::MediaEngine::start(guichet_media::MediaConfig {
        bind_ip: config.rtp.address,
        port_min: config.rtp.port_min,
        port_max: config.rtp.port_max,
        webrtc_port: config.rtp.webrtc_port,
        ..guichet_media::MediaConfig::default()
    })
    .context("cannot start the media engine")?;
    let shipped = config
        .prompts
        .shipped_dir
        .as_ref()
        .map(|p| loaded.resolve(p))
        .unwrap_or_else(|| crate::config::SHIPPED_PROMPTS_DIR.into());
    let override_dir = config
        .prompts
        .override_dir
        .as_ref()
        .map(|p| loaded.resolve(p));
    let messages_dir = match &database_url {
        url if url.starts_with("sqlite:") => std::path::PathBuf::from("guichet-messages"),
        _ => std::env::temp_dir().join("guichet-messages"),
    };
    std::fs::create_dir_all(&messages_dir)
        .with_context(|| format!("cannot create {}", messages_dir.display()))?;
    // Prompts replaced from the administration page go to the configured override directory,
    // or to `guichet-prompts/` in the working directory when none is configured.
    let override_dir = override_dir.unwrap_or_else(|| std::path::PathBuf::from("guichet-prompts"));
    let prompt_catalogue = Config::prompt_catalogue()?;
    let prompt_set = guichet_web::PromptSet {
        prompts: prompt_catalogue
            .iter()
            .map(|(id, text)| (id.to_owned(), text.to_owned()))
            .collect(),
        shipped_dir: shipped.clone(),
        override_dir: override_dir.clone(),
    };
    // Uploaded audio lives in the database; these directories are this node's cache of it,
    // filled before the switchboard plays anything and refreshed while it runs.
    let mut audio_cache = crate::audio_cache::AudioCache::new(
        store.clone(),
        override_dir.clone(),
        messages_dir.clone(),
    );
    let prompt_ids: Vec<&str> = prompt_set
        .prompts
        .iter()
        .map(|(id, _)| id.as_str())
        .collect();
    audio_cache
        .import_untracked_prompts(&prompt_ids, clock.now())
        .await
        .context("cannot keep the replaced prompts in the database")?;
    audio_cache
        .refresh()
        .await
        .context("cannot copy the stored audio to this node")?;
    let audio_cache_task = tokio::spawn(crate::audio_cache::run(audio_cache));
    let (switchboard, switchboard_task) = switchboard::start(switchboard::Parts {
        config: std::sync::Arc::new(config.clone()),
        store: store.clone(),
        sip: sip.clone(),
        sip_events,
        media: media.clone(),
        media_events,
        clock,
        prompts: PromptLibrary::new(prompt_catalogue, shipped, Some(override_dir)),
        messages_dir: messages_dir.clone(),
    })
    .await
    .context("cannot start the switchboard")?;

    // The live SLA clocks of open tickets (docs/sla.md, "Live runner").
    // The calendars and grids in force include what administrators saved (live_settings).
    // Nodes sharing one PostgreSQL database run one runner between them (docs/sla.md).
    let (sla_task, sla_handle) = match crate::sla_runner::live_policies(config) {
        Some(policies) => {
            // Fail at start on a grid or calendar that cannot be read, as before the lease.
            crate::live_settings::sla_engine(&store, config)
                .await
                .context("cannot build the SLA engine")?;
            let changes = crate::sla_runner::SlaChannel::default();
            let handle = changes.handle();
            let node = crate::sla_leader::SlaNode {
                store: store.clone(),
                config: std::sync::Arc::new(config.clone()),
                policies,
                clock,
                name: crate::sla_leader::node_name(config.http.listen),
                retry: crate::sla_leader::RETRY,
            };
            let (leading, _) = tokio::sync::watch::channel(false);
            (
                Some(tokio::spawn(crate::sla_leader::lead(
                    node, changes, leading,
                ))),
                Some(handle),
            )
        }
        None => (None, None),
    };

    let http_listener = tokio::net::TcpListener::bind(config.http.listen)
        .await
        .with_context(|| format!("cannot listen for HTTP on {}", config.http.listen))?;
    let http_addr = http_listener.local_addr()?;

    crate::web_backend::seed_accounts(&store, config, clock.now())
        .await
        .context("cannot seed the accounts from [[agents]]")?;
    seed_ticket_lists(&store, &config.tickets)
        .await
        .context("cannot seed the ticket lists from [tickets]")?;
    let server_backend = ServerBackend {
        started: Instant::now(),
        clock,
        settings: crate::web_backend::web_settings(config),
        tts: config.tts.clone(),
        store: store.clone(),
        sip: sip.clone(),
        media: media.clone(),
        switchboard: switchboard.clone(),
        messages_dir,
        prompt_set,
        config: std::sync::Arc::new(config.clone()),
        sla: sla_handle.clone(),
    };
    // Agents' queues and levels saved from the supervisors' page win over `[[agents]]`.
    crate::live_settings::apply_stored_memberships(&store, &switchboard)
        .await
        .context("cannot apply the saved agent queues")?;
    // Weekly hours and exceptional closures and openings saved from the administration page.
    server_backend
        .apply_stored_calendars()
        .await
        .context("cannot apply the stored calendar exceptions")?;
    // Calendars, SLA grids and agents' queues saved by another node on this database.
    let follower = crate::live_settings::SettingsFollower::new(
        store.clone(),
        server_backend.config.clone(),
        switchboard.clone(),
        sla_handle,
    )
    .await
    .context("cannot read the stored settings")?;
    let follower_task = tokio::spawn(crate::live_settings::follow(follower));
    let backend: Arc<dyn Backend> = Arc::new(server_backend);
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
        print_demo_banner(&loaded, sip_addr, http_addr);
    } else {
        // One machine-readable line, for scripts and tests that let the system pick ports.
        println!("guichet ready: sip={sip_addr} http={http_addr}");
    }
    tracing::info!(%sip_addr, %http_addr, "Guichet ready");

    signals.recv().await;
    // Stop taking calls (503), let the calls in progress finish within the grace period.
    let grace = std::time::Duration::from_secs(config.sip.shutdown_grace_secs);
    let second_signal = signals.recv();
    tokio::select! {
        result = switchboard.shutdown(grace) => {
            if let Err(e) = result {
                tracing::warn!(error = %e, "switchboard shutdown");
            }
        }
        () = second_signal => tracing::warn!("second signal: calls in progress are cut"),
    }
    let _ = switchboard_task.await;
    if let Some(task) = sla_task {
        task.abort();
    }
    audio_cache_task.abort();
    follower_task.abort();
    // Through the command queue, after the hang-ups the switchboard sent last.
    sip_endpoint.handle().shutdown();
    media.shutdown();
    let _ = stop_tx.send(true);
    web.await.context("the web task failed")??;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// The SIP room's configuration from Guichet's.
fn sip_config(config: &Config) -> guichet_sip::SipConfig {
    guichet_sip::SipConfig {
        listen: config.sip.listen,
        public_address: config.sip.advertised_address,
        lines: config.lines.iter().map(|l| l.number.clone()).collect(),
        realm: config.sip.realm.clone(),
        digest_algorithms: config.sip.digest_algorithms.clone(),
        trunk: config.sip.trunk.as_ref().map(|t| guichet_sip::TrunkConfig {
            address: t.address,
            domain: t.address.ip().to_string(),
            from_user: t.caller_id.clone().unwrap_or_else(|| "guichet".to_owned()),
            username: t.username.clone(),
            password: t.password.clone(),
        }),
        // A BYE's 200 OK waits for the call's close to be committed (the switchboard
        // confirms it); the room's own bound, a second after the switchboard's, is a safety net.
        bye_answer: guichet_sip::ByeAnswer::Deferred {
            bound: crate::switchboard::LOG_WAIT_BOUND + std::time::Duration::from_secs(1),
        },
        ..guichet_sip::SipConfig::default()
    }
}

/// Imports the directory CSV named in the configuration (the embedded one for the demo).
async fn import_directory(
    store: &Store,
    loaded: &LoadedConfig,
    csv: &std::path::Path,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    let report = if loaded.base_dir.is_none() {
        store
            .import_directory_csv(crate::config::DEMO_DIRECTORY_CSV.as_bytes(), now)
            .await?
    } else {
        let path = loaded.resolve(csv);
        let file = std::fs::File::open(&path)
            .with_context(|| format!("cannot read the directory {}", path.display()))?;
        store.import_directory_csv(file, now).await?
    };
    for rejected in &report.rejected {
        tracing::warn!(line = rejected.line, reason = %rejected.reason, "directory row rejected");
    }
    tracing::info!(
        inserted = report.inserted,
        updated = report.updated,
        rejected = report.rejected.len(),
        "directory imported"
    );
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

/// Adds the support groups, typologies and sub-categories of `[tickets]` that the store
/// does not have yet (matched by name). Nothing is renamed or removed: once seeded, the
/// lists are edited in the store.
pub async fn seed_ticket_lists(
    store: &Store,
    lists: &crate::config::TicketsSection,
) -> Result<(), guichet_tickets::StoreError> {
    let groups = store.support_groups().await?;
    for name in &lists.support_groups {
        if !groups.iter().any(|g| g.name == *name) {
            store.create_support_group(name).await?;
        }
    }
    let categories = store.categories().await?;
    for typology in &lists.typologies {
        let typology_id = match categories
            .iter()
            .find(|c| c.parent_id.is_none() && c.name == typology.name)
        {
            Some(existing) => existing.id,
            None => store.create_category(&typology.name, None).await?,
        };
        for sub in &typology.sub_categories {
            let known = categories
                .iter()
                .any(|c| c.parent_id == Some(typology_id) && c.name == *sub);
            if !known {
                store.create_category(sub, Some(typology_id)).await?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{redact_url, seed_ticket_lists};

    #[test]
    fn database_passwords_are_hidden() {
        assert_eq!(
            redact_url("postgres://guichet:secret@127.0.0.1/db"),
            "postgres://guichet:***@127.0.0.1/db"
        );
        assert_eq!(redact_url("sqlite://guichet.db"), "sqlite://guichet.db");
    }

    #[tokio::test]
    async fn ticket_lists_are_seeded_once_and_edits_in_the_store_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let store = guichet_tickets::Store::open(&url).await.unwrap();
        let lists = crate::config::load_demo().unwrap().config.tickets;
        assert!(!lists.typologies.is_empty() && !lists.support_groups.is_empty());
        seed_ticket_lists(&store, &lists).await.unwrap();
        let groups = store.support_groups().await.unwrap();
        assert_eq!(groups.len(), lists.support_groups.len());
        let categories = store.categories().await.unwrap();
        let expected: usize = lists
            .typologies
            .iter()
            .map(|t| 1 + t.sub_categories.len())
            .sum();
        assert_eq!(categories.len(), expected);
        let logiciels = categories
            .iter()
            .find(|c| c.name == "Logiciels" && c.parent_id.is_none())
            .expect("typology seeded");
        assert!(
            categories
                .iter()
                .any(|c| c.name == "Bureautique" && c.parent_id == Some(logiciels.id))
        );

        // An administrator renames a sub-category; a restart seeds again: nothing is
        // duplicated, and only the name that disappeared from the store comes back.
        let bureautique = categories.iter().find(|c| c.name == "Bureautique").unwrap();
        store
            .update_category(bureautique.id, "Suite bureautique", true)
            .await
            .unwrap();
        seed_ticket_lists(&store, &lists).await.unwrap();
        let again = store.categories().await.unwrap();
        assert_eq!(again.len(), expected + 1);
        assert!(again.iter().any(|c| c.name == "Suite bureautique"));
        assert_eq!(store.support_groups().await.unwrap().len(), groups.len());
    }
}
