//! WebRTC endpoint against headless Chromium (fake audio device): ICE,
//! DTLS-SRTP, audio both ways through a bridge with an RTP leg (PCMA, so
//! transcoded), and `insertDTMF` digits as events.
mod common;

use common::*;
use guichet_media::{Codec, MediaConfig, MediaEngine, MediaEvent, SessionId};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const PAGE: &str = r#"<!doctype html><html><body><script>
const post = (p, b) => fetch(p, {method: 'POST', body: b}).then(r => r.text());
(async () => {
  try {
    const stream = await navigator.mediaDevices.getUserMedia({audio: {
      echoCancellation: false, noiseSuppression: false, autoGainControl: false}});
    const pc = new RTCPeerConnection();
    const sender = pc.addTrack(stream.getAudioTracks()[0], stream);
    pc.ontrack = (e) => { const a = new Audio(); a.srcObject = e.streams[0] || new MediaStream([e.track]); a.play().catch(() => {}); };
    const trickle = location.search.includes('trickle');
    let answered = null;
    const early = [];
    pc.onicecandidate = (e) => {
      if (!trickle || !e.candidate) return;
      if (answered) post('/candidate', e.candidate.candidate); else early.push(e.candidate.candidate);
    };
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    if (!trickle) {
      await new Promise(r => {
        if (pc.iceGatheringState === 'complete') r();
        pc.onicegatheringstatechange = () => { if (pc.iceGatheringState === 'complete') r(); };
        setTimeout(r, 3000);
      });
    }
    // Trickle: the offer goes without candidates; they follow one by one.
    const sdp = trickle ? offer.sdp : pc.localDescription.sdp;
    const answer = await post('/offer', sdp);
    answered = true;
    for (const c of early) await post('/candidate', c);
    await pc.setRemoteDescription({type: 'answer', sdp: answer});
    await new Promise(r => setTimeout(r, 1500));
    sender.dtmf.insertDTMF('1#', 100, 70);
    await new Promise(r => setTimeout(r, 2500));
    const rep = {state: pc.connectionState};
    (await pc.getStats()).forEach(s => {
      if (s.type === 'inbound-rtp' && s.kind === 'audio') {
        rep.packetsReceived = s.packetsReceived; rep.totalAudioEnergy = s.totalAudioEnergy;
      }
      if (s.type === 'outbound-rtp' && s.kind === 'audio') rep.packetsSent = s.packetsSent;
    });
    await post('/report', JSON.stringify(rep));
  } catch (e) { await post('/report', 'error ' + e); }
})();
</script></body></html>"#;

enum FromPage {
    Session(SessionId),
    Candidate,
    Report(String),
}

async fn serve(
    listener: TcpListener,
    media: guichet_media::MediaHandle,
    tx: mpsc::UnboundedSender<FromPage>,
) {
    let last: Arc<Mutex<Option<SessionId>>> = Arc::default();
    loop {
        let Ok((mut conn, _)) = listener.accept().await else {
            return;
        };
        let (media, tx, last_session) = (media.clone(), tx.clone(), last.clone());
        tokio::spawn(async move {
            let mut data = Vec::new();
            let mut buf = [0u8; 8192];
            let (head, body) = loop {
                let Ok(n) = conn.read(&mut buf).await else {
                    return;
                };
                if n == 0 {
                    return;
                }
                data.extend_from_slice(&buf[..n]);
                if let Some(p) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&data[..p]).to_string();
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    while data.len() < p + 4 + len {
                        let Ok(n) = conn.read(&mut buf).await else {
                            return;
                        };
                        if n == 0 {
                            break;
                        }
                        data.extend_from_slice(&buf[..n]);
                    }
                    break (head, String::from_utf8_lossy(&data[p + 4..]).to_string());
                }
            };
            let (ctype, reply) = if head.starts_with("GET / ") || head.starts_with("GET /?") {
                ("text/html", PAGE.to_string())
            } else if head.starts_with("POST /offer") {
                match media.webrtc_accept(&body) {
                    Ok((session, answer)) => {
                        *last_session.lock().unwrap() = Some(session);
                        let _ = tx.send(FromPage::Session(session));
                        ("application/sdp", answer)
                    }
                    Err(e) => {
                        let _ = tx.send(FromPage::Report(format!("offer rejected: {e}")));
                        ("text/plain", String::new())
                    }
                }
            } else if head.starts_with("POST /candidate") {
                let session = *last_session.lock().unwrap();
                if let Some(session) = session {
                    if let Err(e) = media.webrtc_add_candidate(session, &body) {
                        let _ = tx.send(FromPage::Report(format!("candidate rejected: {e}")));
                    } else {
                        let _ = tx.send(FromPage::Candidate);
                    }
                }
                ("text/plain", "ok".into())
            } else if head.starts_with("POST /report") {
                let _ = tx.send(FromPage::Report(body));
                ("text/plain", "ok".into())
            } else {
                ("text/plain", String::new())
            };
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                reply.len()
            );
            let _ = conn.write_all(resp.as_bytes()).await;
        });
    }
}

fn chromium() -> Option<&'static str> {
    for c in ["chromium", "chromium-browser"] {
        if Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return Some(c);
        }
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "chromium is required when CI=true"
    );
    eprintln!("NOTICE: chromium not found, skipping the WebRTC test");
    None
}

/// Kills the browser we started when the test ends, whatever happens.
struct Browser(std::process::Child);
impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_peer_exchanges_audio_and_dtmf_with_an_rtp_leg() {
    run_with_chromium(false, free_port_range(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_peer_with_trickled_candidates() {
    run_with_chromium(true, free_port_range(10)).await;
}

async fn run_with_chromium(trickle: bool, port_min: u16) {
    let Some(browser) = chromium() else { return };
    let (media, mut events) = MediaEngine::start(MediaConfig {
        bind_ip: "127.0.0.1".parse().unwrap(),
        port_min,
        port_max: port_min + 9,
        webrtc_port: Some(0),
        ..Default::default()
    })
    .unwrap();
    assert!(media.webrtc_addr().is_some());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/{}",
        listener.local_addr().unwrap(),
        if trickle { "?trickle" } else { "" }
    );
    let (tx, mut from_page) = mpsc::unbounded_channel();
    tokio::spawn(serve(listener, media.clone(), tx));
    let profile = tempfile::tempdir().unwrap();
    let _browser = Browser(
        Command::new(browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                "--allow-loopback-in-peer-connection",
                "--autoplay-policy=no-user-gesture-required",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(&url)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let web = match tokio::time::timeout(Duration::from_secs(20), from_page.recv()).await {
        Ok(Some(FromPage::Session(s))) => s,
        Ok(Some(FromPage::Report(r))) => panic!("page failed before the offer: {r}"),
        _ => panic!("no offer from Chromium within 20 s"),
    };
    let mut candidates = 0;
    // The RTP leg (a plain socket, PCMA) is bridged to the browser leg.
    let rtp = media.allocate_rtp().unwrap();
    let peer = Peer::new();
    peer.attach(&media, rtp.session, Codec::Pcma, None);
    media.bridge(rtp.session, web).unwrap();

    let to = rtp.addr;
    let phone = tokio::task::spawn_blocking(move || {
        let mut peer = peer;
        let tone: Vec<i16> = (0..8000 * 5)
            .map(|i| {
                ((i as f64 * 2.0 * std::f64::consts::PI * 1000.0 / 8000.0).sin() * 8000.0) as i16
            })
            .collect();
        let start = Instant::now();
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        peer.socket
            .set_read_timeout(Some(Duration::from_millis(2)))
            .unwrap();
        for (i, frame) in tone.chunks(160).enumerate() {
            let due = start + Duration::from_millis(20 * i as u64);
            while Instant::now() < due {
                if let Ok((n, _)) = peer.socket.recv_from(&mut buf)
                    && let Ok(p) = guichet_media::rtp::RtpPacket::parse(&buf[..n])
                {
                    got.push((p.payload_type, p.payload.to_vec()));
                }
            }
            peer.send_audio(to, Codec::Pcma, frame);
        }
        got
    });
    let mut digits = Vec::new();
    let mut report = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while report.is_none() || digits.len() < 2 {
        tokio::select! {
            e = events.recv() => {
                if let Some(MediaEvent::Dtmf { session, digit, .. }) = e {
                    assert_eq!(session, web);
                    digits.push(digit);
                }
            }
            m = from_page.recv() => match m {
                Some(FromPage::Report(r)) => report = Some(r),
                Some(FromPage::Candidate) => candidates += 1,
                _ => {}
            },
            _ = tokio::time::sleep_until(deadline) => break,
        }
    }
    let got = phone.await.unwrap();
    let report = report.expect("Chromium reported its stats");
    println!(
        "trickle={trickle}: Chromium report: {report}; RTP leg received {} packets; digits {digits:?}; trickled candidates {candidates}",
        got.len()
    );
    assert_eq!(
        candidates > 0,
        trickle,
        "candidates trickled only in trickle mode"
    );
    assert!(
        report.contains("\"state\":\"connected\""),
        "ICE+DTLS connected: {report}"
    );
    // Browser -> RTP leg: the fake microphone's audio, transcoded to PCMA.
    assert!(
        got.len() > 50,
        "audio from the browser reached the RTP leg: {} packets",
        got.len()
    );
    assert!(got.iter().all(|(pt, _)| *pt == 8));
    let mut pcm = Vec::new();
    for (_, p) in &got {
        Codec::Pcma.decode(p, &mut pcm);
    }
    let peak = pcm.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
    assert!(
        peak > 1000,
        "the browser's fake audio is not silence (peak {peak})"
    );
    // RTP leg -> browser.
    let received: u64 = report
        .split("\"packetsReceived\":")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(received > 50, "the browser received our audio: {report}");
    assert_eq!(digits, vec!['1', '#'], "insertDTMF digits, once each");
    let stats = media.stats(web).unwrap();
    assert!(
        stats.packets_received > 50 && stats.packets_sent > 50,
        "{stats:?}"
    );
    // Accepted towards browsers too (what arrives is checked with a str0m
    // peer in webrtc_dtmf.rs: Chromium does not expose received events).
    media.send_dtmf(web, "1", 100).unwrap();
    // Releasing the browser leg ends the bridge; the RTP leg remains.
    media.release(web).unwrap();
    let ended = wait_event(&mut events, Duration::from_secs(1), |e| {
        matches!(e, MediaEvent::BridgeEnded { .. })
    })
    .await;
    assert!(ended.is_some());
    assert_eq!(media.session_count(), 1);
}
