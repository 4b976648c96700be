//! The TOML configuration: its schema, loading, and validation with errors that name the
//! file, line, column and field.
//!
//! The schema embeds the rooms' own specification types where a room owns the meaning of a
//! section (calendars, IVR flows, queues, SLA policies); this module owns the sections that
//! are about wiring (addresses, lines, agents, the directory source) and the cross-references
//! between sections (a line naming a queue that does not exist, ...).

pub mod locate;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use locate::{PathStep, line_col, path_at, render_path, span_of};

/// The reference configuration, embedded in the binary for `guichet demo`.
pub const DEMO_CONFIG: &str = include_str!("../../demo/guichet.toml");
/// The name the demo configuration is reported under in errors.
pub const DEMO_CONFIG_NAME: &str = "demo/guichet.toml";
/// The demo directory of people, embedded next to the demo configuration.
pub const DEMO_DIRECTORY_CSV: &str = include_str!("../../demo/directory.csv");

pub use guichet_acd::QueueConfig;
pub use guichet_calendar::CalendarSpec;
pub use guichet_ivr::tts::TtsOptions;
pub use guichet_ivr::{DeterrenceThresholds, FlowSpec};
pub use guichet_tickets::sla::SlaPolicySpec;

/// The shipped prompt catalogue (prompt id → French text), embedded in the binary.
pub const PROMPT_CATALOGUE: &str = include_str!("../../sounds/fr/prompts.toml");
/// Where the shipped prompts are when Guichet runs from its source tree.
pub const SHIPPED_PROMPTS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/sounds/fr");

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerSection,
    pub sip: SipSection,
    pub rtp: RtpSection,
    pub http: HttpSection,
    #[serde(default)]
    pub database: DatabaseSection,
    #[serde(default)]
    pub stats: StatsSection,
    #[serde(default)]
    pub directory: DirectorySection,
    #[serde(default)]
    pub tickets: TicketsSection,
    #[serde(default)]
    pub prompts: PromptsSection,
    #[serde(default)]
    pub tts: TtsOptions,
    #[serde(default)]
    pub calendars: BTreeMap<String, CalendarSpec>,
    #[serde(default)]
    pub lines: Vec<LineSection>,
    #[serde(default)]
    pub flows: BTreeMap<String, FlowSpec>,
    #[serde(default)]
    pub queues: Vec<QueueConfig>,
    #[serde(default)]
    pub agents: Vec<AgentSection>,
    #[serde(default)]
    pub sla_policies: BTreeMap<String, SlaPolicySpec>,
}

/// `[server]`: identity of this installation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Shown in page titles and logs.
    #[serde(default = "default_server_name")]
    pub name: String,
    /// IANA zone used for reports and "since midnight" figures.
    #[serde(default = "default_timezone")]
    pub timezone: String,
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            name: default_server_name(),
            timezone: default_timezone(),
        }
    }
}

fn default_server_name() -> String {
    "Guichet".to_owned()
}

fn default_timezone() -> String {
    "Europe/Paris".to_owned()
}

/// `[sip]`: signalling.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipSection {
    /// Address for both UDP and TCP, e.g. `0.0.0.0:5060`.
    pub listen: SocketAddr,
    /// Address written in Contact and SDP when `listen` is a wildcard.
    #[serde(default)]
    pub advertised_address: Option<IpAddr>,
    /// Digest realm for REGISTER and agent INVITEs.
    #[serde(default = "default_realm")]
    pub realm: String,
    /// Digest algorithms offered to desk phones, in order of preference (RFC 8760):
    /// `sha256`, `md5`. Some older phones and test tools read only the first challenge.
    #[serde(default = "default_digest")]
    pub digest_algorithms: Vec<guichet_sip::digest::DigestAlgorithm>,
    /// Above this many calls in progress, new calls get 503 with Retry-After.
    #[serde(default = "default_max_calls")]
    pub max_concurrent_calls: u32,
    /// Above this many new calls per second, new calls get 503 with Retry-After.
    #[serde(default = "default_max_cps")]
    pub max_calls_per_second: u32,
    /// Calls refused with 503 (overload, shutdown) recorded one by one per second at most;
    /// beyond, they are counted per minute (docs/operations.md). Default 20.
    #[serde(default = "default_refused_recorded")]
    pub refused_calls_recorded_per_second: u32,
    /// On SIGTERM, calls in progress may finish during this many seconds.
    #[serde(default = "default_grace")]
    pub shutdown_grace_secs: u64,
    /// The trunk used for outbound calls (callbacks, overflow to an external number).
    #[serde(default)]
    pub trunk: Option<TrunkSection>,
}

fn default_realm() -> String {
    "guichet".to_owned()
}
fn default_digest() -> Vec<guichet_sip::digest::DigestAlgorithm> {
    guichet_sip::SipConfig::default().digest_algorithms
}
fn default_max_calls() -> u32 {
    500
}
fn default_max_cps() -> u32 {
    50
}
fn default_refused_recorded() -> u32 {
    20
}
fn default_grace() -> u64 {
    30
}

/// `[sip.trunk]`: where outbound calls go.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkSection {
    /// The trunk's SIP address, e.g. `192.0.2.10:5060`.
    pub address: SocketAddr,
    /// Digest user name, when the trunk challenges.
    #[serde(default)]
    pub username: Option<String>,
    /// Digest secret, when the trunk challenges.
    #[serde(default)]
    pub password: Option<String>,
    /// Number presented to called parties (caller ID).
    #[serde(default)]
    pub caller_id: Option<String>,
}

/// `[rtp]`: media ports.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RtpSection {
    /// Local address for RTP/RTCP sockets.
    pub address: IpAddr,
    /// First port of the range (even).
    pub port_min: u16,
    /// Last port of the range.
    pub port_max: u16,
    /// UDP port of the shared WebRTC socket for browser softphones (0: chosen by the
    /// system); absent: no browser softphone.
    #[serde(default)]
    pub webrtc_port: Option<u16>,
}

/// `[http]`: the web pages, API, metrics and health check.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    pub listen: SocketAddr,
    /// Set when Guichet is served over TLS by a reverse proxy: cookies get `Secure`.
    #[serde(default)]
    pub secure_cookies: bool,
}

/// `[database]`: where the store lives (overridden by `--database`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSection {
    #[serde(default = "default_database_url")]
    pub url: String,
}

impl Default for DatabaseSection {
    fn default() -> Self {
        Self {
            url: default_database_url(),
        }
    }
}

fn default_database_url() -> String {
    "sqlite://guichet.db".to_owned()
}

/// `[stats]`: the thresholds in the statistics definitions (docs/statistics.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsSection {
    /// Abandons shorter than this are counted apart (short abandons).
    #[serde(default = "default_short_abandon")]
    pub short_abandon_secs: u32,
    /// Service level: answered within this many seconds.
    #[serde(default = "default_service_level")]
    pub service_level_secs: u32,
}

impl Default for StatsSection {
    fn default() -> Self {
        Self {
            short_abandon_secs: default_short_abandon(),
            service_level_secs: default_service_level(),
        }
    }
}

fn default_short_abandon() -> u32 {
    5
}
fn default_service_level() -> u32 {
    20
}

/// `[directory]`: the people Guichet recognises by caller number.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectorySection {
    /// CSV file imported at start (relative to the configuration file).
    #[serde(default)]
    pub csv: Option<PathBuf>,
}

/// `[tickets]`: the starting lists of the ticket forms. They are seeded into the store at
/// start when missing (matched by name); after that the lists live in the store and are
/// edited there, so removing a name from the file does not delete it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketsSection {
    /// Support groups a ticket can be assigned to (« groupes de support »).
    #[serde(default)]
    pub support_groups: Vec<String>,
    /// Typologies, each with its sub-categories.
    #[serde(default)]
    pub typologies: Vec<TypologySection>,
}

/// `[[tickets.typologies]]`: one typology and its sub-categories.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypologySection {
    /// Name shown in the form, in French.
    pub name: String,
    /// Sub-categories, in French.
    #[serde(default)]
    pub sub_categories: Vec<String>,
}

/// `[prompts]`: where the French prompts are read from.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptsSection {
    /// Directory of the shipped prompts (`<id>.wav`); default: `sounds/fr` of the source tree.
    #[serde(default)]
    pub shipped_dir: Option<PathBuf>,
    /// Directory where administrators put recorded WAVs that replace prompts of the same id.
    #[serde(default)]
    pub override_dir: Option<PathBuf>,
}

/// `[[lines]]`: a dialled number and what happens to its callers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineSection {
    /// The dialled number (user part of the Request-URI), e.g. `8585`.
    pub number: String,
    /// Name shown to agents and supervisors.
    pub name: String,
    /// The IVR flow callers enter (a key of `[flows]`).
    pub flow: String,
    /// Opening hours of the line (a key of `[calendars]`).
    pub calendar: String,
    /// The queues this line's flow may route to (keys of `[queues]`).
    pub queues: Vec<String>,
    /// SLA policy for tickets opened from this line's calls (a key of `[sla_policies]`).
    #[serde(default)]
    pub sla_policy: Option<String>,
    /// Thresholds that switch the deterrence message on automatically.
    #[serde(default)]
    pub deterrence: DeterrenceThresholds,
}

/// A role of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Agent,
    Supervisor,
    Admin,
}

/// `[[agents]]`: a nominative account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSection {
    /// Login name (unique).
    pub login: String,
    /// Display name shown on the wallboard.
    pub name: String,
    pub roles: Vec<Role>,
    /// SIP extension of the agent's desk phone (REGISTER user name).
    #[serde(default)]
    pub extension: Option<String>,
    /// Digest secret of the desk phone.
    #[serde(default)]
    pub sip_secret: Option<String>,
    /// Digest algorithms this desk phone is challenged with, instead of
    /// `[sip] digest_algorithms` (for a phone that cannot answer the server's first choice).
    #[serde(default)]
    pub digest_algorithms: Option<Vec<guichet_sip::digest::DigestAlgorithm>>,
    /// Initial web password (demo only; hashed with argon2 into the store at start).
    #[serde(default)]
    pub password: Option<String>,
    /// Queue memberships: queue name → skill level (1 = best).
    #[serde(default)]
    pub queues: BTreeMap<String, u8>,
}

/// A configuration error, located in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// Dotted path of the offending field, e.g. `lines[0].queues[1]`.
    pub field: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file, self.line, self.column, self.field, self.message
        )
    }
}

impl std::error::Error for ConfigError {}

/// All the errors found in one file (a file may have several semantic errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// A loaded and validated configuration, with where it came from.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    /// The name errors are reported under.
    pub file: String,
    /// Directory that relative paths are resolved against (`None` for the embedded demo).
    pub base_dir: Option<PathBuf>,
}

impl Config {
    /// The queue named `name`.
    pub fn queue(&self, name: &str) -> Option<&QueueConfig> {
        self.queues.iter().find(|q| q.name == name)
    }

    /// The ACD engine's configuration: the queues and every agent's memberships.
    pub fn acd_config(&self) -> guichet_acd::AcdConfig {
        guichet_acd::AcdConfig {
            queues: self.queues.clone(),
            agents: self
                .agents
                .iter()
                .map(|a| guichet_acd::AgentConfig {
                    login: a.login.clone(),
                    queues: a
                        .queues
                        .iter()
                        .map(|(queue, level)| guichet_acd::Membership {
                            queue: queue.clone(),
                            level: *level,
                        })
                        .collect(),
                })
                .collect(),
            time_zone: self
                .server
                .timezone
                .parse()
                .unwrap_or(chrono_tz::Europe::Paris),
            stats: guichet_acd::stats::StatsParams {
                short_abandon: chrono::TimeDelta::seconds(i64::from(self.stats.short_abandon_secs)),
                service_level_threshold: chrono::TimeDelta::seconds(i64::from(
                    self.stats.service_level_secs,
                )),
            },
            ..guichet_acd::AcdConfig::default()
        }
    }

    /// The shipped prompt catalogue.
    pub fn prompt_catalogue() -> Result<guichet_ivr::PromptCatalogue, guichet_ivr::CatalogueError> {
        guichet_ivr::PromptCatalogue::from_toml_str(PROMPT_CATALOGUE)
    }
}

impl LoadedConfig {
    /// Resolves a path written in the configuration.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        match &self.base_dir {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path.to_path_buf(),
        }
    }
}

/// Reads and validates a configuration file.
pub fn load_file(path: &Path) -> Result<LoadedConfig, ConfigErrors> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: file.clone(),
            line: 0,
            column: 0,
            field: "-".to_owned(),
            message: format!("cannot read the file: {e}"),
        }])
    })?;
    let base_dir = path
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .map(Path::to_path_buf);
    let config = parse(&file, &text)?;
    Ok(LoadedConfig {
        config,
        file,
        base_dir,
    })
}

/// The embedded demo configuration.
pub fn load_demo() -> Result<LoadedConfig, ConfigErrors> {
    let config = parse(DEMO_CONFIG_NAME, DEMO_CONFIG)?;
    Ok(LoadedConfig {
        config,
        file: DEMO_CONFIG_NAME.to_owned(),
        base_dir: None,
    })
}

/// Parses and validates configuration text; `file` is the name used in errors.
pub fn parse(file: &str, text: &str) -> Result<Config, ConfigErrors> {
    let config: Config = toml::from_str(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        let (line, column) = line_col(text, offset);
        let path = path_at(text, offset);
        let field = if path.is_empty() {
            "-".to_owned()
        } else {
            render_path(&path)
        };
        ConfigErrors(vec![ConfigError {
            file: file.to_owned(),
            line,
            column,
            field,
            message: e.message().trim().to_owned(),
        }])
    })?;
    let problems = validate(&config);
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(ConfigErrors(
            problems
                .into_iter()
                .map(|(path, message)| {
                    let offset = span_of(text, &path).map_or(0, |s| s.start);
                    let (line, column) = line_col(text, offset);
                    ConfigError {
                        file: file.to_owned(),
                        line,
                        column,
                        field: render_path(&path),
                        message,
                    }
                })
                .collect(),
        ))
    }
}

/// Rooms report their validation errors as `path.to[1].field: message`; splits that into
/// path steps (relative to the room's section) and the message.
fn split_room_error(text: &str) -> (Vec<PathStep>, String) {
    let Some((path, message)) = text.split_once(": ") else {
        return (Vec::new(), text.to_owned());
    };
    if path.is_empty() || path.contains(' ') {
        return (Vec::new(), text.to_owned());
    }
    let mut steps = Vec::new();
    for part in path.split('.') {
        let (name, rest) = part.split_once('[').unwrap_or((part, ""));
        if !name.is_empty() {
            steps.push(PathStep::Key(name.to_owned()));
        }
        for index in rest.split('[') {
            if let Ok(i) = index.trim_end_matches(']').parse::<usize>() {
                steps.push(PathStep::Index(i));
            }
        }
    }
    (steps, message.to_owned())
}

/// Compiles every flow against the prompt catalogue and checks the queues it routes to.
fn validate_flows(
    config: &Config,
    queue_names: &BTreeSet<&str>,
    problems: &mut Vec<(Vec<PathStep>, String)>,
) {
    let catalogue = match Config::prompt_catalogue() {
        Ok(c) => c,
        Err(e) => {
            problems.push((
                vec![key("flows")],
                format!("the prompt catalogue is invalid: {e}"),
            ));
            return;
        }
    };
    for (name, spec) in &config.flows {
        let base = vec![key("flows"), key(name)];
        for (node_name, node) in &spec.nodes {
            if let guichet_ivr::NodeSpec::Queue { queue, .. } = node
                && !queue_names.contains(queue.as_str())
            {
                let mut path = base.clone();
                path.extend([key("nodes"), key(node_name), key("queue")]);
                problems.push((path, format!("no queue named {queue:?} in [[queues]]")));
            }
        }
        if let Err(e) = spec.clone().compile(&catalogue) {
            use guichet_ivr::FlowError as F;
            let mut path = base.clone();
            match &e {
                F::MissingStart { .. } => path.push(key("start")),
                F::MissingNode { node, .. }
                | F::MissingPrompt { node, .. }
                | F::Unreachable { node, .. }
                | F::LoopWithoutInput { node, .. }
                | F::InvalidNode { node, .. } => path.extend([key("nodes"), key(node)]),
                F::InvalidSetting { field, .. } => path.push(key(field)),
                F::EmptyName => path.push(key("name")),
                _ => {}
            }
            problems.push((path, e.to_string()));
        }
    }
}

/// The ACD's own checks of the queues (timeouts, overflow rules), located in the file.
fn validate_queues(config: &Config, problems: &mut Vec<(Vec<PathStep>, String)>) {
    let acd = guichet_acd::AcdConfig {
        queues: config.queues.clone(),
        ..guichet_acd::AcdConfig::default()
    };
    if let Err(guichet_acd::ConfigError::Invalid {
        item,
        field,
        problem,
    }) = acd.validate()
    {
        let index = config
            .queues
            .iter()
            .position(|q| item == format!("queue \"{}\"", q.name))
            .or_else(|| {
                item.strip_prefix("queues[")
                    .and_then(|rest| rest.trim_end_matches(']').parse().ok())
            });
        let mut path = vec![key("queues")];
        if let Some(i) = index {
            path.push(PathStep::Index(i));
        }
        let (inner, _) = split_room_error(&format!("{field}: -"));
        path.extend(inner);
        problems.push((path, problem));
    }
}

fn key(k: &str) -> PathStep {
    PathStep::Key(k.to_owned())
}

/// Cross-references and value checks that serde cannot express.
/// Names in the ticket lists must be non-empty and unique where the store matches them.
fn validate_ticket_lists(tickets: &TicketsSection, problems: &mut Vec<(Vec<PathStep>, String)>) {
    let mut groups = BTreeSet::new();
    for (i, name) in tickets.support_groups.iter().enumerate() {
        let at = vec![key("tickets"), key("support_groups"), PathStep::Index(i)];
        if name.trim().is_empty() {
            problems.push((at, "a support group needs a name".to_owned()));
        } else if !groups.insert(name.trim()) {
            problems.push((at, format!("support group {name:?} is listed twice")));
        }
    }
    let mut typologies = BTreeSet::new();
    for (i, typology) in tickets.typologies.iter().enumerate() {
        let at = |field: &str| {
            vec![
                key("tickets"),
                key("typologies"),
                PathStep::Index(i),
                key(field),
            ]
        };
        if typology.name.trim().is_empty() {
            problems.push((at("name"), "a typology needs a name".to_owned()));
        } else if !typologies.insert(typology.name.trim()) {
            problems.push((
                at("name"),
                format!("typology {:?} is listed twice", typology.name),
            ));
        }
        let mut subs = BTreeSet::new();
        for sub in &typology.sub_categories {
            if sub.trim().is_empty() || !subs.insert(sub.trim()) {
                problems.push((
                    at("sub_categories"),
                    format!("empty or repeated sub-category {sub:?}"),
                ));
            }
        }
    }
}

fn validate(config: &Config) -> Vec<(Vec<PathStep>, String)> {
    let mut problems = Vec::new();

    if config.server.timezone.parse::<chrono_tz::Tz>().is_err() {
        problems.push((
            vec![key("server"), key("timezone")],
            format!(
                "unknown IANA time zone {:?} (e.g. \"Europe/Paris\")",
                config.server.timezone
            ),
        ));
    }

    let rtp = &config.rtp;
    if !rtp.port_min.is_multiple_of(2) {
        problems.push((
            vec![key("rtp"), key("port_min")],
            "must be even (RTP on even ports, RTCP on the next odd port)".to_owned(),
        ));
    }
    if rtp.port_max <= rtp.port_min || rtp.port_max - rtp.port_min < 3 {
        problems.push((
            vec![key("rtp"), key("port_max")],
            format!(
                "the range {}-{} must hold at least two RTP/RTCP pairs",
                rtp.port_min, rtp.port_max
            ),
        ));
    }

    for (name, spec) in &config.calendars {
        if let Err(e) = guichet_calendar::Calendar::new(spec) {
            let (inner, message) = split_room_error(&e.to_string());
            let mut path = vec![key("calendars"), key(name)];
            path.extend(inner);
            problems.push((path, message));
        }
    }

    validate_ticket_lists(&config.tickets, &mut problems);

    let queue_names: BTreeSet<&str> = config.queues.iter().map(|q| q.name.as_str()).collect();
    validate_flows(config, &queue_names, &mut problems);
    validate_queues(config, &mut problems);
    if let Err(e) = config.tts.validate() {
        let (inner, message) = split_room_error(&e.to_string());
        let mut path = vec![key("tts")];
        path.extend(inner);
        problems.push((path, message));
    }

    let mut calendars = BTreeMap::new();
    for (name, spec) in &config.calendars {
        if let Ok(c) = guichet_calendar::Calendar::new(spec) {
            calendars.insert(name.clone(), c);
        }
    }
    if calendars.len() == config.calendars.len()
        && let Err(e) =
            guichet_tickets::sla::SlaEngine::from_policies(&config.sla_policies, calendars)
    {
        let (inner, message) = split_room_error(&e.to_string());
        let mut path = vec![key("sla_policies")];
        path.extend(inner);
        problems.push((path, message));
    }

    let mut numbers = BTreeSet::new();
    for (i, line) in config.lines.iter().enumerate() {
        let at = |field: &str| vec![key("lines"), PathStep::Index(i), key(field)];
        if line.number.is_empty()
            || !line
                .number
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+*#-_.".contains(c))
        {
            problems.push((
                at("number"),
                format!("{:?} is not a dialable number", line.number),
            ));
        } else if !numbers.insert(line.number.as_str()) {
            problems.push((
                at("number"),
                format!("number {:?} is used by two lines", line.number),
            ));
        }
        if !config.flows.contains_key(&line.flow) {
            problems.push((
                at("flow"),
                format!("no flow named {:?} in [flows]", line.flow),
            ));
        }
        if !config.calendars.contains_key(&line.calendar) {
            problems.push((
                at("calendar"),
                format!("no calendar named {:?} in [calendars]", line.calendar),
            ));
        }
        if line.queues.is_empty() {
            problems.push((at("queues"), "a line needs at least one queue".to_owned()));
        }
        for (q, queue) in line.queues.iter().enumerate() {
            if config.queue(queue).is_none() {
                problems.push((
                    vec![
                        key("lines"),
                        PathStep::Index(i),
                        key("queues"),
                        PathStep::Index(q),
                    ],
                    format!("no queue named {queue:?} in [queues]"),
                ));
            }
        }
        if let Some(policy) = &line.sla_policy
            && !config.sla_policies.contains_key(policy)
        {
            problems.push((
                at("sla_policy"),
                format!("no SLA policy named {policy:?} in [sla_policies]"),
            ));
        }
    }

    let mut logins = BTreeSet::new();
    let mut extensions = BTreeSet::new();
    for (i, agent) in config.agents.iter().enumerate() {
        let at = |field: &str| vec![key("agents"), PathStep::Index(i), key(field)];
        if agent.login.trim().is_empty() {
            problems.push((at("login"), "must not be empty".to_owned()));
        } else if !logins.insert(agent.login.as_str()) {
            problems.push((
                at("login"),
                format!("login {:?} is used twice", agent.login),
            ));
        }
        if agent.roles.is_empty() {
            problems.push((
                at("roles"),
                "at least one of \"agent\", \"supervisor\", \"admin\"".to_owned(),
            ));
        }
        if let Some(ext) = &agent.extension
            && !extensions.insert(ext.as_str())
        {
            problems.push((at("extension"), format!("extension {ext:?} is used twice")));
        }
        if agent.extension.is_some() != agent.sip_secret.is_some() {
            problems.push((
                at(if agent.extension.is_some() {
                    "sip_secret"
                } else {
                    "extension"
                }),
                "a desk phone needs both `extension` and `sip_secret`".to_owned(),
            ));
        }
        if let Some(algorithms) = &agent.digest_algorithms {
            if algorithms.is_empty() {
                problems.push((
                    at("digest_algorithms"),
                    "at least one algorithm is needed (or leave the key out)".to_owned(),
                ));
            } else if agent.extension.is_none() {
                problems.push((
                    at("digest_algorithms"),
                    "digest algorithms are for a desk phone: `extension` is missing".to_owned(),
                ));
            }
        }
        if let Some(password) = &agent.password {
            let min = if agent.roles.contains(&Role::Admin) {
                14
            } else {
                12
            };
            if password.chars().count() < min {
                problems.push((
                    at("password"),
                    format!(
                        "passwords must have at least {min} characters for this role (CULTURE 3482-3490)"
                    ),
                ));
            }
        }
        for (queue, level) in &agent.queues {
            if config.queue(queue).is_none() {
                problems.push((
                    vec![key("agents"), PathStep::Index(i), key("queues"), key(queue)],
                    format!("no queue named {queue:?} in [queues]"),
                ));
            } else if *level == 0 {
                problems.push((
                    vec![key("agents"), PathStep::Index(i), key("queues"), key(queue)],
                    "skill levels start at 1 (1 = best)".to_owned(),
                ));
            }
        }
    }

    problems
}
