//! SIPp (an independent SIP implementation) against the endpoint on 127.0.0.1. The test plays
//! the switchboard. Each SIPp run is one call and a few seconds at most.
//!
//! When `CI=true` a missing `sipp` binary fails the tests; otherwise they are skipped.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use guichet_sip::digest::DigestAlgorithm;
use guichet_sip::sdp::{self, LocalCapabilities};
use guichet_sip::{
    CallTarget, EndReason, OutboundProgress, SipConfig, SipEndpoint, SipEvent, SipHandle,
};
use tokio::sync::mpsc::UnboundedReceiver;

/// SIPp binds its media port; serialize runs so two never race for ports.
static SIPP: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn sipp_present() -> bool {
    let found = std::process::Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("sipp is required when CI=true (Debian package sip-tester)");
        }
        eprintln!("NOTICE: sipp not installed, SIPp test skipped");
    }
    found
}

#[path = "../../tests/ports/mod.rs"]
mod ports;
use ports::{free_port, free_port_range};

fn scenario(name: &str) -> String {
    let p: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "tests", "sipp", name]
        .iter()
        .collect();
    p.to_string_lossy().into_owned()
}

async fn start(algorithms: Vec<DigestAlgorithm>) -> (SipEndpoint, UnboundedReceiver<SipEvent>) {
    let config = SipConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        lines: vec!["8585".into()],
        digest_algorithms: algorithms,
        ..SipConfig::default()
    };
    SipEndpoint::start(config).await.expect("start endpoint")
}

fn sipp_cmd(
    scenario_file: &str,
    port: u16,
    remote: Option<SocketAddr>,
    extra: &[&str],
) -> tokio::process::Command {
    let mut c = tokio::process::Command::new("sipp");
    c.arg("-sf").arg(scenario(scenario_file));
    c.args(["-m", "1", "-l", "1", "-i", "127.0.0.1", "-nostdin"]);
    c.args(["-timeout", "15", "-timeout_error", "-max_recv_loops", "100"]);
    c.arg("-p").arg(port.to_string());
    c.arg("-mp").arg(free_port_range(4).to_string());
    c.args(extra);
    if let Some(r) = remote {
        c.arg(r.to_string());
    }
    c.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c
}

/// Run SIPp while feeding every event to `on_event`; returns SIPp's success and the events.
async fn run(
    mut child: tokio::process::Child,
    rx: &mut UnboundedReceiver<SipEvent>,
    handle: &SipHandle,
    mut on_event: impl FnMut(&SipHandle, &SipEvent),
) -> (bool, Vec<SipEvent>, String) {
    let mut events = Vec::new();
    let deadline = tokio::time::sleep(Duration::from_secs(20));
    tokio::pin!(deadline);
    let status = loop {
        tokio::select! {
            s = child.wait() => break s.ok(),
            Some(e) = rx.recv() => { on_event(handle, &e); events.push(e); }
            _ = &mut deadline => { let _ = child.kill().await; break None; }
        }
    };
    // Let the last messages (e.g. BYE after SIPp's final step) land.
    tokio::time::sleep(Duration::from_millis(150)).await;
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    let mut out = String::new();
    if let Ok(o) = child.wait_with_output().await {
        out.push_str(&String::from_utf8_lossy(&o.stdout));
        out.push_str(&String::from_utf8_lossy(&o.stderr));
    }
    let ok = status.is_some_and(|s| s.success());
    if !ok {
        // Keep only the tail: SIPp's screen is long.
        let tail: String = out
            .chars()
            .rev()
            .take(3000)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        eprintln!("SIPp failed: {tail}");
    }
    (ok, events, out)
}

fn answer_call(h: &SipHandle, e: &SipEvent) {
    if let SipEvent::IncomingCall(c) = e {
        let offer = c.offer.as_ref().expect("offer");
        let (ans, _) = sdp::answer(
            offer,
            &LocalCapabilities::default(),
            "127.0.0.1:20000".parse().expect("addr"),
            42,
        )
        .expect("common codec");
        h.answer(&c.call_id, ans).expect("answer");
    }
}

async fn basic_call(transport: &str) {
    if !sipp_present() {
        return;
    }
    let _g = SIPP.lock().await;
    let (ep, mut rx) = start(vec![DigestAlgorithm::Sha256]).await;
    let child = sipp_cmd(
        "uac_basic.xml",
        free_port(),
        Some(ep.local_addr()),
        &["-s", "8585", "-t", transport],
    )
    .spawn()
    .expect("spawn sipp");
    let (ok, events, _) = run(child, &mut rx, &ep.handle(), answer_call).await;
    assert!(
        ok,
        "SIPp basic call over {transport} failed; events: {events:?}"
    );
    let Some(SipEvent::IncomingCall(c)) = events.first() else {
        panic!("no incoming call: {events:?}")
    };
    assert_eq!(c.caller_number, "0601020304");
    assert_eq!(c.display_name.as_deref(), Some("Jeanne Martin"));
    assert_eq!(c.dialled_number, "8585");
    assert!(events.iter().any(|e| matches!(
        e,
        SipEvent::Dtmf {
            digit: '5',
            duration_ms: Some(160),
            ..
        }
    )));
    assert!(events.iter().any(|e| matches!(
        e,
        SipEvent::Ended {
            reason: EndReason::RemoteBye,
            ..
        }
    )));
    let counters = ep.handle().counters().snapshot();
    assert_eq!(counters.active_dialogs, 0, "dialog removed after BYE");
    assert!(ep.handle().counters().requests("INVITE") >= 1);
    assert!(
        ep.handle().counters().responses_sent(100) >= 1,
        "100 Trying sent"
    );
}

#[tokio::test]
async fn basic_call_udp() {
    basic_call("u1").await;
}

#[tokio::test]
async fn basic_call_tcp() {
    basic_call("t1").await;
}

#[tokio::test]
async fn caller_cancels_before_answer() {
    if !sipp_present() {
        return;
    }
    let _g = SIPP.lock().await;
    let (ep, mut rx) = start(vec![DigestAlgorithm::Sha256]).await;
    let child = sipp_cmd(
        "uac_cancel.xml",
        free_port(),
        Some(ep.local_addr()),
        &["-s", "8585"],
    )
    .spawn()
    .expect("spawn sipp");
    let (ok, events, _) = run(child, &mut rx, &ep.handle(), |h, e| {
        if let SipEvent::IncomingCall(c) = e {
            h.ringing(&c.call_id, None).expect("ringing");
        }
    })
    .await;
    assert!(ok, "events: {events:?}");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, SipEvent::Cancelled { .. }))
    );
    assert_eq!(ep.handle().counters().responses_sent(487), 1);
    assert_eq!(ep.handle().counters().snapshot().active_dialogs, 0);
}

#[tokio::test]
async fn guichet_hangs_up() {
    if !sipp_present() {
        return;
    }
    let _g = SIPP.lock().await;
    let (ep, mut rx) = start(vec![DigestAlgorithm::Sha256]).await;
    let child = sipp_cmd(
        "uac_guichet_hangs_up.xml",
        free_port(),
        Some(ep.local_addr()),
        &["-s", "8585"],
    )
    .spawn()
    .expect("spawn sipp");
    let (ok, events, _) = run(child, &mut rx, &ep.handle(), |h, e| {
        answer_call(h, e);
        if let SipEvent::IncomingCall(c) = e {
            let (h, id) = (h.clone(), c.call_id.clone());
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                h.hang_up(&id).expect("hang up");
            });
        }
    })
    .await;
    assert!(ok, "events: {events:?}");
    assert!(
        !events.iter().any(|e| matches!(e, SipEvent::Ended { .. })),
        "no Ended for our own hang-up"
    );
    assert_eq!(ep.handle().counters().requests("BYE"), 0);
}

#[tokio::test]
async fn reinvite_hold_and_unhold() {
    if !sipp_present() {
        return;
    }
    let _g = SIPP.lock().await;
    let (ep, mut rx) = start(vec![DigestAlgorithm::Sha256]).await;
    let child = sipp_cmd(
        "uac_hold.xml",
        free_port(),
        Some(ep.local_addr()),
        &["-s", "8585"],
    )
    .spawn()
    .expect("spawn sipp");
    let (ok, events, _) = run(child, &mut rx, &ep.handle(), answer_call).await;
    assert!(ok, "events: {events:?}");
    let holds: Vec<bool> = events
        .iter()
        .filter_map(|e| match e {
            SipEvent::HoldChanged { on_hold, .. } => Some(*on_hold),
            _ => None,
        })
        .collect();
    assert_eq!(holds, vec![true, false]);
}

#[tokio::test]
async fn options_keepalive() {
    if !sipp_present() {
        return;
    }
    let _g = SIPP.lock().await;
    let (ep, mut rx) = start(vec![DigestAlgorithm::Sha256]).await;
    let child = sipp_cmd(
        "options.xml",
        free_port(),
        Some(ep.local_addr()),
        &["-s", "8585"],
    )
    .spawn()
    .expect("spawn sipp");
    let (ok, events, _) = run(child, &mut rx, &ep.handle(), |_, _| {}).await;
    assert!(ok);
    assert!(events.is_empty());
    assert_eq!(ep.handle().counters().requests("OPTIONS"), 1);
}

#[tokio::test]
async fn unknown_number_gets_404() {
    if !sipp_present() {
        return;
    }
    let _g = SIPP.lock().await;
    let (ep, mut rx) = start(vec![DigestAlgorithm::Sha256]).await;
    let child = sipp_cmd(
        "uac_404.xml",
        free_port(),
        Some(ep.local_addr()),
        &["-s", "9999"],
    )
    .spawn()
    .expect("spawn sipp");
    let (ok, events, _) = run(child, &mut rx, &ep.handle(), |_, _| {}).await;
    assert!(ok);
    assert!(events.is_empty(), "no call offered: {events:?}");
    assert_eq!(ep.handle().counters().responses_sent(404), 1);
}

async fn register(password: &str, scenario_file: &str) -> (bool, SipEndpoint, Vec<SipEvent>) {
    // SIPp 3.6 answers MD5 challenges; SHA-256 is covered by the digest unit tests.
    let (ep, mut rx) = start(vec![DigestAlgorithm::Md5]).await;
    ep.handle().set_credentials("1001", "s3cret-desk");
    let child = sipp_cmd(
        scenario_file,
        free_port(),
        Some(ep.local_addr()),
        &["-s", "1001", "-au", "1001", "-ap", password],
    )
    .spawn()
    .expect("spawn sipp");
    let (ok, events, _) = run(child, &mut rx, &ep.handle(), |_, _| {}).await;
    (ok, ep, events)
}

#[tokio::test]
async fn register_with_digest() {
    if !sipp_present() {
        return;
    }
    let _g = SIPP.lock().await;
    let (ok, ep, events) = register("s3cret-desk", "register.xml").await;
    assert!(ok, "events: {events:?}");
    let contacts = ep.handle().contacts_of("1001");
    assert_eq!(contacts.len(), 1);
    assert!(contacts[0].uri.starts_with("sip:1001@127.0.0.1:"));
    assert!(
        matches!(&events[..], [SipEvent::RegistrationChanged { user, contacts }] if user == "1001" && contacts.len() == 1)
    );
    assert_eq!(ep.handle().counters().snapshot().registrations, 1);
}

#[tokio::test]
async fn register_with_wrong_password_is_refused() {
    if !sipp_present() {
        return;
    }
    let _g = SIPP.lock().await;
    let (ok, ep, events) = register("not-the-password", "register_wrong.xml").await;
    assert!(ok, "expected 403; events: {events:?}");
    assert!(ep.handle().contacts_of("1001").is_empty());
    assert!(events.is_empty());
    assert_eq!(ep.handle().counters().snapshot().auth_failures, 1);
}

async fn ring_agent(scenario_file: &str, withdraw_on_ringing: bool) -> Vec<SipEvent> {
    let (ep, mut rx) = start(vec![DigestAlgorithm::Sha256]).await;
    let agent_port = free_port();
    let child = sipp_cmd(scenario_file, agent_port, None, &[])
        .spawn()
        .expect("spawn sipp");
    // Give SIPp a moment to bind before ringing it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let offer = sdp::offer(
        &LocalCapabilities::default(),
        "127.0.0.1:20002".parse().expect("addr"),
        7,
        101,
    );
    let h = ep.handle();
    let id = h
        .ring_agent(
            CallTarget::Uri(format!("sip:agent@127.0.0.1:{agent_port}")),
            "8585",
            Some("Jeanne Martin".into()),
            offer,
        )
        .expect("ring");
    let (ok, events, _) = run(child, &mut rx, &h, |h, e| match e {
        SipEvent::Outbound {
            call_id,
            progress: OutboundProgress::Answered { .. },
        } if !withdraw_on_ringing => {
            assert_eq!(call_id, &id);
            let (h, id) = (h.clone(), call_id.clone());
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(200)).await;
                h.hang_up(&id).expect("hang up");
            });
        }
        SipEvent::Outbound {
            call_id,
            progress: OutboundProgress::Ringing { .. },
        } if withdraw_on_ringing => {
            h.hang_up(call_id).expect("withdraw");
        }
        _ => {}
    })
    .await;
    assert!(
        ok,
        "agent scenario {scenario_file} failed; events: {events:?}"
    );
    assert_eq!(h.counters().snapshot().active_dialogs, 0);
    events
}

#[tokio::test]
async fn agent_phone_answers_our_invite() {
    if !sipp_present() {
        return;
    }
    let _g = SIPP.lock().await;
    let events = ring_agent("uas_agent.xml", false).await;
    assert!(matches!(
        events.first(),
        Some(SipEvent::Outbound {
            progress: OutboundProgress::Ringing { .. },
            ..
        })
    ));
    let answer = events.iter().find_map(|e| match e {
        SipEvent::Outbound {
            progress: OutboundProgress::Answered { answer },
            ..
        } => answer.clone(),
        _ => None,
    });
    let neg = sdp::read_answer(&answer.expect("SDP answer")).expect("codec");
    assert_eq!(neg.payload_type, 0);
    assert_eq!(neg.telephone_event, Some(101));
}

#[tokio::test]
async fn agent_invite_withdrawn_with_cancel() {
    if !sipp_present() {
        return;
    }
    let _g = SIPP.lock().await;
    let events = ring_agent("uas_agent_cancel.xml", true).await;
    assert_eq!(
        events.len(),
        1,
        "only Ringing, nothing after the withdrawal: {events:?}"
    );
}
