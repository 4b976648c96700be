//! The switchboard handle the web room drives, on real parts (SQLite store, SIP endpoint and
//! media engine on loopback): agents log in, pause with a reason, resume and log out, and
//! the live snapshot follows; a refused change says why.

mod support;

use std::sync::Arc;

use guichet::clock::Clock;
use guichet::config::{self, Config};
use guichet::prompts::PromptLibrary;
use guichet::switchboard::{self, AgentChange, Parts};
use guichet_acd::AgentStatus;

fn status_of(snapshot: &guichet_acd::Snapshot, login: &str) -> AgentStatus {
    snapshot
        .agents
        .iter()
        .find(|a| a.agent.as_str() == login)
        .map(|a| a.status.clone())
        .unwrap_or_else(|| panic!("{login} not in the snapshot"))
}

#[tokio::test(flavor = "multi_thread")]
async fn agents_log_in_pause_resume_and_log_out_through_the_handle() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut loaded = config::load_demo().expect("demo config");
    loaded.config.sip.listen = "127.0.0.1:0".parse().expect("addr");
    let store = guichet_tickets::Store::open(&format!(
        "sqlite://{}",
        dir.path().join("handle.db").display()
    ))
    .await
    .expect("store");
    let (sip, sip_events) = guichet_sip::SipEndpoint::start(guichet_sip::SipConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        ..guichet_sip::SipConfig::default()
    })
    .await
    .expect("sip");
    let rtp = support::free_even_port_range(8);
    let (media, media_events) = guichet_media::MediaEngine::start(guichet_media::MediaConfig {
        bind_ip: "127.0.0.1".parse().expect("ip"),
        port_min: rtp,
        port_max: rtp + 7,
        ..guichet_media::MediaConfig::default()
    })
    .expect("media");
    let (handle, task) = switchboard::start(Parts {
        config: Arc::new(loaded.config.clone()),
        store,
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

    let login = "bruno.petit";
    assert_eq!(
        status_of(&handle.snapshot().await.expect("snapshot"), login),
        AgentStatus::LoggedOut
    );
    handle
        .agent(login, AgentChange::LogIn)
        .await
        .expect("log in");
    assert_eq!(
        status_of(&handle.snapshot().await.expect("snapshot"), login),
        AgentStatus::Available
    );
    handle
        .agent(
            login,
            AgentChange::Pause {
                reason: "déjeuner".into(),
            },
        )
        .await
        .expect("pause");
    match status_of(&handle.snapshot().await.expect("snapshot"), login) {
        AgentStatus::Paused { reason, .. } => assert_eq!(reason, "déjeuner"),
        other => panic!("not paused: {other:?}"),
    }
    handle
        .agent(login, AgentChange::Resume)
        .await
        .expect("resume");
    handle
        .agent(login, AgentChange::LogOut)
        .await
        .expect("log out");
    assert_eq!(
        status_of(&handle.snapshot().await.expect("snapshot"), login),
        AgentStatus::LoggedOut
    );
    // Ending a wrap-up one is not in is refused, with the ACD's reason.
    let refused = handle.agent(login, AgentChange::EndWrapUp).await;
    assert!(refused.is_err(), "{refused:?}");
    let unknown = handle.agent("personne", AgentChange::LogIn).await;
    assert!(unknown.is_err());

    handle
        .shutdown(std::time::Duration::from_millis(100))
        .await
        .expect("shutdown");
    task.await.expect("task");
    sip.shutdown();
}
