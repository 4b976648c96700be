//! What a caller actually hears, checked on the RTP Guichet sends: the test stands as the
//! caller's media (its own UDP receiver on 127.0.0.1) and compares the G.711 payload with
//! the prompts and the hold music Guichet plays.

mod support;

use std::time::{Duration, Instant};

use guichet_tickets::Store;
use support::*;

/// Seconds between two position announcements in these tests (the demo says 60).
const ANNOUNCE_EVERY_SECS: u64 = 7;

async fn wait_until_offered(db: &Db, number: &str) {
    let store = Store::open(&db.url()).await.expect("store");
    for _ in 0..300 {
        let history = store.caller_history(number, 1).await.expect("history");
        if history.first().is_some_and(|c| c.offered_at.is_some()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the first call was never offered to the agent");
}

/// Root mean square of the µ-law `payload`, decoded.
fn rms(payload: &[u8]) -> f64 {
    let mut pcm = Vec::new();
    guichet_media::Codec::Pcmu.decode(payload, &mut pcm);
    if pcm.is_empty() {
        return 0.0;
    }
    (pcm.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / pcm.len() as f64).sqrt()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_queued_caller_hears_hold_music_and_position_announcements_throughout() {
    if !have("sipp") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::Sqlite(dir.path().join("queue-audio.db"));
    let server = Server::start(
        dir.path(),
        &db,
        &ServerOptions {
            clock_start: OPEN_HOURS,
            edits: vec![
                md5_only(),
                (
                    "announce_every = 60",
                    format!("announce_every = {ANNOUNCE_EVERY_SECS}"),
                ),
            ],
        },
    );
    // The only agent's phone rings for a first caller and is never picked up, so the second
    // caller waits in the queue with an agent logged in (no overflow to a callback).
    let phone_port = free_udp_port();
    let phone = unanswered_desk_phone(dir.path(), "amelie", phone_port);
    register_desk_phone(dir.path(), &server, "1001", "demo-1001-secret", phone_port);
    let first = impatient_caller(
        dir.path(),
        "first",
        &server,
        "8585",
        ORDINARY_NUMBER,
        4000,
        16_000,
    );
    wait_until_offered(&db, ORDINARY_NUMBER).await;

    let heard = RtpCapture::start();
    let listen_ms = 14_000;
    let started = Instant::now();
    listening_caller(
        dir.path(),
        "queued",
        &server,
        "8585",
        VIP_NUMBER,
        heard.port,
        Some(listen_ms),
    )
    .expect_success(Duration::from_secs(40), &server);
    assert!(started.elapsed() >= Duration::from_millis(u64::from(listen_ms)));
    first.expect_success(Duration::from_secs(40), &server);
    phone.expect_success(Duration::from_secs(10), &server);

    let packets: Vec<RtpPacket> = heard
        .packets()
        .into_iter()
        .filter(|p| p.payload_type == 0)
        .collect();
    let audio = pcmu_stream(&packets);
    let welcome = occurrences(
        &audio,
        &pcmu_fingerprint(&shipped_prompt("vip_prioritaire")),
    );
    let announcements = occurrences(
        &audio,
        &pcmu_fingerprint(&shipped_prompt("position_vous_etes_le")),
    );
    let music = guichet::prompts::hold_music();
    let music_print = {
        let mut out = Vec::new();
        guichet_media::Codec::Pcmu.encode(&music.samples()[1000..2600], &mut out);
        out
    };
    let music_starts = occurrences(&audio, &music_print);
    assert_eq!(welcome.len(), 1, "the VIP welcome was not received");
    // Queued after the welcome (about 3.4 s) for about 10.6 s: the entry announcement, then
    // one every 7 s. The announcement lasts about 4 s; once it is over the music starts
    // again from its beginning.
    assert!(
        announcements.len() >= 2,
        "announcements at {announcements:?} (bytes), {} bytes in all",
        audio.len()
    );
    assert!(announcements[0] > welcome[0]);
    let period = announcements[1] - announcements[0];
    let expected = ANNOUNCE_EVERY_SECS as usize * 8000;
    assert!(
        period.abs_diff(expected) < 4000,
        "announcements {period} samples apart, {expected} expected"
    );
    assert!(
        !music_starts.is_empty()
            && music_starts[0] > announcements[0]
            && music_starts[0] < announcements[1],
        "hold music at {music_starts:?}, announcements at {announcements:?}"
    );

    // No gap and no silence while queued, from the first announcement to the hang-up. The
    // RTP timestamps come from the engine clock (20 ms a packet) and every packet follows the
    // previous one: the music resumes in the media clock on the frame after each
    // announcement (`play_then`), and the next announcement replaces the music between two
    // frames. (Until session 3 the music was restarted by the switchboard when it saw the
    // announcement's end event, a pause of a tick or two on a quiet machine and 140 ms at
    // load average 25, so this test had to allow 500 ms.) Each 25 packets (500 ms of audio)
    // are audible.
    let first_announcement_packet = announcements[0] / 160;
    let queued = &packets[first_announcement_packet..];
    for pair in queued.windows(2) {
        let step = pair[1].timestamp.wrapping_sub(pair[0].timestamp);
        assert_eq!(step, 160, "a gap of {step} samples while queued");
    }
    let mut windows = 0;
    for (k, window) in queued.chunks_exact(25).enumerate() {
        let audio: Vec<u8> = window
            .iter()
            .flat_map(|p| p.payload.iter().copied())
            .collect();
        let level = rms(&audio);
        assert!(
            level > 100.0,
            "silence ({level:.0} RMS) in the half-second {k}"
        );
        windows += 1;
    }
    assert!(
        windows >= 18,
        "only {windows} half-seconds of queueing audio"
    );
    // And it was sent in real time: the queued audio spans its wall-clock duration.
    let span = queued.last().expect("packets").at - queued[0].at;
    let audio_ms = queued.len() as u128 * 20;
    assert!(
        span.as_millis() + 500 >= audio_ms && span.as_millis() <= audio_ms + 2000,
        "{audio_ms} ms of audio over {span:?}"
    );
}
