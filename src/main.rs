//! `guichet`: the contact-centre server for public-sector IT helpdesks.
//!
//! The binary is the only place that wires the rooms together: it reads the configuration,
//! opens the store, starts the SIP, media and web rooms, and runs the switchboard that owns
//! the live engines (see docs/architecture.md).

use guichet::{config, server};

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};

/// Guichet: SIP/RTP contact centre with a French IVR, VIP-first queues, tickets and SLAs.
#[derive(Debug, Parser)]
#[command(name = "guichet", version, about, long_about = None)]
struct Cli {
    /// Log format on standard error.
    #[arg(long, value_enum, default_value_t = LogFormat::Human, global = true)]
    log_format: LogFormat,
    /// Log filter (tracing-subscriber EnvFilter syntax); RUST_LOG is used when absent.
    #[arg(long, global = true)]
    log: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server with a configuration file.
    Serve {
        /// The TOML configuration (see docs/configuration.md).
        #[arg(long, short)]
        config: PathBuf,
        /// Database URL (`sqlite://FILE` or `postgres://...`); overrides [database] url.
        #[arg(long)]
        database: Option<String>,
        #[command(flatten)]
        overrides: server::Overrides,
    },
    /// Run the demo: the embedded demo configuration and a SQLite file in the working directory.
    Demo {
        /// Database URL; defaults to `sqlite://guichet-demo.db` in the working directory.
        #[arg(long)]
        database: Option<String>,
        #[command(flatten)]
        overrides: server::Overrides,
    },
    /// Validate a configuration file and exit (non-zero with located errors when invalid).
    CheckConfig {
        /// The TOML configuration to check.
        file: PathBuf,
    },
    /// Replay monthly call volumes through the real ACD engine with simulated time and print
    /// the answered/abandoned/answer-rate/service-level figures per month (docs/acd.md).
    Simulate {
        /// CSV of monthly volumes (`month,calls_presented,calls_served,tickets_opened`);
        /// defaults to the 15 published months of the Ministry of Culture service desk.
        #[arg(long)]
        volumes: Option<PathBuf>,
        /// Agents on the phones during the shift.
        #[arg(long, default_value_t = 3)]
        agents: u32,
        /// Mean caller patience in seconds (exponential distribution).
        #[arg(long, default_value_t = 120)]
        patience_secs: u32,
        /// Seed of the random draws (the same seed gives the same figures).
        #[arg(long, default_value_t = 2024)]
        seed: u64,
    },
    /// Set or remove a line's crisis or deterrence message (message de crise, de dissuasion)
    /// in the store; a running server plays it to the next caller within a second.
    Message {
        /// The TOML configuration of the server (lines, TTS settings, database).
        #[arg(long, short)]
        config: PathBuf,
        /// Database URL; overrides [database] url.
        #[arg(long)]
        database: Option<String>,
        /// The line (dialled number), e.g. 8585.
        #[arg(long)]
        line: String,
        /// Which message.
        #[arg(long, value_enum)]
        kind: guichet::message::Kind,
        /// The French text, synthesised with espeak-ng; omit it with --remove.
        #[arg(long, required_unless_present = "remove")]
        text: Option<String>,
        /// Remove the message instead of setting it.
        #[arg(long)]
        remove: bool,
        /// Login of the supervisor or admin making the change (journaled).
        #[arg(long)]
        author: String,
    },
    /// Create or upgrade the database schema and exit.
    Migrate {
        /// Database URL (`sqlite://FILE` or `postgres://...`).
        #[arg(long)]
        database: String,
    },
}

fn init_logging(format: LogFormat, filter: Option<&str>) {
    use tracing_subscriber::EnvFilter;
    // rsipstack logs every packet at info: keep it at warn unless asked otherwise.
    let default = "info,rsipstack=warn,sqlx=warn";
    let filter = match filter {
        Some(f) => EnvFilter::new(f),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default)),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format, cli.log.as_deref());
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("guichet: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::CheckConfig { file } => match config::load_file(&file) {
            Ok(loaded) => {
                let c = &loaded.config;
                println!(
                    "{}: valid ({} lines, {} queues, {} agents)",
                    loaded.file,
                    c.lines.len(),
                    c.queues.len(),
                    c.agents.len()
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(errors) => {
                eprintln!("{errors}");
                Ok(ExitCode::from(2))
            }
        },
        Command::Serve {
            config,
            database,
            overrides,
        } => {
            let loaded = match config::load_file(&config) {
                Ok(l) => l,
                Err(errors) => {
                    eprintln!("{errors}");
                    return Ok(ExitCode::from(2));
                }
            };
            runtime()?.block_on(server::run(
                loaded,
                database,
                overrides,
                server::Mode::Serve,
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo {
            database,
            overrides,
        } => {
            let loaded = config::load_demo()
                .map_err(|e| anyhow::anyhow!("the embedded demo configuration is invalid:\n{e}"))?;
            runtime()?.block_on(server::run(loaded, database, overrides, server::Mode::Demo))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Simulate {
            volumes,
            agents,
            patience_secs,
            seed,
        } => {
            let csv = match volumes {
                Some(path) => std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?,
                None => guichet::simulate::PUBLISHED_VOLUMES.to_owned(),
            };
            let text = guichet::simulate::run(&csv, agents, patience_secs, seed)?;
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Message {
            config,
            database,
            line,
            kind,
            text,
            remove,
            author,
        } => {
            let loaded = match config::load_file(&config) {
                Ok(l) => l,
                Err(errors) => {
                    eprintln!("{errors}");
                    return Ok(ExitCode::from(2));
                }
            };
            let request = guichet::message::Request {
                line,
                kind,
                text: if remove { None } else { text },
                author,
            };
            let said = runtime()?.block_on(guichet::message::run(&loaded, database, request))?;
            println!("{said}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate { database } => {
            runtime()?.block_on(server::migrate(&database))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("guichet")
        .build()
        .context("cannot start the async runtime")
}
