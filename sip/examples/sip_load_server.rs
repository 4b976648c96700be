//! A stand-in switchboard for load tests: answers every call to line 8585 at once with a
//! G.711 SDP answer and prints the counters when stopped. Used by `bench/sip-load.sh`.
//!
//! Usage: `sip_load_server 127.0.0.1:5070`

use guichet_sip::sdp::{self, LocalCapabilities};
use guichet_sip::{SipConfig, SipEndpoint, SipEvent};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:5070".into())
        .parse()?;
    let config = SipConfig {
        listen,
        lines: vec!["8585".into()],
        ..SipConfig::default()
    };
    let (ep, mut rx) = SipEndpoint::start(config).await?;
    let h = ep.handle();
    let caps = LocalCapabilities::default();
    let rtp = "127.0.0.1:20000".parse()?;
    println!("listening on {}", ep.local_addr());
    let mut peak = 0;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            ev = rx.recv() => match ev {
                Some(SipEvent::IncomingCall(c)) => {
                    let answered = c
                        .offer
                        .as_ref()
                        .and_then(|o| sdp::answer(o, &caps, rtp, 1).ok())
                        .map(|(a, _)| h.answer(&c.call_id, a));
                    if answered.is_none() {
                        h.reject(&c.call_id, 488)?;
                    }
                    peak = peak.max(h.counters().snapshot().active_dialogs);
                }
                Some(_) => {}
                None => break,
            },
        }
    }
    let s = h.counters().snapshot();
    println!(
        "peak_active_dialogs={peak} invites={} byes={} dropped={} overload={}",
        h.counters().requests("INVITE"),
        h.counters().requests("BYE"),
        s.dropped_malformed,
        s.overload_rejections
    );
    Ok(())
}
