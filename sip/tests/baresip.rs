//! baresip (an independent softphone) as an agent's desk phone: it registers with digest,
//! is rung through `ring_agent(Registered)`, answers automatically, and is hung up on.
//!
//! When `CI=true` a missing `baresip` fails the test; otherwise it is skipped.

use std::process::Stdio;
use std::time::Duration;

use guichet_sip::digest::DigestAlgorithm;
use guichet_sip::sdp::{self, LocalCapabilities};
use guichet_sip::{CallTarget, OutboundProgress, SipConfig, SipEndpoint, SipEvent};

fn baresip_present() -> bool {
    let found = std::process::Command::new("baresip")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("baresip is required when CI=true");
        }
        eprintln!("NOTICE: baresip not installed, test skipped");
    }
    found
}

#[path = "../../tests/ports/mod.rs"]
mod ports;
use ports::free_port;

/// A 16-bit PCM WAV of `samples` samples of a 440 Hz tone at 8 kHz.
fn wav_8k_mono(samples: u32) -> Vec<u8> {
    let data_len = samples * 2;
    let mut v = Vec::with_capacity(44 + data_len as usize);
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(36 + data_len).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&8000u32.to_le_bytes());
    v.extend_from_slice(&16000u32.to_le_bytes());
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&16u16.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..samples {
        let x = (f64::from(i) * 2.0 * std::f64::consts::PI * 440.0 / 8000.0).sin() * 8000.0;
        v.extend_from_slice(&(x as i16).to_le_bytes());
    }
    v
}

#[tokio::test]
async fn baresip_registers_and_answers_an_agent_call() {
    if !baresip_present() {
        return;
    }
    let config = SipConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        lines: vec!["8585".into()],
        ..SipConfig::default()
    };
    let (ep, mut rx) = SipEndpoint::start(config).await.expect("start");
    let h = ep.handle();
    h.set_credentials("1003", "secret-1003");
    // baresip 1.0 gives up at a first challenge it cannot answer (SHA-256, the server's
    // first choice): this phone alone is offered MD5.
    h.set_digest_algorithms("1003", vec![DigestAlgorithm::Md5]);

    let dir = tempfile::tempdir().expect("tempdir");
    // baresip's sine source needs 48 kHz; a short 8 kHz WAV works with G.711 as is.
    let wav = dir.path().join("tone.wav");
    std::fs::write(&wav, wav_8k_mono(8000)).expect("wav");
    let phone_port = free_port();
    let rtp = free_port();
    std::fs::write(
        dir.path().join("config"),
        format!(
            "poll_method epoll\nsip_listen 127.0.0.1:{phone_port}\naudio_player aufile,/dev/null\naudio_source aufile,{wav}\naudio_alert aufile,/dev/null\nmodule_path /usr/lib/baresip/modules\nmodule g711.so\nmodule aufile.so\nmodule_app account.so\nmodule_app menu.so\nrtp_ports {rtp}-{rtp_end}\n",
            rtp_end = rtp + 10,
            wav = wav.display()
        ),
    )
    .expect("config");
    std::fs::write(
        dir.path().join("accounts"),
        format!(
            "<sip:1003@{};transport=udp>;auth_pass=secret-1003;regint=600;answermode=auto;audio_codecs=PCMU,PCMA\n",
            ep.local_addr()
        ),
    )
    .expect("accounts");
    let mut child = tokio::process::Command::new("baresip")
        .arg("-f")
        .arg(dir.path())
        .args(["-n", "127.0.0.1", "-t", "10"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn baresip");

    let mut events = Vec::new();
    let result = tokio::time::timeout(Duration::from_secs(9), async {
        // 1. Registration with digest.
        loop {
            let e = rx.recv().await.expect("events");
            events.push(e.clone());
            if matches!(e, SipEvent::RegistrationChanged { ref user, .. } if user == "1003") {
                break;
            }
        }
        assert_eq!(h.contacts_of("1003").len(), 1);
        // 2. Ring the desk phone; it answers by itself.
        let offer = sdp::offer(
            &LocalCapabilities::default(),
            "127.0.0.1:20010".parse().expect("addr"),
            9,
            101,
        );
        let id = h
            .ring_agent(
                CallTarget::Registered("1003".into()),
                "8585",
                Some("Appel VIP".into()),
                offer,
            )
            .expect("ring");
        loop {
            let e = rx.recv().await.expect("events");
            events.push(e.clone());
            if let SipEvent::Outbound {
                call_id,
                progress: OutboundProgress::Answered { answer },
            } = &e
            {
                assert_eq!(call_id, &id);
                let neg = sdp::read_answer(answer.as_ref().expect("sdp answer")).expect("G.711");
                assert!(neg.payload_type == 0 || neg.payload_type == 8);
                break;
            }
            if let SipEvent::Outbound {
                progress: OutboundProgress::Failed { code },
                ..
            } = &e
            {
                panic!("agent call failed with {code}");
            }
        }
        assert_eq!(h.counters().snapshot().active_dialogs, 1);
        // 3. Hang up: BYE to the phone, answered 200.
        h.hang_up(&id).expect("hang up");
        tokio::time::sleep(Duration::from_millis(300)).await;
    })
    .await;
    let _ = child.start_kill();
    let out = child.wait_with_output().await.expect("baresip output");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        result.is_ok(),
        "timed out; events: {events:?}\nbaresip: {log}"
    );
    assert_eq!(h.counters().snapshot().active_dialogs, 0);
    assert!(
        h.counters()
            .snapshot()
            .responses_received
            .iter()
            .any(|(code, n)| *code == 200 && *n >= 2),
        "200 to INVITE and BYE"
    );
}
