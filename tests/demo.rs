//! `guichet demo` as a new user runs it: it starts in an empty directory, prints its
//! addresses and logins, serves `/healthz` and `/metrics`, creates its SQLite file, and stops
//! cleanly on Ctrl-C (SIGINT) and on SIGTERM; a baresip softphone calling 8585 hears the
//! welcome prompt.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

struct Demo {
    child: Child,
    banner: Vec<String>,
    web: String,
    dir: tempfile::TempDir,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_demo() -> Demo {
    start_demo_with(&[])
}

fn start_demo_with(extra_args: &[&str]) -> Demo {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_guichet"))
        .args([
            "demo",
            "--sip-listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
        ])
        .args(extra_args)
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start guichet demo");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut banner = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("the demo printed no banner in 30 s: {banner:?}"));
        let done = line.contains("Arrêt : Ctrl-C");
        banner.push(line);
        if done {
            break;
        }
    }
    let web = banner
        .iter()
        .find_map(|l| l.trim().strip_prefix("Web : "))
        .expect("a Web : line")
        .trim_end_matches('/')
        .to_owned();
    Demo {
        child,
        banner,
        web,
        dir,
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(Instant::now() < deadline, "the demo did not stop in time");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_starts_serves_health_and_metrics_and_stops_on_ctrl_c() {
    let mut demo = start_demo();
    let text = demo.banner.join("\n");
    assert!(text.contains("8585"), "{text}");
    assert!(text.contains("4400"), "{text}");
    assert!(text.contains("amelie.martin"), "{text}");
    assert!(text.contains("Guichet-Demo-2026!"), "{text}");

    let client = reqwest::Client::new();
    let health = client
        .get(format!("{}/healthz", demo.web))
        .send()
        .await
        .expect("GET /healthz");
    assert_eq!(health.status(), 200);
    let body: serde_json::Value = health.json().await.expect("json");
    assert_eq!(body["status"], "ok");

    let metrics = client
        .get(format!("{}/metrics", demo.web))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("# TYPE guichet_build_info gauge"),
        "{metrics}"
    );

    signal(&demo.child, "INT");
    let status = wait_exit(&mut demo.child, Duration::from_secs(20));
    assert!(status.success(), "exit status {status}");
    assert!(
        demo.dir.path().join("guichet-demo.db").exists(),
        "the demo created no SQLite file"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_stops_cleanly_on_sigterm() {
    let mut demo = start_demo();
    signal(&demo.child, "TERM");
    let status = wait_exit(&mut demo.child, Duration::from_secs(40));
    assert!(status.success(), "exit status {status}");
}

/// A 16-bit mono 8 kHz WAV of `seconds` of silence: what the softphone "says".
fn silent_wav(seconds: u32) -> Vec<u8> {
    support::wav_8k_mono(&vec![0; seconds as usize * 8000])
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_answers_a_baresip_call_to_8585_with_the_welcome_prompt() {
    if !support::have("baresip") {
        return;
    }
    // During opening hours, so the Louvre line welcomes the caller rather than saying closed.
    let mut demo = start_demo_with(&["--clock-start", support::OPEN_HOURS]);
    let sip = demo
        .banner
        .iter()
        .find_map(|l| l.trim().strip_prefix("SIP (UDP et TCP) : sip:"))
        .expect("a SIP line in the banner")
        .trim()
        .to_owned();

    // baresip, an independent softphone, dials 8585 and records what it decodes (its
    // `sndfile` filter writes the received audio to a WAV) for 5 seconds, then hangs up.
    let phone = tempfile::tempdir().expect("baresip dir");
    let recordings = phone.path().join("recordings");
    std::fs::create_dir_all(&recordings).expect("recordings dir");
    let silence = phone.path().join("silence.wav");
    std::fs::write(&silence, silent_wav(6)).expect("silence");
    let rtp = support::free_even_port_range(12);
    std::fs::write(
        phone.path().join("config"),
        format!(
            "poll_method epoll\nsip_listen 127.0.0.1:{sip_port}\naudio_player aufile,/dev/null\n\
             audio_source aufile,{silence}\naudio_alert aufile,/dev/null\n\
             module_path /usr/lib/baresip/modules\nmodule g711.so\nmodule aufile.so\n\
             module sndfile.so\nsnd_path {recordings}\nmodule_app account.so\n\
             module_app menu.so\nrtp_ports {rtp}-{rtp_end}\n",
            sip_port = support::free_udp_port(),
            silence = silence.display(),
            recordings = recordings.display(),
            rtp_end = rtp + 11,
        ),
    )
    .expect("baresip config");
    std::fs::write(
        phone.path().join("accounts"),
        "<sip:appelant@127.0.0.1>;regint=0;audio_codecs=PCMU\n",
    )
    .expect("baresip accounts");
    let mut baresip = Command::new("baresip")
        .arg("-f")
        .arg(phone.path())
        .args(["-n", "127.0.0.1", "-t", "5", "-e"])
        .arg(format!("/dial sip:8585@{sip}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start baresip");
    let status = wait_exit(&mut baresip, Duration::from_secs(20));
    assert!(status.success(), "baresip exited with {status}");

    let recording = std::fs::read_dir(&recordings)
        .expect("recordings")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
        .expect("baresip recorded no received audio");
    let heard = guichet_media::Audio::from_wav(&recording).expect("read the recording");
    let heard = heard.samples();
    // The welcome prompt as Guichet sends it (G.711 µ-law), decoded. baresip's µ-law decoder
    // may return another value inside each code's quantisation step than ours, so each
    // sample is allowed the step's size (a sixteenth of the segment, plus the smallest step).
    let mut welcome = Vec::new();
    guichet_media::Codec::Pcmu.decode(
        &support::pcmu_fingerprint(&support::shipped_prompt("louvre_accueil")),
        &mut welcome,
    );
    let close = |a: i16, b: i16| (i32::from(a) - i32::from(b)).abs() <= i32::from(b).abs() / 8 + 16;
    let found: Vec<usize> = heard
        .windows(welcome.len())
        .enumerate()
        .filter(|(_, w)| w.iter().zip(&welcome).all(|(&a, &b)| close(a, b)))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "the welcome prompt is not in the {} samples baresip received",
        heard.len()
    );
    // A quarter of the way into the 2.7 s prompt, which starts as the call is answered.
    assert!(
        found[0] < 8000 * 3 / 2,
        "welcome heard at sample {}",
        found[0]
    );

    signal(&demo.child, "TERM");
    let status = wait_exit(&mut demo.child, Duration::from_secs(40));
    assert!(status.success(), "exit status {status}");
}
