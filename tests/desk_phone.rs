//! An independent SIP desk phone as the agent's phone: baresip registers to a running
//! `guichet serve` as Amélie's extension 1001 (digest authentication for real), a caller
//! dials the Louvre line 8585, chooses 1 in the menu by RFC 4733, waits in the queue, and the
//! call is offered to baresip. Audio is checked both ways against what each side played, the
//! end of the call against baresip's own SIP trace, and the call log and ticket in the store,
//! on SQLite and on PostgreSQL.
//!
//! When `CI=true` a missing `baresip` or `sipp` fails the tests; otherwise they are skipped.

mod support;
#[path = "support/web.rs"]
mod web;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use guichet_media::Codec;
use guichet_tickets::{CallOutcome, Store};
use support::caller_media::CallerMedia;
use support::*;

const DEMO_PASSWORD: &str = "Guichet-Demo-2026!";
/// Amélie's desk phone in the demo configuration.
const EXTENSION: &str = "1001";
const SIP_SECRET: &str = "demo-1001-secret";
const AGENT: &str = "amelie.martin";
/// The tone the caller says all along (Hz).
const CALLER_HZ: f64 = 600.0;
/// What the desk phone says: this many seconds of a known pseudo-random signal.
const VOICE_SECS: u32 = 20;

/// How the desk phone takes an incoming call (baresip's `answermode` account parameter).
#[derive(Clone, Copy)]
enum Answer {
    Auto,
    Manual,
}

/// A running baresip registered (or registering) as extension 1001, with its SIP trace and
/// logs in a file, and what it receives recorded by its `sndfile` filter.
struct DeskPhone {
    child: Child,
    log: PathBuf,
    recordings: PathBuf,
    /// Its `ctrl_tcp` control port (the keys of the phone, for the test).
    control: u16,
}

impl Drop for DeskPhone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl DeskPhone {
    /// Starts baresip in `dir`, playing `voice` (a WAV file) as its microphone, with `codec`
    /// as its only audio codec.
    fn start(dir: &Path, server: &Server, answer: Answer, codec: Codec, voice: &Path) -> DeskPhone {
        let recordings = dir.join("recordings");
        std::fs::create_dir_all(&recordings).expect("recordings dir");
        let control = free_udp_port();
        let rtp = free_even_port_range(10);
        std::fs::write(
            dir.join("config"),
            format!(
                "poll_method epoll\nsip_listen 127.0.0.1:{sip_port}\n\
                 audio_player aufile,/dev/null\naudio_source aufile,{voice}\n\
                 audio_alert aufile,/dev/null\nmodule_path /usr/lib/baresip/modules\n\
                 module g711.so\nmodule aufile.so\nmodule sndfile.so\nsnd_path {recordings}\n\
                 module_app account.so\nmodule_app menu.so\nrtp_ports {rtp}-{rtp_end}\n\
                 module_app ctrl_tcp.so\nctrl_tcp_listen 127.0.0.1:{control}\n",
                sip_port = free_udp_port(),
                voice = voice.display(),
                recordings = recordings.display(),
                rtp_end = rtp + 9,
            ),
        )
        .expect("baresip config");
        let codec = match codec {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        };
        let answermode = match answer {
            Answer::Auto => "auto",
            Answer::Manual => "manual",
        };
        std::fs::write(
            dir.join("accounts"),
            format!(
                "<sip:{EXTENSION}@{server};transport=udp>;auth_pass={SIP_SECRET};regint=600;\
                 answermode={answermode};audio_codecs={codec}\n",
                server = server.sip
            ),
        )
        .expect("baresip accounts");
        let log = dir.join("baresip.log");
        let out = std::fs::File::create(&log).expect("baresip log");
        // `-s` writes every SIP message baresip sends and receives to its output: the test
        // reads the BYE and the CANCEL there. `-t` is a backstop should the test hang.
        let child = Command::new("baresip")
            .arg("-f")
            .arg(dir)
            .args(["-n", "127.0.0.1", "-s", "-t", "60"])
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("clone"))
            .stderr(out)
            .spawn()
            .expect("start baresip");
        DeskPhone {
            child,
            log,
            recordings,
            control,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Presses a key of the phone: a baresip command (`hold`, `resume`) through `ctrl_tcp`
    /// (a JSON request in a netstring), and checks that baresip accepted it.
    async fn press(&self, command: &str) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let request = format!("{{\"command\":\"{command}\",\"token\":\"{command}\"}}");
        let mut control = tokio::net::TcpStream::connect(("127.0.0.1", self.control))
            .await
            .expect("connect to baresip's ctrl_tcp");
        control
            .write_all(format!("{}:{request},", request.len()).as_bytes())
            .await
            .expect("send the command");
        let mut answer = Vec::new();
        let mut buf = [0u8; 1024];
        while !String::from_utf8_lossy(&answer).contains("\"response\"") {
            let n = tokio::time::timeout(Duration::from_secs(5), control.read(&mut buf))
                .await
                .expect("baresip answers its command in 5 s")
                .expect("read the answer");
            assert!(n > 0, "baresip closed the control connection");
            answer.extend_from_slice(&buf[..n]);
        }
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.contains("\"ok\":true"), "{command}: {answer}");
    }

    /// Asks baresip to quit as a user would (SIGTERM): it unregisters first.
    fn switch_off(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits until baresip's output satisfies `done`.
    async fn wait_log(&self, within: Duration, what: &str, done: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + within;
        while !done(&self.log()) {
            assert!(
                Instant::now() < deadline,
                "baresip: {what} not seen in {within:?}\n--- baresip ---\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What baresip decoded from the RTP it received (its `sndfile` recording).
    fn received_audio(&self) -> Vec<i16> {
        let recording = std::fs::read_dir(&self.recordings)
            .expect("recordings")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
            .expect("baresip recorded no received audio");
        guichet_media::Audio::from_wav(&recording)
            .expect("read baresip's recording")
            .samples()
            .to_vec()
    }
}

/// The SIP requests of a given method baresip received, as its trace prints them.
fn received_requests(log: &str, method: &str) -> usize {
    log.lines()
        .filter(|l| l.starts_with(&format!("{method} sip:")))
        .count()
}

/// A 16-bit mono 8 kHz WAV of `seconds` of a pseudo-random signal (a linear congruential
/// sequence): any 200 ms of it occurs once, so finding a stretch in what the caller heard
/// says where the phone's audio is and that it arrived intact.
fn voice_wav(seconds: u32) -> (Vec<u8>, Vec<i16>) {
    let mut state = 0x2545_f491_u32;
    let samples: Vec<i16> = (0..seconds * 8000)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            // The top bits, scaled to ±8000: loud, never clipped.
            ((state >> 16) as i16) / 4
        })
        .collect();
    (wav_8k_mono(&samples), samples)
}

/// Where `stretch` (PCM, before G.711) occurs in `heard` (decoded G.711): each sample is
/// allowed a quantisation step of µ-law (a sixteenth of the segment and the smallest step),
/// since baresip's encoder and our decoder may round to different values in a step.
fn find(heard: &[i16], stretch: &[i16]) -> Vec<usize> {
    let close = |a: i16, b: i16| (i32::from(a) - i32::from(b)).abs() <= i32::from(b).abs() / 8 + 16;
    heard
        .windows(stretch.len())
        .enumerate()
        .filter(|(_, w)| w.iter().zip(stretch).all(|(&a, &b)| close(a, b)))
        .map(|(i, _)| i)
        .collect()
}

/// The share of the energy of `pcm` at `hz` (Goertzel), between 0 and 1.
fn tone_share(pcm: &[i16], hz: f64) -> f64 {
    let coefficient = 2.0 * (2.0 * std::f64::consts::PI * hz / 8000.0).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    let mut energy = 0.0f64;
    for &x in pcm {
        let x = f64::from(x);
        let s0 = x + coefficient * s1 - s2;
        s2 = s1;
        s1 = s0;
        energy += x * x;
    }
    if energy == 0.0 {
        return 0.0;
    }
    let power = s1 * s1 + s2 * s2 - coefficient * s1 * s2;
    // A pure tone over N samples has a Goertzel power of N/2 times its energy.
    (power / (energy * pcm.len() as f64 / 2.0)).min(1.0)
}

/// The state of Amélie in the ACD, as the supervisors' API shows it (`available`, ...).
async fn agent_state(server: &Server, supervisor: &str) -> String {
    let snapshot: serde_json::Value = web::http()
        .get(format!("http://{}/api/v1/snapshot", server.http))
        .header(reqwest::header::COOKIE, supervisor)
        .send()
        .await
        .expect("GET /api/v1/snapshot")
        .json()
        .await
        .expect("snapshot JSON");
    snapshot["agents"]
        .as_array()
        .expect("agents")
        .iter()
        .find(|a| a["agent"] == AGENT)
        .map(|a| a["status"]["state"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_else(|| panic!("{AGENT} is not in the snapshot: {snapshot}"))
}

/// Waits until the ACD shows Amélie in `state`.
async fn wait_agent_state(server: &Server, supervisor: &str, state: &str, phone: &DeskPhone) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = agent_state(server, supervisor).await;
        if now == state {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{AGENT} is {now}, not {state}\n--- baresip ---\n{}\n--- guichet ---\n{}",
            phone.log(),
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A server, and baresip registered on it as Amélie's desk phone: she is available.
async fn server_and_phone(
    run: &Path,
    db: &Db,
    answer: Answer,
    codec: Codec,
    voice: &Path,
) -> (Server, DeskPhone, String) {
    let server = Server::start(
        run,
        db,
        &ServerOptions {
            clock_start: OPEN_HOURS,
            // baresip 1.0 gives up at a first challenge it cannot answer, and it answers
            // only MD5: Amélie's phone alone is offered MD5; the server's default stays
            // SHA-256 then MD5 (docs/sip.md, "Tested phones").
            edits: vec![(
                "sip_secret = \"demo-1001-secret\"",
                "sip_secret = \"demo-1001-secret\"\ndigest_algorithms = [\"md5\"]".to_owned(),
            )],
        },
    );
    let supervisor = web::session_cookie(&server, "chloe.durand", DEMO_PASSWORD).await;
    assert_eq!(agent_state(&server, &supervisor).await, "logged_out");
    let phone_dir = run.join("baresip");
    std::fs::create_dir_all(&phone_dir).expect("baresip dir");
    let phone = DeskPhone::start(&phone_dir, &server, answer, codec, voice);
    // Registered for real: challenged, then accepted with the digest of the secret.
    phone
        .wait_log(Duration::from_secs(10), "its registration", |log| {
            log.contains("401 Unauthorized")
                && log.contains("Authorization: Digest username=\"1001\"")
                && log.contains("200 OK (Guichet) [1 binding]")
        })
        .await;
    let log = phone.log();
    let challenges: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with("WWW-Authenticate:"))
        .collect();
    assert_eq!(challenges.len(), 1, "{challenges:?}");
    assert!(challenges[0].contains("algorithm=MD5"), "{challenges:?}");
    wait_agent_state(&server, &supervisor, "available", &phone).await;
    (server, phone, supervisor)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_caller_reaches_baresip_as_the_agent_and_both_hear_each_other() {
    if !have("sipp") || !have("baresip") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (wav, voice) = voice_wav(VOICE_SECS);
    let voice_path = dir.path().join("voice.wav");
    std::fs::write(&voice_path, wav).expect("voice WAV");
    for db in databases(dir.path(), "deskphone").await {
        let run = tempfile::tempdir_in(dir.path()).expect("run dir");
        let (server, phone, supervisor) =
            server_and_phone(run.path(), &db, Answer::Auto, Codec::Pcma, &voice_path).await;

        // The caller presses 1 while the menu plays (the welcome lasts 2.7 s), is queued and
        // offered to baresip, talks, and hangs up 15 s after its ACK. Meanwhile the agent
        // talks 3.6 s, presses Hold for 2.5 s, and resumes.
        let media =
            CallerMedia::start_pressing(CALLER_HZ, Some((1, Duration::from_millis(3500)))).await;
        let started = Instant::now();
        let call = media.caller_hanging_up(
            run.path(),
            "caller",
            server.sip,
            "8585",
            ORDINARY_NUMBER,
            15_000,
        );
        phone
            .wait_log(Duration::from_secs(15), "the call", |log| {
                log.contains("Call established")
            })
            .await;
        tokio::time::sleep(Duration::from_millis(3600)).await;
        let held = Instant::now();
        phone.press("hold").await;
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let resumed = Instant::now();
        phone.press("resume").await;
        call.expect_success(Duration::from_secs(30), &server);
        let hung_up = Instant::now();

        // Guichet ended baresip's leg with a BYE, which baresip answered and closed.
        phone
            .wait_log(
                Duration::from_secs(5),
                "Guichet's BYE ending the call",
                |log| {
                    received_requests(log, "BYE") == 1
                        && log.contains("Call with sip:+33140205050@127.0.0.1 terminated")
                },
            )
            .await;
        let log = phone.log();
        assert_eq!(received_requests(&log, "CANCEL"), 0, "{log}");
        // Guichet's INVITE, then baresip's re-INVITEs for hold (`a=sendonly`) and resume,
        // both answered.
        assert_eq!(received_requests(&log, "INVITE"), 3, "{log}");
        assert!(log.contains("a=sendonly"), "{log}");
        // Guichet offered both G.711 laws once, in its INVITE, the caller's µ-law first; its
        // answers to the re-INVITEs describe the settled session (A-law and
        // telephone-event), not that offer.
        assert_eq!(log.matches("RTP/AVP 0 8 101").count(), 1, "{log}");
        let guichet = server.log();
        assert!(guichet.contains("put the caller on hold"), "{guichet}");
        assert!(guichet.contains("resumed the call"), "{guichet}");

        // The phone talks A-law (as European desk phones prefer) and the caller µ-law: the
        // phone's answer chose PCMA, so Guichet transcodes on the bridge.
        assert!(
            log.contains("Set audio encoder: PCMA 8000Hz"),
            "baresip did not talk A-law: {log}"
        );
        // Before the hold, the caller heard baresip's voice: one second of it found once, and
        // the next two seconds exactly where they follow (no audio lost or added by the
        // bridge). Expected: the voice through A-law (the phone), then µ-law (Guichet to the
        // caller).
        let heard = media.audio_between(started, held);
        let mut voice_g711 = voice.clone();
        for codec in [Codec::Pcma, Codec::Pcmu] {
            let mut encoded = Vec::new();
            codec.encode(&voice_g711, &mut encoded);
            voice_g711.clear();
            codec.decode(&encoded, &mut voice_g711);
        }
        let at: Vec<Vec<usize>> = [8000, 16_000, 24_000]
            .iter()
            .map(|&second| find(&heard, &voice_g711[second..second + 1600]))
            .collect();
        println!("{db:?}: baresip's voice seconds 1, 2, 3 found at {at:?}");
        assert_eq!(
            at[0].len(),
            1,
            "baresip's voice is not in what the caller heard"
        );
        assert_eq!(at[1], vec![at[0][0] + 8000], "{at:?}");
        assert_eq!(at[2], vec![at[0][0] + 16_000], "{at:?}");

        // While held, the caller heard the music on hold from its start, and none of the
        // phone's voice; once resumed, the phone's voice again.
        let music = guichet::prompts::hold_music();
        let mut music_g711 = Vec::new();
        let mut encoded = Vec::new();
        Codec::Pcmu.encode(&music.samples()[1000..2600], &mut encoded);
        Codec::Pcmu.decode(&encoded, &mut music_g711);
        let during_hold = media.audio_between(held, resumed);
        let music_at = find(&during_hold, &music_g711);
        println!("{db:?}: music on hold found at {music_at:?} of the hold");
        assert_eq!(music_at.len(), 1, "no music on hold while held");
        let from_music = &during_hold[music_at[0]..];
        assert!(
            from_music.len() >= 8000 && find(&voice_g711, &from_music[4000..5600]).is_empty(),
            "the phone's voice was heard during the hold"
        );
        let after = media.audio_between(resumed + Duration::from_millis(500), hung_up);
        assert!(
            after.len() >= 16_000,
            "{} samples after resuming",
            after.len()
        );
        let voice_at = find(&voice_g711, &after[8000..9600]);
        println!("{db:?}: after resuming, the voice at {voice_at:?}");
        assert_eq!(voice_at.len(), 1, "the phone's voice did not come back");

        // baresip heard the caller: three seconds or more of the 600 Hz tone, loud. (Its
        // recorder stops at the hold and does not start again on resuming; the agent leg's
        // counters below show the caller's audio sent to the phone all along.)
        let received = phone.received_audio();
        let tone_windows = received
            .chunks_exact(800)
            .filter(|w| {
                let rms = (w.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / 800.0).sqrt();
                rms > 3000.0 && tone_share(w, CALLER_HZ) > 0.9
            })
            .count();
        println!(
            "{db:?}: baresip received {} samples, {tone_windows} tenths of a second of the tone",
            received.len()
        );
        assert!(
            tone_windows >= 30,
            "only {tone_windows} tenths of a second of the caller's tone reached baresip"
        );

        // The call log: answered by Amélie, every timestamp in order.
        let record = closed_record(&db, ORDINARY_NUMBER).await;
        println!("{db:?}: {record:?}");
        assert_eq!(record.outcome, Some(CallOutcome::Answered), "{record:?}");
        assert_eq!(record.agent.as_deref(), Some(AGENT));
        assert_eq!(record.queue.as_deref(), Some("louvre-hotline"));
        assert!(!record.vip);
        let queued = record.queued_at.expect("queued time");
        let offered = record.offered_at.expect("offered time");
        let answered = record.answered_at.expect("answered time");
        let ended = record.ended_at.expect("end time");
        assert!(
            record.arrived_at <= queued && queued <= offered && offered <= answered,
            "{record:?}"
        );
        let talk = (ended - answered).num_milliseconds();
        assert!((8000..15_000).contains(&talk), "talk {talk} ms");
        let store = Store::open(&db.url()).await.expect("store");
        // Guichet sent the phone the caller's audio for the whole talk, hold included (50
        // packets a second), and received the phone's voice except during the hold.
        let legs = store.call_quality(record.id).await.expect("quality");
        let agent_leg = &legs
            .iter()
            .find(|l| l.leg == guichet_tickets::call_quality::MediaLeg::Agent)
            .expect("the agent leg's quality")
            .counters;
        let talk_packets = talk as u64 / 20;
        assert!(
            agent_leg.packets_sent.abs_diff(talk_packets) <= talk_packets / 10,
            "{agent_leg:?} for {talk} ms of talk"
        );
        assert!(
            agent_leg.packets_received.abs_diff(talk_packets - 125) <= talk_packets / 10,
            "{agent_leg:?} for {talk} ms of talk with a 2.5 s hold"
        );
        let choice = menu_choice(&store, record.id).await;
        assert!(
            choice.contains("\"choice\":\"1\"") && choice.contains("rfc4733"),
            "{choice}"
        );

        // The ticket draft opened for Amélie, linked to the call.
        let ticket = opened_ticket(&store, record.person_id.expect("person")).await;
        assert_eq!(
            store.ticket_calls(ticket).await.expect("calls"),
            vec![record.id]
        );
        let t = store.ticket(ticket).await.expect("ticket");
        assert_eq!(t.assignee.as_deref(), Some(AGENT));

        // Amélie is in wrap-up after the call, her phone still registered.
        wait_agent_state(&server, &supervisor, "wrap_up", &phone).await;
        drop(phone);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_caller_hanging_up_while_baresip_rings_gets_the_invite_cancelled() {
    if !have("sipp") || !have("baresip") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (wav, _) = voice_wav(2);
    let voice_path = dir.path().join("voice.wav");
    std::fs::write(&voice_path, wav).expect("voice WAV");
    for db in databases(dir.path(), "deskphone_ring").await {
        let run = tempfile::tempdir_in(dir.path()).expect("run dir");
        let (server, phone, supervisor) =
            server_and_phone(run.path(), &db, Answer::Manual, Codec::Pcmu, &voice_path).await;

        // The caller presses 1 by RFC 4733 4 s after its ACK and gives up 4 s later, while
        // baresip rings (the ring timeout is 20 s).
        let caller = impatient_caller(
            run.path(),
            "impatient",
            &server,
            "8585",
            ORDINARY_NUMBER,
            4000,
            4000,
        );
        phone
            .wait_log(Duration::from_secs(15), "the INVITE", |log| {
                received_requests(log, "INVITE") == 1
            })
            .await;
        wait_agent_state(&server, &supervisor, "ringing", &phone).await;
        caller.expect_success(Duration::from_secs(30), &server);

        // Guichet withdrew the offer with a CANCEL; baresip answered 487 to its INVITE,
        // Guichet ACKed it, and baresip closed the session: no call is left on it.
        phone
            .wait_log(Duration::from_secs(5), "the CANCEL, 487 and ACK", |log| {
                received_requests(log, "CANCEL") == 1
                    && log.contains("487 Request Terminated")
                    && received_requests(log, "ACK") == 1
                    && log.contains("session closed")
            })
            .await;
        let log = phone.log();
        assert_eq!(received_requests(&log, "BYE"), 0, "{log}");

        let record = closed_record(&db, ORDINARY_NUMBER).await;
        println!("{db:?}: {record:?}");
        assert_eq!(
            record.outcome,
            Some(CallOutcome::AbandonedWhileRinging),
            "{record:?}"
        );
        assert!(record.offered_at.is_some() && record.answered_at.is_none());
        // Amélie is available again for the next call.
        wait_agent_state(&server, &supervisor, "available", &phone).await;

        // Switched off (SIGTERM), the phone unregisters (`Expires: 0`): Amélie is logged out.
        phone.switch_off();
        phone
            .wait_log(Duration::from_secs(5), "its unregistration", |log| {
                log.contains(";expires=0")
            })
            .await;
        wait_agent_state(&server, &supervisor, "logged_out", &phone).await;
    }
}
