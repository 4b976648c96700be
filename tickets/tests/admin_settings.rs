//! Settings saved over the configuration (versions, the newest in force, journaled) and
//! audio files kept in the database, on both backends.

mod common;

use common::at;
use guichet_tickets::audio_files::{message_name, prompt_name};
use guichet_tickets::settings::{AGENT_QUEUES, SLA_POLICY, SettingJournal};

both_backends!(
    settings_keep_every_version_and_the_newest_is_in_force,
    |store| {
        let t0 = at("2026-11-24T09:00:00Z");
        assert!(store.current_settings(SLA_POLICY).await.unwrap().is_empty());
        let first = store
            .save_setting(SLA_POLICY, "louvre", None, "{\"v\":1}", "admin", t0)
            .await
            .unwrap();
        store
            .save_setting(SLA_POLICY, "culture", None, "{\"c\":1}", "admin", t0)
            .await
            .unwrap();
        let second = store
            .save_setting(
                SLA_POLICY,
                "louvre",
                Some("{\"v\":1}"),
                "{\"v\":2}",
                "admin2",
                t0 + chrono::Duration::minutes(1),
            )
            .await
            .unwrap();
        assert!(second > first);
        let current = store.current_settings(SLA_POLICY).await.unwrap();
        let names: Vec<(&str, &str, &str)> = current
            .iter()
            .map(|s| (s.name.as_str(), s.value.as_str(), s.author.as_str()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("culture", "{\"c\":1}", "admin"),
                ("louvre", "{\"v\":2}", "admin2")
            ]
        );
        let versions = store.setting_versions(SLA_POLICY).await.unwrap();
        assert_eq!(versions.len(), 3);
        assert_eq!(versions[0].id, first);
        assert!(
            store
                .current_settings(AGENT_QUEUES)
                .await
                .unwrap()
                .is_empty()
        );
        store
            .save_setting_journaled(
                AGENT_QUEUES,
                "amelie.martin",
                "{\"louvre-hotline\":1}",
                &SettingJournal {
                    action: "agent.queue",
                    subject: "agent:amelie.martin",
                    before: Some("louvre-hotline : absent"),
                    after: Some("louvre-hotline : niveau 1"),
                },
                "chloe.durand",
                t0,
            )
            .await
            .unwrap();
        let journal = store
            .journal_between(t0, t0 + chrono::Duration::hours(1))
            .await
            .unwrap();
        let actions: Vec<(&str, &str, Option<&str>)> = journal
            .iter()
            .map(|j| {
                (
                    j.action.as_str(),
                    j.subject.as_str(),
                    j.old_value.as_deref(),
                )
            })
            .collect();
        assert!(actions.contains(&(
            "settings.sla_policy",
            "sla_policy:louvre",
            Some("{\"v\":1}")
        )));
        assert!(actions.contains(&(
            "agent.queue",
            "agent:amelie.martin",
            Some("louvre-hotline : absent")
        )));
    }
);

both_backends!(audio_files_are_replaced_in_place_and_versioned, |store| {
    let t0 = at("2026-11-24T09:00:00Z");
    let name = prompt_name("au_revoir");
    assert_eq!(name, "prompt/au_revoir.wav");
    assert_eq!(store.audio(&name).await.unwrap(), None);
    let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    assert_eq!(store.put_audio(&name, &bytes, t0).await.unwrap(), 1);
    assert_eq!(store.audio(&name).await.unwrap(), Some(bytes.clone()));
    assert_eq!(store.put_audio(&name, b"RIFF2", t0).await.unwrap(), 2);
    store
        .put_audio(&message_name("upload-1.wav"), b"RIFF3", t0)
        .await
        .unwrap();
    assert_eq!(
        store.audio_index().await.unwrap(),
        vec![
            ("message/upload-1.wav".to_owned(), 1),
            ("prompt/au_revoir.wav".to_owned(), 2)
        ]
    );
    assert_eq!(
        store.audio(&name).await.unwrap().as_deref(),
        Some(&b"RIFF2"[..])
    );
    assert!(store.remove_audio(&name).await.unwrap());
    assert!(!store.remove_audio(&name).await.unwrap());
    assert_eq!(store.audio_index().await.unwrap().len(), 1);
});
