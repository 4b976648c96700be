//! A caller's audio played and captured by the test itself (with the SIPp scenario
//! `caller_media_by_test.xml`, whose SDP points at [`CallerMedia::port`]): a tone in 20 ms
//! PCMU packets to whatever address Guichet sends from (symmetric RTP), and every packet
//! received.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use guichet_media::Codec;

use super::{Sipp, free_even_port_range, free_udp_port};

/// RTP payload type of RFC 4733 telephone events in Guichet's SDP.
pub const TELEPHONE_EVENT_PT: u8 = 101;

/// One RTP packet the caller received.
pub struct Received {
    pub at: Instant,
    pub payload_type: u8,
    pub payload: Vec<u8>,
}

/// The caller's media socket and its sending task.
pub struct CallerMedia {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    sent: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CallerMedia {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CallerMedia {
    /// Binds 127.0.0.1 and sends a `tone_hz` tone once Guichet's first packet shows where to.
    pub async fn start(tone_hz: f64) -> CallerMedia {
        Self::start_pressing(tone_hz, None).await
    }

    /// Like [`CallerMedia::start`]; with `key` = `Some((event, after))` the caller also
    /// presses that key (RFC 4733 event code, 0-9 for the digits) `after` Guichet's first
    /// packet, as a 100 ms telephone event in place of its audio.
    pub async fn start_pressing(tone_hz: f64, key: Option<(u8, Duration)>) -> CallerMedia {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind the caller's RTP socket");
        let port = socket.local_addr().expect("local addr").port();
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let sent = Arc::new(AtomicU64::new(0));
        let sink = received.clone();
        let sent_count = sent.clone();
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            let mut guichet = None;
            let mut first_heard: Option<Instant> = None;
            let mut key_packets_sent = 0u16;
            let mut key_timestamp = 0u32;
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            let (mut sequence, mut timestamp, mut phase) = (0u16, 0u32, 0f64);
            loop {
                tokio::select! {
                    r = socket.recv_from(&mut buf) => {
                        let Ok((n, from)) = r else { return };
                        guichet = Some(from);
                        first_heard.get_or_insert_with(Instant::now);
                        if n > 12 {
                            sink.lock().unwrap().push(Received {
                                at: Instant::now(),
                                payload_type: buf[1] & 0x7f,
                                payload: buf[12..n].to_vec(),
                            });
                        }
                    }
                    _ = tick.tick() => {
                        let Some(to) = guichet else { continue };
                        let key_due = key.filter(|&(_, after)| {
                            first_heard.is_some_and(|t| t.elapsed() >= after)
                        });
                        if let Some((event, _)) = key_due
                            && key_packets_sent < KEY_PACKETS
                        {
                            if key_packets_sent == 0 {
                                key_timestamp = timestamp;
                            }
                            let packet = telephone_event_packet(
                                event,
                                key_packets_sent,
                                sequence,
                                key_timestamp,
                            );
                            if socket.send_to(&packet, to).await.is_ok() {
                                sent_count.fetch_add(1, Ordering::Relaxed);
                            }
                            key_packets_sent += 1;
                            sequence = sequence.wrapping_add(1);
                            timestamp = timestamp.wrapping_add(160);
                            continue;
                        }
                        let pcm: Vec<i16> = (0..160)
                            .map(|_| {
                                phase += 2.0 * std::f64::consts::PI * tone_hz / 8000.0;
                                (phase.sin() * 8000.0) as i16
                            })
                            .collect();
                        let mut packet = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78];
                        packet[2..4].copy_from_slice(&sequence.to_be_bytes());
                        packet[4..8].copy_from_slice(&timestamp.to_be_bytes());
                        Codec::Pcmu.encode(&pcm, &mut packet);
                        if socket.send_to(&packet, to).await.is_ok() {
                            sent_count.fetch_add(1, Ordering::Relaxed);
                        }
                        sequence = sequence.wrapping_add(1);
                        timestamp = timestamp.wrapping_add(160);
                    }
                }
            }
        });
        CallerMedia {
            port,
            received,
            sent,
            task,
        }
    }

    /// The SIPp caller (`caller_media_by_test.xml`) dialling `line` of the Guichet at `sip`
    /// from `number`, whose SDP gives this media's port; it waits for Guichet's BYE.
    pub fn caller(
        &self,
        dir: &Path,
        name: &str,
        sip: SocketAddr,
        line: &str,
        number: &str,
    ) -> Sipp {
        self.sipp_caller(
            dir,
            name,
            sip,
            line,
            number,
            "caller_media_by_test.xml",
            &[],
        )
    }

    /// Like [`CallerMedia::caller`], but the caller hangs up (BYE) `talk_ms` after its ACK
    /// (`caller_media_by_test_hangs_up.xml`).
    pub fn caller_hanging_up(
        &self,
        dir: &Path,
        name: &str,
        sip: SocketAddr,
        line: &str,
        number: &str,
        talk_ms: u32,
    ) -> Sipp {
        self.sipp_caller(
            dir,
            name,
            sip,
            line,
            number,
            "caller_media_by_test_hangs_up.xml",
            &[("talk_ms", talk_ms.to_string())],
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn sipp_caller(
        &self,
        dir: &Path,
        name: &str,
        sip: SocketAddr,
        line: &str,
        number: &str,
        scenario: &str,
        substitutions: &[(&str, String)],
    ) -> Sipp {
        let mut substitutions = substitutions.to_vec();
        substitutions.push(("rtp_port", self.port.to_string()));
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
                "-p".into(),
                free_udp_port().to_string(),
                "-mp".into(),
                free_even_port_range(4).to_string(),
                sip.to_string(),
            ],
        )
    }

    /// RTP packets sent to Guichet so far.
    pub fn packets_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// PCM of the audio packets received between `from` and `to`.
    pub fn audio_between(&self, from: Instant, to: Instant) -> Vec<i16> {
        let mut pcm = Vec::new();
        for p in self.received.lock().unwrap().iter() {
            if p.at >= from && p.at < to && p.payload_type == 0 {
                Codec::Pcmu.decode(&p.payload, &mut pcm);
            }
        }
        pcm
    }

    /// The telephone events (event codes) received since `from`.
    pub fn events_since(&self, from: Instant) -> Vec<u8> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.at >= from && p.payload_type == TELEPHONE_EVENT_PT)
            .filter_map(|p| p.payload.first().copied())
            .collect()
    }
}

/// Packets of one key press: five 20 ms updates, then the end of the event sent three times
/// (RFC 4733 §2.5.1.4: the final packet is repeated for robustness).
const KEY_PACKETS: u16 = 8;

/// The `index`-th RTP packet of a key press: every packet carries the event's start
/// timestamp, the first one the marker bit, the duration grows by 160 samples a packet up to
/// 100 ms, and the last three carry the end bit.
fn telephone_event_packet(event: u8, index: u16, sequence: u16, timestamp: u32) -> Vec<u8> {
    let marker = if index == 0 { 0x80 } else { 0 };
    let end = index >= KEY_PACKETS - 3;
    let duration = 160 * (index.min(KEY_PACKETS - 4) + 1);
    let mut packet = vec![0x80, marker | TELEPHONE_EVENT_PT];
    packet.extend_from_slice(&sequence.to_be_bytes());
    packet.extend_from_slice(&timestamp.to_be_bytes());
    packet.extend_from_slice(&[0x12, 0x34, 0x56, 0x78]);
    // Volume 10 (-10 dBm0), the end bit in the same byte.
    packet.extend_from_slice(&[event, if end { 0x80 | 10 } else { 10 }]);
    packet.extend_from_slice(&duration.to_be_bytes());
    packet
}
