//! The browser softphone in a real headless Chromium against a real `guichet serve`: an agent
//! with no desk phone logs in, goes available, a VIP caller (SIPp for the signalling, this test
//! for the audio) reaches the queue, the page rings with the caller's name and VIP badge, the
//! test clicks « Répondre », and audio flows both ways through WebRTC and the bridge: the
//! caller receives the fake microphone's 1 kHz tone, the page's inbound level rises with the
//! caller's 600 Hz tone. Keypad digits reach the caller as RFC 4733 events, hold gives the
//! caller music instead of the agent, and « Raccrocher » ends the call like a BYE from the
//! agent: the record is closed as answered by the agent, who is in wrap-up.

mod support;
#[path = "support/web.rs"]
mod web;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::caller_media::CallerMedia;
use support::*;
use web::*;

const DEMO_PASSWORD: &str = "Guichet-Demo-2026!";
const SCREENSHOTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/screenshots");
/// The fake microphone's tone.
const MIC_HZ: f64 = 1000.0;
/// The caller's tone.
const CALLER_HZ: f64 = 600.0;
/// The supervisor's fake microphone's tone.
const SUPERVISOR_HZ: f64 = 1500.0;

fn screenshot_dir(temp: &Path) -> std::path::PathBuf {
    if std::env::var("GUICHET_SCREENSHOTS").is_ok_and(|v| v == "1") {
        Path::new(SCREENSHOTS).to_path_buf()
    } else {
        temp.join("screenshots")
    }
}

fn rms(pcm: &[i16]) -> f64 {
    if pcm.is_empty() {
        return 0.0;
    }
    (pcm.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / pcm.len() as f64).sqrt()
}

/// The share of the signal's energy at `hz` (Goertzel on 20 ms blocks, summed), 0 to 1.
fn tone_share(pcm: &[i16], hz: f64) -> f64 {
    let block = 160;
    let (mut tone, mut total) = (0.0, 0.0);
    for chunk in pcm.chunks_exact(block) {
        let coeff = 2.0 * (2.0 * std::f64::consts::PI * hz / 8000.0).cos();
        let (mut s1, mut s2) = (0.0f64, 0.0f64);
        for &x in chunk {
            let s0 = f64::from(x) + coeff * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
        // A pure sine of amplitude A over N samples gives power (A·N/2)²; its energy is
        // A²·N/2: so power·2/N is the tone's energy in the block.
        tone += power * 2.0 / block as f64;
        total += chunk.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>();
    }
    if total == 0.0 { 0.0 } else { tone / total }
}

#[test]
fn the_tone_share_of_a_pure_tone_is_near_one_and_of_another_near_zero() {
    let pcm: Vec<i16> = (0..8000)
        .map(|n| ((2.0 * std::f64::consts::PI * 1000.0 * n as f64 / 8000.0).sin() * 6000.0) as i16)
        .collect();
    assert!(tone_share(&pcm, 1000.0) > 0.9);
    assert!(tone_share(&pcm, 600.0) < 0.05);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_without_desk_phone_takes_a_call_in_the_browser_softphone() {
    if !have_browser() || !have("sipp") || !have("sox") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    // The fake microphone: a 1 kHz tone in 0.4 s bursts (speech-like, so the browser's noise
    // suppression does not treat it as steady noise).
    let wav = dir.path().join("micro.wav");
    let status = Command::new("sox")
        .args(["-n", "-r", "48000", "-c", "1", "-b", "16"])
        .arg(&wav)
        .args([
            "synth", "0.4", "sine", "1000", "vol", "0.5", "pad", "0", "0.1",
        ])
        .args(["repeat", "39"])
        .status()
        .expect("run sox");
    assert!(status.success(), "sox failed");

    let db = Db::Sqlite(dir.path().join("softphone.db"));
    let server = Server::start(
        dir.path(),
        &db,
        &ServerOptions {
            clock_start: OPEN_HOURS,
            edits: vec![
                md5_only(),
                // Amélie has no desk phone: her page is her phone.
                (
                    "extension = \"1001\"\nsip_secret = \"demo-1001-secret\"\n",
                    String::new(),
                ),
            ],
        },
    );
    let browser = Browser::start_with_fake_microphone(&wav).await;
    browser.login(&server, "amelie.martin", DEMO_PASSWORD).await;
    browser.find("#poste").await;
    browser
        .wait_text("#softphone-etat", Duration::from_secs(10), |t| {
            t.starts_with("Softphone prêt")
        })
        .await;
    browser.click("#etat-connexion").await;
    browser
        .wait_text("#etat", Duration::from_secs(5), |t| {
            t.contains("Disponible")
        })
        .await;

    // A VIP caller (straight to the queue, past the menu).
    let media = CallerMedia::start(CALLER_HZ).await;
    let call = media.caller(dir.path(), "caller", server.sip, "8585", VIP_NUMBER);

    // The page rings: banner, caller's name from the directory, VIP badge.
    let banner = browser
        .wait_text("#softphone-appel", Duration::from_secs(20), |t| {
            t.contains("Appel entrant")
        })
        .await;
    assert!(banner.contains("Claire Lefèvre"), "{banner}");
    assert_eq!(browser.text("#softphone-vip").await, "VIP");

    browser.click("#softphone-repondre").await;
    browser
        .wait_text("#softphone-etat", Duration::from_secs(10), |t| {
            t == "En communication."
        })
        .await;
    let connected = Instant::now();
    browser
        .wait_text("#etat", Duration::from_secs(5), |t| {
            t.contains("En communication")
        })
        .await;

    // The page hears the caller: its inbound level rises.
    let deadline = Instant::now() + Duration::from_secs(8);
    let level = loop {
        let level: f64 = browser
            .attribute("#softphone-niveau", "value")
            .await
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        if level > 0.05 || Instant::now() > deadline {
            break level;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(level > 0.05, "inbound level stayed at {level}");
    browser
        .screenshot(&screenshot_dir(dir.path()).join("agent-appel.png"))
        .await;

    // The caller hears the agent's microphone: not silence, and the 1 kHz tone.
    tokio::time::sleep(
        (connected + Duration::from_millis(2500)).saturating_duration_since(Instant::now()),
    )
    .await;
    let pcm = media.audio_between(connected + Duration::from_millis(500), Instant::now());
    assert!(pcm.len() >= 8000, "only {} samples received", pcm.len());
    let (loudness, share) = (rms(&pcm), tone_share(&pcm, MIC_HZ));
    eprintln!("caller hears: rms {loudness:.0}, 1 kHz share {share:.2}, page level {level:.2}");
    assert!(
        loudness > 300.0,
        "the caller hears silence (rms {loudness})"
    );
    assert!(
        share > 0.5,
        "the caller does not hear the tone (share {share})"
    );

    // Keypad: digits reach the caller as telephone events.
    let keyed = Instant::now();
    browser
        .click("#softphone-clavier [data-touche=\"5\"]")
        .await;
    let deadline = Instant::now() + Duration::from_secs(3);
    while !media.events_since(keyed).contains(&5) {
        assert!(
            Instant::now() < deadline,
            "digit 5 never reached the caller"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Hold: the caller hears the music on hold, not the agent; then the agent again.
    browser.click("#softphone-attente").await;
    browser
        .wait_text("#softphone-etat", Duration::from_secs(5), |t| {
            t.starts_with("Appelant en attente")
        })
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let from = Instant::now();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let held = media.audio_between(from, Instant::now());
    let held_share = tone_share(&held, MIC_HZ);
    assert!(
        rms(&held) > 100.0 && held_share < 0.3,
        "on hold the caller should hear music (rms {}, 1 kHz share {held_share})",
        rms(&held)
    );
    browser.click("#softphone-attente").await;
    browser
        .wait_text("#softphone-etat", Duration::from_secs(5), |t| {
            t == "En communication."
        })
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let from = Instant::now();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let back = tone_share(&media.audio_between(from, Instant::now()), MIC_HZ);
    assert!(
        back > 0.5,
        "after hold the caller hears the agent again ({back})"
    );

    // Écoute et coaching from the wallboard: the admin (a supervisor) listens (hears the call,
    // the caller does not hear them), whispers (the caller still does not), barges in (the
    // caller hears the supervisor's 1.5 kHz microphone), leaves; every step is journaled.
    let supervisor_wav = dir.path().join("superviseur.wav");
    let status = Command::new("sox")
        .args(["-n", "-r", "48000", "-c", "1", "-b", "16"])
        .arg(&supervisor_wav)
        .args([
            "synth", "0.4", "sine", "1500", "vol", "0.5", "pad", "0", "0.1",
        ])
        .args(["repeat", "39"])
        .status()
        .expect("run sox");
    assert!(status.success(), "sox failed");
    let supervisor = Browser::start_with_fake_microphone(&supervisor_wav).await;
    supervisor
        .login(&server, "admin", "Guichet-Admin-2026!")
        .await;
    supervisor
        .click("#ecoute-agent option[value=\"amelie.martin\"]")
        .await;
    supervisor.click("#ecoute-ecouter").await;
    supervisor
        .wait_text("#ecoute-etat", Duration::from_secs(10), |t| {
            t == "Écoute en cours : Amélie Martin."
        })
        .await;
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        let level: f64 = supervisor
            .attribute("#ecoute-niveau", "value")
            .await
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        if level > 0.05 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the supervisor hears nothing ({level})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let share_heard_by_caller = |from: Instant| {
        let pcm = media.audio_between(from, Instant::now());
        (tone_share(&pcm, SUPERVISOR_HZ), tone_share(&pcm, MIC_HZ))
    };
    let from = Instant::now();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let (listen, agent_heard) = share_heard_by_caller(from);
    assert!(
        listen < 0.02 && agent_heard > 0.5,
        "listening: the caller hears the agent only (supervisor {listen}, agent {agent_heard})"
    );
    supervisor.click("#ecoute-chuchoter").await;
    supervisor
        .wait_text("#ecoute-etat", Duration::from_secs(5), |t| {
            t.starts_with("Chuchotement à l'agent en cours")
        })
        .await;
    let from = Instant::now();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let (whisper, _) = share_heard_by_caller(from);
    assert!(
        whisper < 0.02,
        "whispering: the caller hears the supervisor ({whisper})"
    );
    supervisor.click("#ecoute-intervenir").await;
    supervisor
        .wait_text("#ecoute-etat", Duration::from_secs(5), |t| {
            t.starts_with("Intervention en cours")
        })
        .await;
    // The supervisor's stream joins the mix within a moment (on 2 busy cores, give it 5 s).
    let deadline = Instant::now() + Duration::from_secs(5);
    let barge = loop {
        let from = Instant::now();
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let (barge, _) = share_heard_by_caller(from);
        if barge > 0.1 || Instant::now() > deadline {
            break barge;
        }
    };
    eprintln!(
        "supervisor share heard by the caller: listen {listen:.3}, whisper {whisper:.3}, barge {barge:.3}"
    );
    assert!(
        barge > 0.1,
        "barging in: the caller does not hear the supervisor ({barge})"
    );
    supervisor.click("#ecoute-quitter").await;
    supervisor
        .wait_text("#ecoute-etat", Duration::from_secs(5), |t| {
            t == "Vous avez quitté l'appel."
        })
        .await;
    let store = guichet_tickets::Store::open(&db.url())
        .await
        .expect("store");
    let around = chrono::DateTime::parse_from_rfc3339(OPEN_HOURS)
        .expect("open hours")
        .with_timezone(&chrono::Utc);
    let journal: Vec<String> = store
        .journal_between(
            around - chrono::Duration::days(1),
            around + chrono::Duration::days(1),
        )
        .await
        .expect("journal")
        .into_iter()
        .filter(|e| e.actor == "admin" && e.subject == "agent:amelie.martin")
        .map(|e| e.action)
        .collect();
    assert_eq!(
        journal,
        [
            "monitor.listen",
            "monitor.whisper",
            "monitor.barge",
            "monitor.leave"
        ],
        "the supervision is journaled in order"
    );
    drop(supervisor);

    // « Raccrocher »: Guichet ends the caller's leg (SIPp gets its BYE), the record is closed
    // as answered by Amélie, who is in wrap-up.
    browser.click("#softphone-raccrocher").await;
    browser
        .wait_text("#softphone-etat", Duration::from_secs(5), |t| {
            t == "Communication terminée."
        })
        .await;
    call.expect_success(Duration::from_secs(10), &server);
    let record = closed_record(&db, VIP_NUMBER).await;
    assert_eq!(
        record.outcome,
        Some(guichet_tickets::CallOutcome::Answered),
        "{record:?}"
    );
    assert_eq!(record.agent.as_deref(), Some("amelie.martin"));
    assert!(record.vip);
    browser
        .wait_text("#etat", Duration::from_secs(5), |t| {
            t.contains("Post-appel")
        })
        .await;

    // A caller who gives up while the page rings: the page stops ringing, the call is an
    // abandon while ringing, Amélie is available again (not stuck ringing).
    browser.click("#etat-fin-post-appel").await;
    browser
        .wait_text("#etat", Duration::from_secs(5), |t| {
            t.contains("Disponible")
        })
        .await;
    let impatient = impatient_caller(
        dir.path(),
        "impatient",
        &server,
        "8585",
        VIP_NUMBER,
        100,
        6500,
    );
    browser
        .wait_text("#softphone-appel", Duration::from_secs(15), |t| {
            t.contains("Appel entrant")
        })
        .await;
    browser
        .wait_text("#softphone-etat", Duration::from_secs(10), |t| {
            t == "L'appelant a raccroché avant la réponse."
        })
        .await;
    assert_eq!(
        browser
            .attribute("#softphone-appel", "hidden")
            .await
            .as_deref(),
        Some("true"),
        "the banner is hidden once the caller is gone"
    );
    impatient.expect_success(Duration::from_secs(10), &server);
    let abandon = closed_record(&db, VIP_NUMBER).await;
    assert_ne!(
        abandon.id, record.id,
        "a new record for the second VIP call"
    );
    assert_eq!(
        abandon.outcome,
        Some(guichet_tickets::CallOutcome::AbandonedWhileRinging),
        "{abandon:?}"
    );
    browser
        .wait_text("#etat", Duration::from_secs(5), |t| {
            t.contains("Disponible")
        })
        .await;

    // The page goes away in the middle of a call: Guichet hangs up as if the agent had.
    let media = CallerMedia::start(CALLER_HZ).await;
    let call = media.caller(
        dir.path(),
        "caller-lost-page",
        server.sip,
        "8585",
        VIP_NUMBER,
    );
    browser
        .wait_text("#softphone-appel", Duration::from_secs(20), |t| {
            t.contains("Appel entrant")
        })
        .await;
    browser.click("#softphone-repondre").await;
    browser
        .wait_text("#softphone-etat", Duration::from_secs(10), |t| {
            t == "En communication."
        })
        .await;
    let answered_at = Instant::now();
    browser
        .goto(&format!("http://{}/mon-compte", server.http))
        .await;
    call.expect_success(Duration::from_secs(10), &server);
    let lost = closed_record(&db, VIP_NUMBER).await;
    assert!(
        lost.id != record.id && lost.id != abandon.id,
        "a new record"
    );
    assert_eq!(lost.outcome, Some(guichet_tickets::CallOutcome::Answered));
    assert!(
        !media.audio_between(answered_at, Instant::now()).is_empty(),
        "the call was connected before the page went away"
    );
}

/// An agent with both a desk phone and the softphone page: both ring, the page answers first,
/// the desk phone gets CANCEL, and the call goes on in the browser.
#[tokio::test(flavor = "multi_thread")]
async fn with_a_desk_phone_and_the_page_both_ring_and_the_first_answer_cancels_the_other() {
    if !have_browser() || !have("sipp") || !have("sox") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let wav = dir.path().join("micro.wav");
    let status = Command::new("sox")
        .args(["-n", "-r", "48000", "-c", "1", "-b", "16"])
        .arg(&wav)
        .args([
            "synth", "0.4", "sine", "1000", "vol", "0.5", "pad", "0", "0.1",
        ])
        .args(["repeat", "39"])
        .status()
        .expect("run sox");
    assert!(status.success(), "sox failed");
    let db = Db::Sqlite(dir.path().join("both.db"));
    let server = Server::start(
        dir.path(),
        &db,
        &ServerOptions {
            clock_start: OPEN_HOURS,
            edits: vec![md5_only()],
        },
    );
    let browser = Browser::start_with_fake_microphone(&wav).await;
    browser.login(&server, "chloe.durand", DEMO_PASSWORD).await;
    browser.find("#connexion-flux").await;
    browser.goto(&format!("http://{}/agent", server.http)).await;
    browser
        .wait_text("#softphone-etat", Duration::from_secs(10), |t| {
            t.starts_with("Softphone prêt")
        })
        .await;
    // Chloé's desk phone registers (she is logged in to her queues) and never picks up.
    let phone_port = free_udp_port();
    let phone = unanswered_desk_phone(dir.path(), "chloe", phone_port);
    register_desk_phone(dir.path(), &server, "1003", "demo-1003-secret", phone_port);
    browser
        .wait_text("#etat", Duration::from_secs(5), |t| {
            t.contains("Disponible")
        })
        .await;

    let media = CallerMedia::start(CALLER_HZ).await;
    let call = media.caller(dir.path(), "caller", server.sip, "8585", VIP_NUMBER);
    browser
        .wait_text("#softphone-appel", Duration::from_secs(20), |t| {
            t.contains("Appel entrant")
        })
        .await;
    browser.click("#softphone-repondre").await;
    browser
        .wait_text("#softphone-etat", Duration::from_secs(10), |t| {
            t == "En communication."
        })
        .await;
    // The desk phone, which rang too, is cancelled (the scenario expects CANCEL).
    phone.expect_success(Duration::from_secs(10), &server);
    let from = Instant::now();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let share = tone_share(&media.audio_between(from, Instant::now()), MIC_HZ);
    assert!(share > 0.5, "the caller hears the browser ({share})");

    browser.click("#softphone-raccrocher").await;
    call.expect_success(Duration::from_secs(10), &server);
    let record = closed_record(&db, VIP_NUMBER).await;
    assert_eq!(record.outcome, Some(guichet_tickets::CallOutcome::Answered));
    assert_eq!(record.agent.as_deref(), Some("chloe.durand"));

    // The other way round: the desk phone answers first (after 300 ms of ringing), the page
    // stops ringing and says where the call went.
    browser.click("#etat-fin-post-appel").await;
    browser
        .wait_text("#etat", Duration::from_secs(5), |t| {
            t.contains("Disponible")
        })
        .await;
    let phone = answering_desk_phone(dir.path(), "chloe-answers", phone_port, 1500);
    let call = caller(
        dir.path(),
        "second",
        &server,
        "8585",
        VIP_NUMBER,
        &dtmf_pcap("1"),
        100,
    );
    browser
        .wait_text("#softphone-etat", Duration::from_secs(20), |t| {
            t == "Appel décroché sur le poste téléphonique."
        })
        .await;
    assert_eq!(
        browser
            .attribute("#softphone-appel", "hidden")
            .await
            .as_deref(),
        Some("true")
    );
    phone.expect_success(Duration::from_secs(10), &server);
    call.expect_success(Duration::from_secs(10), &server);
    let second = closed_record(&db, VIP_NUMBER).await;
    assert_ne!(second.id, record.id);
    assert_eq!(second.outcome, Some(guichet_tickets::CallOutcome::Answered));
}
