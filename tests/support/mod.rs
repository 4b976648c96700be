//! Shared helpers of the end-to-end tests: a real `guichet serve` process on loopback ports
//! it picks itself, SIPp peers, and the databases (SQLite and, when configured, PostgreSQL).

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use guichet::config::{DEMO_CONFIG, DEMO_DIRECTORY_CSV};

pub const SIPP_SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sipp/e2e");

/// Tuesday 24 November 2026, 10:00 in Paris: the Louvre hotline is open.
pub const OPEN_HOURS: &str = "2026-11-24T10:00:00+01:00";
/// Claire Lefèvre, Cabinet du ministre: VIP in the demo directory.
pub const VIP_NUMBER: &str = "+33140158001";
/// Julien Moreau, Département des peintures: an ordinary caller of the demo directory.
pub const ORDINARY_NUMBER: &str = "+33140205050";

/// The demo configuration edit that offers only MD5 digest challenges: SIPp answers only
/// MD5, and only the first challenge offered.
pub fn md5_only() -> (&'static str, String) {
    (
        "realm = \"guichet.demo\"",
        "realm = \"guichet.demo\"\ndigest_algorithms = [\"md5\"]".to_owned(),
    )
}

/// An open simplified incident of Amélie's (the demo agent), created at [`OPEN_HOURS`]
/// straight in the store, for the ticket form's tests.
pub async fn amelie_open_ticket(
    store: &guichet_tickets::Store,
    title: &str,
    requester: &str,
) -> i64 {
    let opened_at = chrono::DateTime::parse_from_rfc3339(OPEN_HOURS)
        .expect("instant")
        .to_utc();
    let draft = guichet_tickets::ticket::NewTicket::simplified(
        guichet_tickets::ticket::Nature::Incident,
        title,
        requester,
    );
    store
        .create_ticket(&draft, "amelie.martin", opened_at)
        .await
        .expect("open ticket")
}

/// The latest call record of `number` once it is closed (the record is closed just after
/// the BYE; the server is given a few seconds).
pub async fn closed_record(db: &Db, number: &str) -> guichet_tickets::CallRecord {
    let store = guichet_tickets::Store::open(&db.url())
        .await
        .expect("open the store");
    for _ in 0..100 {
        let history = store.caller_history(number, 10).await.expect("history");
        if let Some(call) = history.first()
            && call.outcome.is_some()
        {
            return call.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no closed call record for the caller");
}

/// Whether CI asked for every real peer to be present.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Whether `tool` is on the PATH; under CI a missing tool fails the test.
pub fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(!in_ci(), "{tool} is required under CI=true");
        eprintln!("skipped: {tool} is not installed");
    }
    found
}

#[path = "../ports/mod.rs"]
mod ports;

#[path = "../pg_cleanup/mod.rs"]
mod pg_cleanup;
pub use ports::free_port as free_udp_port;
pub use ports::free_port_range as free_even_port_range;

pub mod caller_media;

/// Which database a test server uses.
#[derive(Debug, Clone)]
pub enum Db {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Db {
    pub fn url(&self) -> String {
        match self {
            Db::Sqlite(p) => format!("sqlite://{}", p.display()),
            Db::Postgres(u) => u.clone(),
        }
    }
}

/// The databases every end-to-end test runs on: SQLite always, PostgreSQL when
/// `GUICHET_TEST_POSTGRES_URL` is set (required under CI). Each gets a fresh database.
pub async fn databases(dir: &Path, name: &str) -> Vec<Db> {
    let mut dbs = vec![Db::Sqlite(dir.join(format!("{name}.db")))];
    match std::env::var("GUICHET_TEST_POSTGRES_URL") {
        Ok(url) => dbs.push(Db::Postgres(fresh_postgres(&url, name).await)),
        Err(_) => {
            assert!(
                !in_ci(),
                "GUICHET_TEST_POSTGRES_URL is required under CI=true"
            );
            eprintln!("PostgreSQL half skipped: GUICHET_TEST_POSTGRES_URL is not set");
        }
    }
    dbs
}

async fn fresh_postgres(url: &str, name: &str) -> String {
    use sqlx::Connection as _;
    let unique = format!(
        "guichet_e2e_{}_{}_{}",
        name,
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    );
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .expect("connect to GUICHET_TEST_POSTGRES_URL");
    // Databases of earlier runs are dropped here, once their process is gone.
    pg_cleanup::drop_stale_test_databases(&mut conn).await;
    sqlx::query(&format!("CREATE DATABASE {unique}"))
        .execute(&mut conn)
        .await
        .expect("create the test database");
    let base = url.rsplit_once('/').map_or(url, |(b, _)| b);
    format!("{base}/{unique}")
}

/// Where SIPp sends its requests, and where to read the server's log when a run fails.
pub trait Target {
    fn sip_addr(&self) -> SocketAddr;
    fn log(&self) -> String;
}

impl Target for Server {
    fn sip_addr(&self) -> SocketAddr {
        self.sip
    }
    fn log(&self) -> String {
        Server::log(self)
    }
}

/// A running `guichet serve`.
pub struct Server {
    pub child: Child,
    pub sip: SocketAddr,
    pub http: SocketAddr,
    pub db: Db,
    pub dir: PathBuf,
    stderr_log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Options of a test server.
pub struct ServerOptions<'a> {
    /// Runs as if at this instant (RFC 3339).
    pub clock_start: &'a str,
    /// Edits of the demo configuration: (from, to), each must match.
    pub edits: Vec<(&'a str, String)>,
}

impl Server {
    pub fn start(dir: &Path, db: &Db, options: &ServerOptions<'_>) -> Server {
        let mut config = DEMO_CONFIG.to_owned();
        for (from, to) in &options.edits {
            assert!(config.contains(from), "the demo config has no {from:?}");
            config = config.replacen(from, to, 1);
        }
        std::fs::write(dir.join("directory.csv"), DEMO_DIRECTORY_CSV).expect("write csv");
        let config_path = dir.join("guichet.toml");
        std::fs::write(&config_path, config).expect("write config");
        let rtp = free_even_port_range(40);
        let stderr_log = dir.join("guichet.log");
        let stderr = std::fs::File::create(&stderr_log).expect("log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_guichet"))
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .args(["--database", &db.url()])
            .args([
                "--sip-listen",
                "127.0.0.1:0",
                "--http-listen",
                "127.0.0.1:0",
            ])
            .args(["--rtp-port-min", &rtp.to_string()])
            .args(["--clock-start", options.clock_start])
            .args(["--log", "info,guichet=debug"])
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start guichet serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| {
                panic!(
                    "guichet did not start: {}",
                    std::fs::read_to_string(&stderr_log).unwrap_or_default()
                )
            });
        let field = |name: &str| -> SocketAddr {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{name}=")))
                .and_then(|a| a.parse().ok())
                .unwrap_or_else(|| panic!("no {name}= in {line:?}"))
        };
        Server {
            sip: field("sip"),
            http: field("http"),
            child,
            db: db.clone(),
            dir: dir.to_path_buf(),
            stderr_log,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    pub fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "guichet did not stop in time");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A SIPp process.
pub struct Sipp {
    child: Child,
    name: String,
    log: PathBuf,
}

impl Drop for Sipp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sipp {
    /// Starts SIPp with `scenario` (a file of tests/sipp/e2e) and extra arguments.
    pub fn start(dir: &Path, name: &str, scenario: &str, args: &[String]) -> Sipp {
        Self::start_with(dir, name, scenario, &[], args)
    }

    /// Like [`Sipp::start`], with `[key]` placeholders of the scenario replaced first (SIPp
    /// reads `-key` values in messages but not in `<pause milliseconds>`).
    pub fn start_with(
        dir: &Path,
        name: &str,
        scenario: &str,
        substitutions: &[(&str, String)],
        args: &[String],
    ) -> Sipp {
        let mut text = std::fs::read_to_string(Path::new(SIPP_SCENARIOS).join(scenario))
            .expect("read scenario");
        for (key, value) in substitutions {
            text = text.replace(&format!("[{key}]"), value);
        }
        let scenario_path = dir.join(format!("{name}-{scenario}"));
        std::fs::write(&scenario_path, text).expect("write scenario");
        let log = dir.join(format!("sipp-{name}.log"));
        let out = std::fs::File::create(&log).expect("sipp log");
        let child = Command::new("sipp")
            .arg("-sf")
            .arg(&scenario_path)
            .args(["-i", "127.0.0.1", "-m", "1", "-nostdin", "-timeout", "90s"])
            .args(["-trace_err", "-error_file"])
            .arg(dir.join(format!("sipp-{name}-errors.log")))
            .args(["-trace_msg", "-message_file"])
            .arg(dir.join(format!("sipp-{name}-messages.log")))
            .args(args)
            .current_dir(dir)
            .stdout(out.try_clone().expect("clone"))
            .stderr(out)
            .spawn()
            .expect("start sipp");
        Sipp {
            child,
            name: name.to_owned(),
            log,
        }
    }

    /// Waits for SIPp to finish and asserts that its one call succeeded.
    pub fn expect_success(mut self, within: Duration, server: &impl Target) {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                let errors = std::fs::read_to_string(
                    self.log
                        .with_file_name(format!("sipp-{}-errors.log", self.name)),
                )
                .unwrap_or_default();
                let messages = std::fs::read_to_string(
                    self.log
                        .with_file_name(format!("sipp-{}-messages.log", self.name)),
                )
                .unwrap_or_default();
                assert!(
                    status.success(),
                    "sipp {} failed ({status}): {errors}\n--- sipp messages ---\n{messages}\n--- guichet log ---\n{}",
                    self.name,
                    server.log()
                );
                return;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "sipp {} did not finish in {within:?}\n--- guichet log ---\n{}",
                    self.name,
                    server.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Registers the desk phone of extension `ext` (secret `secret`) with its Contact on
/// `contact_port`, and waits for the 200.
pub fn register_desk_phone(
    dir: &Path,
    server: &impl Target,
    ext: &str,
    secret: &str,
    contact_port: u16,
) {
    let sipp = Sipp::start(
        dir,
        &format!("register-{ext}"),
        "agent_register.xml",
        &[
            "-s".into(),
            ext.into(),
            "-au".into(),
            ext.into(),
            "-ap".into(),
            secret.into(),
            "-key".into(),
            "contact_port".into(),
            contact_port.to_string(),
            "-p".into(),
            free_udp_port().to_string(),
            server.sip_addr().to_string(),
        ],
    );
    sipp.expect_success(Duration::from_secs(20), server);
}

/// An agent desk phone that answers the next INVITE on `port` and hangs up after `talk_ms`.
pub fn answering_desk_phone(dir: &Path, name: &str, port: u16, talk_ms: u32) -> Sipp {
    let media = free_even_port_range(4);
    Sipp::start_with(
        dir,
        name,
        "agent_answer.xml",
        &[("talk_ms", talk_ms.to_string())],
        &[
            "-p".into(),
            port.to_string(),
            "-mp".into(),
            media.to_string(),
            "-rtp_echo".into(),
        ],
    )
}

/// A caller dialling `line` from `number`, pressing the key of `dtmf_pcap` after `dtmf_after_ms`.
pub fn caller(
    dir: &Path,
    name: &str,
    server: &impl Target,
    line: &str,
    number: &str,
    dtmf_pcap: &str,
    dtmf_after_ms: u32,
) -> Sipp {
    let media = free_even_port_range(4);
    Sipp::start_with(
        dir,
        name,
        "caller.xml",
        &[
            ("dtmf_after_ms", dtmf_after_ms.to_string()),
            ("dtmf_pcap", dtmf_pcap.to_owned()),
        ],
        &[
            "-s".into(),
            line.into(),
            "-key".into(),
            "caller".into(),
            number.into(),
            "-p".into(),
            free_udp_port().to_string(),
            "-mp".into(),
            media.to_string(),
            server.sip_addr().to_string(),
        ],
    )
}

/// SIPp's shipped RFC 4733 capture of one key.
pub fn dtmf_pcap(key: &str) -> String {
    format!("/usr/share/sip-tester/dtmf_2833_{key}.pcap")
}

/// An agent desk phone that rings on `port` and is never picked up (expects CANCEL).
pub fn unanswered_desk_phone(dir: &Path, name: &str, port: u16) -> Sipp {
    Sipp::start(
        dir,
        name,
        "agent_rings_unanswered.xml",
        &["-p".into(), port.to_string()],
    )
}

/// A caller who presses 1 after `dtmf_after_ms`, gives up `hold_ms` later and sends BYE.
pub fn impatient_caller(
    dir: &Path,
    name: &str,
    server: &impl Target,
    line: &str,
    number: &str,
    dtmf_after_ms: u32,
    hold_ms: u32,
) -> Sipp {
    let media = free_even_port_range(4);
    Sipp::start_with(
        dir,
        name,
        "caller_gives_up.xml",
        &[
            ("dtmf_after_ms", dtmf_after_ms.to_string()),
            ("dtmf_pcap", dtmf_pcap("1")),
            ("hold_ms", hold_ms.to_string()),
        ],
        &[
            "-s".into(),
            line.into(),
            "-key".into(),
            "caller".into(),
            number.into(),
            "-p".into(),
            free_udp_port().to_string(),
            "-mp".into(),
            media.to_string(),
            server.sip_addr().to_string(),
        ],
    )
}

/// A caller who expects `503 Service Unavailable` with a `Retry-After` header.
pub fn refused_caller(
    dir: &Path,
    name: &str,
    server: &impl Target,
    line: &str,
    number: &str,
) -> Sipp {
    let media = free_even_port_range(4);
    Sipp::start(
        dir,
        name,
        "caller_refused_503.xml",
        &[
            "-s".into(),
            line.into(),
            "-key".into(),
            "caller".into(),
            number.into(),
            "-p".into(),
            free_udp_port().to_string(),
            "-mp".into(),
            media.to_string(),
            server.sip_addr().to_string(),
        ],
    )
}

/// A caller dialling `line` from `number` who only listens: Guichet sends its RTP to the
/// test's own receiver on `rtp_port` (see [`RtpCapture`]). With `hang_up_after_ms`, the
/// caller hangs up after that long; without, it waits for Guichet's BYE.
pub fn listening_caller(
    dir: &Path,
    name: &str,
    server: &impl Target,
    line: &str,
    number: &str,
    rtp_port: u16,
    hang_up_after_ms: Option<u32>,
) -> Sipp {
    let media = free_even_port_range(4);
    let (scenario, substitutions) = match hang_up_after_ms {
        Some(ms) => (
            "caller_listens_then_hangs_up.xml",
            vec![("listen_ms", ms.to_string())],
        ),
        None => ("caller_listens.xml", vec![]),
    };
    Sipp::start_with(
        dir,
        name,
        scenario,
        &substitutions,
        &[
            "-s".into(),
            line.into(),
            "-key".into(),
            "caller".into(),
            number.into(),
            "-key".into(),
            "rtp_port".into(),
            rtp_port.to_string(),
            "-p".into(),
            free_udp_port().to_string(),
            "-mp".into(),
            media.to_string(),
            server.sip_addr().to_string(),
        ],
    )
}

/// A caller who waits `pause_ms` after SIPp starts, then expects `503` with `Retry-After`.
pub fn refused_caller_after(
    dir: &Path,
    name: &str,
    server: &impl Target,
    line: &str,
    number: &str,
    pause_ms: u32,
) -> Sipp {
    let media = free_even_port_range(4);
    Sipp::start_with(
        dir,
        name,
        "caller_refused_503_after_pause.xml",
        &[("pause_ms", pause_ms.to_string())],
        &[
            "-s".into(),
            line.into(),
            "-key".into(),
            "caller".into(),
            number.into(),
            "-p".into(),
            free_udp_port().to_string(),
            "-mp".into(),
            media.to_string(),
            server.sip_addr().to_string(),
        ],
    )
}

/// One RTP packet as the test's receiver got it.
#[derive(Debug, Clone)]
pub struct RtpPacket {
    pub at: Instant,
    pub sequence: u16,
    pub timestamp: u32,
    pub payload_type: u8,
    pub payload: Vec<u8>,
}

/// The caller's side of the media: a UDP socket on 127.0.0.1 that records every RTP packet
/// Guichet sends to it, until dropped.
pub struct RtpCapture {
    pub port: u16,
    packets: std::sync::Arc<std::sync::Mutex<Vec<RtpPacket>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RtpCapture {
    pub fn start() -> RtpCapture {
        let port = free_udp_port();
        let socket = std::net::UdpSocket::bind(("127.0.0.1", port)).expect("bind RTP capture");
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("read timeout");
        let packets = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (sink, stopped) = (packets.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                let Ok(n) = socket.recv(&mut buf) else {
                    continue;
                };
                if let Some(p) = parse_rtp(&buf[..n]) {
                    sink.lock().expect("capture lock").push(p);
                }
            }
        });
        RtpCapture {
            port,
            packets,
            stop,
            thread: Some(thread),
        }
    }

    /// What was received so far, in arrival order.
    pub fn packets(&self) -> Vec<RtpPacket> {
        self.packets.lock().expect("capture lock").clone()
    }
}

impl Drop for RtpCapture {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn parse_rtp(data: &[u8]) -> Option<RtpPacket> {
    if data.len() < 12 || data[0] >> 6 != 2 {
        return None;
    }
    let csrc = usize::from(data[0] & 0x0f);
    let mut start = 12 + 4 * csrc;
    if data[0] & 0x10 != 0 {
        let words = usize::from(u16::from_be_bytes([
            *data.get(start + 2)?,
            *data.get(start + 3)?,
        ]));
        start += 4 + 4 * words;
    }
    let mut end = data.len();
    if data[0] & 0x20 != 0 {
        end = end.checked_sub(usize::from(*data.last()?))?;
    }
    Some(RtpPacket {
        at: Instant::now(),
        sequence: u16::from_be_bytes([data[2], data[3]]),
        timestamp: u32::from_be_bytes([data[4], data[5], data[6], data[7]]),
        payload_type: data[1] & 0x7f,
        payload: data.get(start..end)?.to_vec(),
    })
}

/// The G.711 µ-law bytes of the PCMU packets, in arrival order (loopback keeps the order;
/// the sequence numbers are checked to be consecutive).
pub fn pcmu_stream(packets: &[RtpPacket]) -> Vec<u8> {
    let audio: Vec<&RtpPacket> = packets.iter().filter(|p| p.payload_type == 0).collect();
    for pair in audio.windows(2) {
        assert_eq!(
            pair[1].sequence,
            pair[0].sequence.wrapping_add(1),
            "RTP packets lost or reordered"
        );
    }
    audio
        .iter()
        .flat_map(|p| p.payload.iter().copied())
        .collect()
}

/// A recognisable stretch of `wav` as µ-law bytes: 200 ms taken from a quarter of the way
/// in (past any leading silence), which is what Guichet sends when it plays that file.
pub fn pcmu_fingerprint(wav: &Path) -> Vec<u8> {
    let audio = guichet_media::Audio::from_wav(wav).expect("read the WAV");
    let samples = audio.samples();
    assert!(samples.len() >= 3200, "{} is too short", wav.display());
    let start = samples.len() / 4;
    let mut out = Vec::new();
    guichet_media::Codec::Pcmu.encode(&samples[start..start + 1600], &mut out);
    assert!(
        out.iter().filter(|&&b| b != out[0]).count() > 800,
        "{} is silent where it is fingerprinted",
        wav.display()
    );
    out
}

/// Every place `needle` occurs in `haystack`.
pub fn occurrences(haystack: &[u8], needle: &[u8]) -> Vec<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return Vec::new();
    }
    haystack
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}

/// A shipped French prompt.
pub fn shipped_prompt(id: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sounds/fr")
        .join(format!("{id}.wav"))
}

/// A 16-bit mono 8 kHz WAV file's bytes holding `samples`.
pub fn wav_8k_mono(samples: &[i16]) -> Vec<u8> {
    let data_len = samples.len() as u32 * 2;
    let mut v = Vec::with_capacity(44 + data_len as usize);
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(36 + data_len).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes()); // PCM
    v.extend_from_slice(&1u16.to_le_bytes()); // mono
    v.extend_from_slice(&8000u32.to_le_bytes());
    v.extend_from_slice(&16000u32.to_le_bytes());
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&16u16.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        v.extend_from_slice(&s.to_le_bytes());
    }
    v
}

/// The open ticket of `person` once the switchboard has opened it after a call (it does so
/// just after the call's end; the server is given three seconds).
pub async fn opened_ticket(store: &guichet_tickets::Store, person: i64) -> i64 {
    for _ in 0..60 {
        if let Some(id) = store.open_ticket_of_person(person).await.expect("tickets") {
            return id;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no ticket opened for the call");
}

/// The detail of the menu choice the IVR accepted during call `call` (its call event).
pub async fn menu_choice(store: &guichet_tickets::Store, call: i64) -> String {
    let events = store.call_events(call).await.expect("events");
    events
        .iter()
        .filter_map(|e| e.detail.as_deref())
        .find(|d| d.contains("choice_accepted"))
        .unwrap_or_else(|| panic!("no menu choice in {events:?}"))
        .to_owned()
}
