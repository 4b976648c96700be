//! A crisis message set by a supervisor while the server runs is heard by the next caller,
//! with no restart; an agent may not set one.

mod support;

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
