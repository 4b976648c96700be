//! Directory import and caller lookup on both backends.

mod common;

use common::at;

const CSV: &str = "\
id,last_name,first_name,entity,site,dependency,vip,phones,p0_windows
u1,Martin,Jeanne,Cabinet de la ministre,Valois,COINF,oui,01 40 15 80 00|4521,2026-03-01T00:00/2026-03-08T00:00
u2,Durand,Paul,DRAC Bretagne,Rennes,RI,non,+33 2 99 29 67 67,
u3,,Sans,DRAC Bretagne,Rennes,,non,0299000000,
u4,Petit,Luc,DAC Guyane,Cayenne,,peut-être,0594 29 00 00,
u5,Roux,Ana,SCN Archives,Pierrefitte,,non,01 40 15 80,
u6,Blanc,Eve,SCN Archives,Pierrefitte,,non,0140000001,2026-03-08T00:00/2026-03-01T00:00
u2,Durand,Paul,DRAC Bretagne,Rennes,RI,non,0299296767,
u7,Noir,Léa,DAC Guyane,Cayenne,,1,0594 29 00 00,
";

both_backends!(import_reports_rejects_and_is_idempotent, |store| {
    let now = at("2026-03-02T09:00:00Z");
    let report = store
        .import_directory_csv(CSV.as_bytes(), now)
        .await
        .unwrap();
    assert_eq!((report.inserted, report.updated), (3, 0));
    let lines: Vec<u64> = report.rejected.iter().map(|r| r.line).collect();
    assert_eq!(lines, [4, 5, 6, 7, 8]);
    assert!(
        report.rejected[0].reason.contains("nom"),
        "{:?}",
        report.rejected[0]
    );
    assert!(
        report.rejected[1].reason.contains("VIP"),
        "{:?}",
        report.rejected[1]
    );
    assert!(
        report.rejected[2].reason.contains("01 40 15 80"),
        "{:?}",
        report.rejected[2]
    );
    assert!(
        report.rejected[3].reason.contains("P0"),
        "{:?}",
        report.rejected[3]
    );
    assert!(
        report.rejected[4].reason.contains("ligne 3"),
        "{:?}",
        report.rejected[4]
    );
    assert_eq!(store.people_count().await.unwrap(), 3);

    // Same file again: nothing new.
    let again = store
        .import_directory_csv(CSV.as_bytes(), now)
        .await
        .unwrap();
    assert_eq!((again.inserted, again.updated), (0, 3));
    assert_eq!(store.people_count().await.unwrap(), 3);
    let jeanne = store.lookup_caller("4521", now).await.unwrap().unwrap();
    assert_eq!(
        store.person_numbers(jeanne.person_id).await.unwrap(),
        ["+33140158000", "4521"]
    );
    assert_eq!(
        store
            .person_p0_windows(jeanne.person_id)
            .await
            .unwrap()
            .len(),
        1
    );

    // A changed row updates the person: Paul becomes VIP, gets a new number.
    let changed = "id;last_name;first_name;entity;site;vip;phones\nu2;Durand;Paul;DRAC Bretagne;Rennes;oui;0299296768\n";
    let r = store
        .import_directory_csv(changed.as_bytes(), now)
        .await
        .unwrap();
    assert_eq!((r.inserted, r.updated, r.rejected.len()), (0, 1, 0));
    assert!(
        store
            .lookup_caller("+33299296767", now)
            .await
            .unwrap()
            .is_none(),
        "old number removed"
    );
    let paul = store
        .lookup_caller("02 99 29 67 68", now)
        .await
        .unwrap()
        .unwrap();
    assert!(paul.vip);
    assert_eq!(paul.dependency, None);
    assert_eq!(store.people_count().await.unwrap(), 3);
});

both_backends!(
    caller_lookup_matches_every_number_form_and_p0_windows,
    |store| {
        store
            .import_directory_csv(CSV.as_bytes(), at("2026-03-02T09:00:00Z"))
            .await
            .unwrap();
        // P0 window: 2026-03-01 00:00 to 2026-03-08 00:00, Paris time.
        let inside = at("2026-03-02T09:00:00Z");
        for form in [
            "+33140158000",
            "0140158000",
            "01 40 15 80 00",
            "0033 1 40 15 80 00",
            "4521",
        ] {
            let c = store
                .lookup_caller(form, inside)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("{form} not found"));
            assert_eq!(
                (c.last_name.as_str(), c.first_name.as_str()),
                ("Martin", "Jeanne")
            );
            assert!(c.vip);
            assert!(c.p0_active, "{form}");
            assert_eq!(c.entity, "Cabinet de la ministre");
            assert_eq!(c.dependency.as_deref(), Some("COINF"));
        }
        // Window end is exclusive, and starts at local (Paris, UTC+1) midnight.
        assert!(
            !store
                .lookup_caller("4521", at("2026-03-07T23:00:00Z"))
                .await
                .unwrap()
                .unwrap()
                .p0_active
        );
        assert!(
            store
                .lookup_caller("4521", at("2026-03-07T22:59:59Z"))
                .await
                .unwrap()
                .unwrap()
                .p0_active
        );
        assert!(
            !store
                .lookup_caller("4521", at("2026-02-28T22:59:59Z"))
                .await
                .unwrap()
                .unwrap()
                .p0_active
        );
        let paul = store
            .lookup_caller("0299296767", inside)
            .await
            .unwrap()
            .unwrap();
        assert!(!paul.vip && !paul.p0_active);
        // Overseas numbers normalise under their own country code.
        let lea = store
            .lookup_caller("+594 594 29 00 00", inside)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(lea.last_name, "Noir");
        assert!(
            store
                .lookup_caller("0611111111", inside)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .lookup_caller("n'importe quoi", inside)
                .await
                .unwrap()
                .is_none()
        );
    }
);

both_backends!(import_without_required_columns_is_refused, |store| {
    let err = store
        .import_directory_csv(
            "last_name,first_name\nA,B\n".as_bytes(),
            at("2026-03-02T09:00:00Z"),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("entity"), "{err}");
    assert_eq!(store.people_count().await.unwrap(), 0);
});
