//! `guichet demo` as a new user runs it: it starts in an empty directory, prints its
//! addresses and logins, serves `/healthz` and `/metrics`, creates its SQLite file, and stops
//! cleanly on Ctrl-C (SIGINT) and on SIGTERM.

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
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_guichet"))
        .args([
            "demo",
            "--sip-listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
        ])
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
