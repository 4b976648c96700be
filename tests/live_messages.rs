//! A crisis message set by a supervisor while the server runs is heard by the next caller,
//! with no restart; an agent may not set one. A crisis message scheduled for later is not
//! heard before its start and is heard after it; a prompt replaced by an administrator is
//! what the next caller receives.

mod support;
#[path = "support/web.rs"]
mod web;

use std::process::Command;
use std::time::Duration;

use guichet_tickets::Store;
use support::*;

async fn events_of_call(db: &Db, nth: usize) -> Vec<String> {
    let store = Store::open(&db.url()).await.expect("store");
    for _ in 0..100 {
        let mut history = store.caller_history(VIP_NUMBER, 10).await.expect("history");
        history.sort_by_key(|c| c.id);
        if let Some(call) = history.get(nth)
            && call.outcome.is_some()
        {
            return store
                .call_events(call.id)
                .await
                .expect("events")
                .into_iter()
                .filter_map(|e| e.detail)
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("call {nth} was not logged");
}

fn message_command(server: &Server, author: &str, text: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_guichet"))
        .arg("message")
        .arg("--config")
        .arg(server.dir.join("guichet.toml"))
        .args(["--database", &server.db.url()])
        .args(["--line", "8585", "--kind", "crise", "--author", author])
        .args(["--text", text])
        .output()
        .expect("run guichet message")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crisis_message_set_between_two_calls_is_heard_by_the_second_caller() {
    if !have("sipp") || !have("espeak-ng") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    for db in databases(dir.path(), "crisis").await {
        let run = tempfile::tempdir_in(dir.path()).expect("run dir");
        let server = Server::start(
            run.path(),
            &db,
            &ServerOptions {
                clock_start: OPEN_HOURS,
                edits: vec![],
            },
        );
        // Nobody is logged in: each call ends with the callback confirmation. The caller's
        // media is the test's own receiver, so what Guichet played can be compared with the
        // prompts and the synthesised message.
        let heard_before = RtpCapture::start();
        listening_caller(
            run.path(),
            "before",
            &server,
            "8585",
            VIP_NUMBER,
            heard_before.port,
            None,
        )
        .expect_success(Duration::from_secs(40), &server);
        let before = events_of_call(&db, 0).await;
        assert!(
            !before.iter().any(|e| e.contains("message_played")),
            "{before:?}"
        );

        // An agent may not change messages.
        let refused = message_command(&server, "amelie.martin", "Panne générale.");
        assert!(!refused.status.success());
        assert!(
            String::from_utf8_lossy(&refused.stderr).contains("superviseur"),
            "{}",
            String::from_utf8_lossy(&refused.stderr)
        );

        // A supervisor sets the crisis message; the server is not restarted.
        let set = message_command(
            &server,
            "chloe.durand",
            "Une panne de la messagerie est en cours. Nos équipes sont mobilisées.",
        );
        assert!(
            set.status.success(),
            "{}",
            String::from_utf8_lossy(&set.stderr)
        );
        tokio::time::sleep(Duration::from_millis(1500)).await;

        let heard_after = RtpCapture::start();
        listening_caller(
            run.path(),
            "after",
            &server,
            "8585",
            VIP_NUMBER,
            heard_after.port,
            None,
        )
        .expect_success(Duration::from_secs(60), &server);
        let after = events_of_call(&db, 1).await;
        let played = after
            .iter()
            .find(|e| e.contains("message_played"))
            .unwrap_or_else(|| panic!("the second caller heard no message: {after:?}"));
        assert!(played.contains("crisis"), "{played}");
        assert!(played.contains("chloe.durand"), "{played}");

        // The audio itself: the second caller received the message file the supervisor's
        // text was synthesised into (its µ-law bytes, exactly), before the VIP welcome; the
        // first caller received the VIP welcome and no message.
        let store = Store::open(&db.url()).await.expect("store");
        let message = store
            .active_message(
                "8585",
                guichet_tickets::admin::MessageKind::Crisis,
                chrono::Utc::now(),
            )
            .await
            .expect("active message")
            .expect("a crisis message is active");
        let message_wav = message.message.audio_path.expect("a synthesised file");
        let message_print = pcmu_fingerprint(std::path::Path::new(&message_wav));
        let vip_print = pcmu_fingerprint(&shipped_prompt("vip_prioritaire"));
        let before_audio = pcmu_stream(&heard_before.packets());
        let after_audio = pcmu_stream(&heard_after.packets());
        assert_eq!(occurrences(&before_audio, &message_print).len(), 0);
        assert_eq!(occurrences(&before_audio, &vip_print).len(), 1);
        let message_at = occurrences(&after_audio, &message_print);
        let vip_at = occurrences(&after_audio, &vip_print);
        assert_eq!(message_at.len(), 1, "the new message was not received");
        assert_eq!(vip_at.len(), 1);
        assert!(message_at[0] < vip_at[0], "{message_at:?} {vip_at:?}");

        let journal = store
            .journal_between(
                chrono::Utc::now() - chrono::TimeDelta::days(1),
                chrono::Utc::now() + chrono::TimeDelta::days(1),
            )
            .await
            .expect("journal");
        assert!(
            journal.iter().any(|j| j.actor == "chloe.durand"
                && j.new_value
                    .as_deref()
                    .is_some_and(|v| v.contains("messagerie"))),
            "{journal:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_deterrence_message_switches_on_by_itself_when_calls_pile_up() {
    if !have("sipp") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::Sqlite(dir.path().join("deterrence.db"));
    // Two calls in the last ten minutes cross the threshold on the Louvre line: the second
    // caller's own arrival switches the message on before they reach that point of the flow.
    let server = Server::start(
        dir.path(),
        &db,
        &ServerOptions {
            clock_start: OPEN_HOURS,
            edits: vec![(
                "sla_policy = \"louvre\"\n",
                "sla_policy = \"louvre\"\n\n[lines.deterrence]\ncalls_waiting = 50\nlongest_wait_secs = 3600\ncalls_last_10_min = 2\nclear_after_secs = 600\n"
                    .to_owned(),
            )],
        },
    );
    let numbers = ["+33140205050", "+33140158210"];
    for (i, number) in numbers.iter().enumerate() {
        // Ordinary callers press 1 in the menu, pass the deterrence node, and (nobody is
        // logged in) leave with a callback request.
        caller(
            dir.path(),
            &format!("c{i}"),
            &server,
            "8585",
            number,
            &dtmf_pcap("1"),
            4000,
        )
        .expect_success(Duration::from_secs(60), &server);
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    let store = Store::open(&db.url()).await.expect("store");
    let mut heard = Vec::new();
    for number in numbers {
        let call = store.caller_history(number, 1).await.expect("history")[0].clone();
        let events: Vec<String> = store
            .call_events(call.id)
            .await
            .expect("events")
            .into_iter()
            .filter_map(|e| e.detail)
            .collect();
        heard.push(
            events
                .iter()
                .any(|e| e.contains("message_played") && e.contains("deterrence")),
        );
    }
    assert_eq!(
        heard,
        [false, true],
        "alone, the first caller is under the threshold; the second crosses it and hears the message"
    );
    let journal = store
        .journal_between(
            chrono::Utc::now() - chrono::TimeDelta::days(1),
            chrono::Utc::now() + chrono::TimeDelta::days(1),
        )
        .await
        .expect("journal");
    assert!(
        journal.iter().any(|j| j.action.contains("deterrence")),
        "{journal:?}"
    );
}

const DEMO_PASSWORD: &str = "Guichet-Demo-2026!";
const ADMIN_PASSWORD: &str = "Guichet-Admin-2026!";

/// A 3 s rising sweep (300 Hz to 1,200 Hz), 8 kHz mono 16-bit: audio no shipped prompt
/// contains, so finding it in a caller's RTP proves the replacement was played.
fn sweep_wav() -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut out = std::io::Cursor::new(Vec::new());
    let mut writer = hound::WavWriter::new(&mut out, spec).expect("WAV writer");
    for n in 0..24_000 {
        let t = f64::from(n) / 8000.0;
        // Phase of a linear chirp: f(t) = 300 + 150 t Hz over 3 s.
        let phase = 2.0 * std::f64::consts::PI * (300.0 * t + 75.0 * t * t);
        writer
            .write_sample((8000.0 * phase.sin()) as i16)
            .expect("write a sample");
    }
    writer.finalize().expect("finish the WAV");
    out.into_inner()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scheduled_crisis_message_and_a_replaced_prompt_reach_the_next_caller() {
    if !have("sipp") || !have("espeak-ng") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::Sqlite(dir.path().join("scheduled.db"));
    let server = Server::start(
        dir.path(),
        &db,
        &ServerOptions {
            clock_start: OPEN_HOURS,
            edits: vec![],
        },
    );
    let base = format!("http://{}", server.http);
    let (sup, sup_csrf) = web::session_and_csrf(&server, "chloe.durand", DEMO_PASSWORD).await;
    let (admin, admin_csrf) = web::session_and_csrf(&server, "admin", ADMIN_PASSWORD).await;
    let client = web::http();

    // A crisis message scheduled 6 s ahead of the server's clock.
    let snapshot: serde_json::Value = client
        .get(format!("{base}/api/v1/snapshot"))
        .header(reqwest::header::COOKIE, &sup)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let server_now = chrono::DateTime::parse_from_rfc3339(snapshot["at"].as_str().unwrap())
        .unwrap()
        .to_utc();
    let lead = Duration::from_secs(6);
    let starts = server_now + chrono::Duration::from_std(lead).unwrap();
    let scheduled_at = std::time::Instant::now();
    let text = "Une maintenance de la messagerie est en cours.";
    let resp = client
        .post(format!("{base}/api/v1/lines/8585/messages/crise/scheduled"))
        .header(reqwest::header::COOKIE, &sup)
        .header("x-csrf-token", &sup_csrf)
        .json(&serde_json::json!({
            "text": text,
            "starts_at": starts.to_rfc3339(),
            "ends_at": (starts + chrono::Duration::hours(1)).to_rfc3339(),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());

    // The next caller, before the start, hears the shipped VIP welcome and no message.
    assert!(
        scheduled_at.elapsed() < lead - Duration::from_secs(2),
        "the machine is too slow for this check: the start is already near"
    );
    let heard_before = RtpCapture::start();
    listening_caller(
        dir.path(),
        "before-start",
        &server,
        "8585",
        VIP_NUMBER,
        heard_before.port,
        Some(6_000),
    )
    .expect_success(Duration::from_secs(40), &server);

    // An administrator replaces the VIP welcome with a recording (the API twin of
    // /admin/annonces); then the message's start passes.
    let recording = sweep_wav();
    let resp = client
        .put(format!("{base}/api/v1/admin/prompts/vip_prioritaire"))
        .header(reqwest::header::COOKIE, &admin)
        .header("x-csrf-token", &admin_csrf)
        .header(reqwest::header::CONTENT_TYPE, "audio/wav")
        .body(recording.clone())
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    let recording_path = dir.path().join("vip-replacement.wav");
    std::fs::write(&recording_path, &recording).expect("write the recording");
    let wait = (lead + Duration::from_millis(2_500)).saturating_sub(scheduled_at.elapsed());
    tokio::time::sleep(wait).await;

    // The message, as the supervisor's listen link serves it now that it plays.
    let message = client
        .get(format!("{base}/superviseur/messages/8585/crise/ecoute"))
        .header(reqwest::header::COOKIE, &sup)
        .send()
        .await
        .unwrap();
    assert_eq!(message.status(), 200, "the scheduled message is not live");
    let message_path = dir.path().join("scheduled-message.wav");
    std::fs::write(&message_path, message.bytes().await.unwrap()).expect("write the message");

    // The next caller after the start hears the message, then the replaced welcome.
    let heard_after = RtpCapture::start();
    listening_caller(
        dir.path(),
        "after-start",
        &server,
        "8585",
        VIP_NUMBER,
        heard_after.port,
        Some(12_000),
    )
    .expect_success(Duration::from_secs(40), &server);

    let message_print = pcmu_fingerprint(&message_path);
    let recording_print = pcmu_fingerprint(&recording_path);
    let shipped_print = pcmu_fingerprint(&shipped_prompt("vip_prioritaire"));
    let before = pcmu_stream(&heard_before.packets());
    let after = pcmu_stream(&heard_after.packets());
    assert_eq!(
        (
            occurrences(&before, &message_print).len(),
            occurrences(&before, &shipped_print).len(),
            occurrences(&before, &recording_print).len()
        ),
        (0, 1, 0),
        "before the start: no message, the shipped welcome ({} bytes of audio)",
        before.len()
    );
    let message_at = occurrences(&after, &message_print);
    let recording_at = occurrences(&after, &recording_print);
    assert_eq!(
        (message_at.len(), recording_at.len()),
        (1, 1),
        "after the start: the message and the replaced welcome ({} bytes of audio)",
        after.len()
    );
    assert_eq!(occurrences(&after, &shipped_print).len(), 0);
    assert!(message_at[0] < recording_at[0], "the message comes first");
}
