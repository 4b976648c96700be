//! Outbound callback, on real parts: a pending callback request is called back by an agent
//! through the switchboard handle (what the web desk's button does). Guichet rings the
//! agent's registered desk phone first, then, once the agent answers, dials the caller
//! through the trunk (a SIPp UAS) and bridges the two; the call is logged and the request
//! marked done.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use guichet::clock::Clock;
use guichet::config::{self, Config, TrunkSection};
use guichet::prompts::PromptLibrary;
use guichet::switchboard::{self, Parts};
use guichet_tickets::CallOutcome;
use support::*;

struct InProcess {
    sip: SocketAddr,
}

impl Target for InProcess {
    fn sip_addr(&self) -> SocketAddr {
        self.sip
    }
    fn log(&self) -> String {
        "(in-process switchboard: see the test output)".to_owned()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_callback_rings_the_agent_then_the_caller_bridges_them_and_is_logged() {
    if !have("sipp") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let trunk_port = free_udp_port();
    // The caller's phone behind the trunk answers, talks a second and hangs up.
    let customer = answering_desk_phone(dir.path(), "customer", trunk_port, 1000);

    let mut loaded = config::load_demo().expect("demo config");
    loaded.config.sip.trunk = Some(TrunkSection {
        address: SocketAddr::from(([127, 0, 0, 1], trunk_port)),
        username: None,
        password: None,
        caller_id: Some("8585".into()),
    });
    let store = guichet_tickets::Store::open(&format!(
        "sqlite://{}",
        dir.path().join("callback.db").display()
    ))
    .await
    .expect("store");
    let (sip, sip_events) = guichet_sip::SipEndpoint::start(guichet_sip::SipConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        realm: loaded.config.sip.realm.clone(),
        digest_algorithms: vec![guichet_sip::digest::DigestAlgorithm::Md5],
        lines: loaded
            .config
            .lines
            .iter()
            .map(|l| l.number.clone())
            .collect(),
        trunk: Some(guichet_sip::TrunkConfig {
            address: SocketAddr::from(([127, 0, 0, 1], trunk_port)),
            domain: "127.0.0.1".into(),
            from_user: "8585".into(),
            username: None,
            password: None,
        }),
        ..guichet_sip::SipConfig::default()
    })
    .await
    .expect("sip");
    let rtp = free_even_port_range(8);
    let (media, media_events) = guichet_media::MediaEngine::start(guichet_media::MediaConfig {
        bind_ip: "127.0.0.1".parse().expect("ip"),
        port_min: rtp,
        port_max: rtp + 7,
        ..guichet_media::MediaConfig::default()
    })
    .expect("media");
    let (handle, task) = switchboard::start(Parts {
        config: Arc::new(loaded.config.clone()),
        store: store.clone(),
        sip: sip.handle(),
        sip_events,
        media,
        media_events,
        clock: Clock::system(),
        prompts: PromptLibrary::new(
            Config::prompt_catalogue().expect("catalogue"),
            config::SHIPPED_PROMPTS_DIR.into(),
            None,
        ),
        messages_dir: dir.path().to_path_buf(),
    })
    .await
    .expect("switchboard");
    let target = InProcess {
        sip: sip.local_addr(),
    };

    // Amélie's desk phone answers and waits for Guichet's BYE.
    let phone_port = free_udp_port();
    let phone = Sipp::start(
        dir.path(),
        "amelie",
        "agent_answer_until_bye.xml",
        &["-p".into(), phone_port.to_string()],
    );
    register_desk_phone(dir.path(), &target, "1001", "demo-1001-secret", phone_port);

    let now = chrono::Utc::now();
    let request = store
        .create_callback(
            None,
            "+33140205050",
            Some("Julien Moreau"),
            "louvre-hotline",
            now,
        )
        .await
        .expect("callback request");
    // Give the switchboard the registration before the callback starts.
    tokio::time::sleep(Duration::from_millis(200)).await;
    handle
        .call_back(request, "amelie.martin")
        .await
        .expect("callback started");
    let again = handle.call_back(request, "amelie.martin").await;
    assert!(again.is_err(), "the same callback twice: {again:?}");

    customer.expect_success(Duration::from_secs(30), &target);
    phone.expect_success(Duration::from_secs(30), &target);

    let mut record = None;
    for _ in 0..100 {
        let history = store
            .caller_history("+33140205050", 1)
            .await
            .expect("history");
        if let Some(c) = history.first()
            && c.outcome.is_some()
        {
            record = Some(c.clone());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let record = record.expect("the callback was not logged");
    assert_eq!(record.outcome, Some(CallOutcome::Answered), "{record:?}");
    assert_eq!(record.agent.as_deref(), Some("amelie.martin"));
    assert!(record.answered_at.is_some());
    // Both legs' audio quality is stored with the record, the called-back caller first.
    let legs = store.call_quality(record.id).await.expect("quality");
    let kinds: Vec<_> = legs.iter().map(|q| q.leg).collect();
    assert_eq!(
        kinds,
        [
            guichet_tickets::call_quality::MediaLeg::Caller,
            guichet_tickets::call_quality::MediaLeg::Agent
        ],
        "{legs:?}"
    );
    assert_eq!(legs[0].counters.packets_lost, 0, "{legs:?}");
    assert!(
        store
            .pending_callback(request)
            .await
            .expect("callback")
            .is_none(),
        "the request should be done"
    );
    assert!(
        store
            .pending_callbacks("louvre-hotline")
            .await
            .expect("pending")
            .is_empty()
    );

    handle
        .shutdown(Duration::from_millis(100))
        .await
        .expect("shutdown");
    task.await.expect("task");
    sip.shutdown();
}
