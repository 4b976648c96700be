//! The call log through the router: the call page's « Qualité audio » block in French, the
//! day's list with each call's verdict and the share of degraded calls, the API's JSON and
//! CSV with the same figures, and the supervisor-only access.

use guichet_tickets::call_quality::{LegCounters, LegQuality, MediaLeg};
use guichet_tickets::{CallOutcome, NewCall};

use super::*;

async fn get_text(base: &str, cookie: &str, path: &str) -> (u16, String) {
    let r = client()
        .get(format!("{base}{path}"))
        .header(header::COOKIE, cookie)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn counters(received: u64, lost: u64, late: u64) -> LegCounters {
    LegCounters {
        packets_sent: received,
        packets_received: received,
        packets_lost: lost,
        late_packets: late,
        jitter_max_us: 12_500,
        jitter_final_us: 2_000,
        remote_fraction_lost: None,
    }
}

#[tokio::test]
async fn the_call_page_shows_its_audio_quality_in_french_and_the_api_the_same_figures() {
    let dir = tempfile::tempdir().unwrap();
    let backend = fake(dir.path(), true).await;
    let store = backend.store.clone();
    let arrived = Utc::now() - chrono::Duration::minutes(5);
    let call = |n: u32| NewCall {
        sip_call_id: format!("qualite-{n}@test"),
        line: "8585".into(),
        caller_number: "+33140158001".into(),
        caller_name: Some("Claire Lefèvre".into()),
        person_id: None,
        vip: true,
        p0: false,
        arrived_at: arrived + chrono::Duration::seconds(i64::from(n)),
    };
    let cut = store.open_call(&call(1)).await.unwrap();
    let clean = store.open_call(&call(2)).await.unwrap();
    let unmeasured = store.open_call(&call(3)).await.unwrap();
    for id in [cut, clean, unmeasured] {
        store
            .close_call(
                id,
                CallOutcome::Answered,
                arrived + chrono::Duration::minutes(2),
                false,
            )
            .await
            .unwrap();
    }
    // "La ligne coupait": 1 % lost on the caller leg (MOS 3.77), a clean agent leg.
    let caller_leg = LegQuality::estimate(MediaLeg::Caller, counters(2970, 30, 0), 60.0);
    let agent_leg = LegQuality::estimate(MediaLeg::Agent, counters(3000, 0, 0), 60.0);
    store
        .record_call_quality(cut, &[caller_leg, agent_leg])
        .await
        .unwrap();
    store
        .record_call_quality(
            clean,
            &[LegQuality::estimate(
                MediaLeg::Caller,
                counters(500, 0, 0),
                60.0,
            )],
        )
        .await
        .unwrap();
    let (base, stop) = start(backend.clone()).await;
    let (sup, _) = desk_session(&base, "sup", "mot-de-passe-sup").await;
    let (agt, _) = desk_session(&base, "agt", "mot-de-passe-agt").await;

    // Supervisors only.
    for path in [
        "/superviseur/appels".to_owned(),
        format!("/superviseur/appels/{cut}"),
        format!("/api/v1/calls/{cut}"),
    ] {
        assert_eq!(get_text(&base, &agt, &path).await.0, 403, "{path}");
    }

    let (status, html) = get_text(&base, &sup, &format!("/superviseur/appels/{cut}")).await;
    assert_eq!(status, 200);
    for expected in [
        "<h2>Qualité audio</h2>",
        "Paquets perdus",
        "Gigue (max. / fin)",
        "MOS estimé",
        "Qualité de l'appel : <span class=\"erreur qualite-audio\" data-qualite=\"degraded\">dégradée</span>",
        // Caller leg: 30 lost of 3000 expected, jitter 12.5 ms max, MOS 3.77.
        "<tr data-voie=\"caller\"><th scope=\"row\">Appelant</th><td>2970</td><td>30 (1,0 %)</td><td>0</td><td>12,5 ms / 2,0 ms</td><td>non communiquée</td><td>3,77</td>",
        "<tr data-voie=\"agent\"><th scope=\"row\">Agent</th><td>3000</td><td>0 (0,0 %)</td>",
        "data-qualite=\"good\">bonne</span>",
        "Claire Lefèvre",
        "répondu",
        "Fin de l&#39;appel : répondu</li>",
    ] {
        assert!(html.contains(expected), "missing {expected:?} in {html}");
    }
    let (_, html) = get_text(&base, &sup, &format!("/superviseur/appels/{unmeasured}")).await;
    assert!(html.contains("Aucune mesure audio enregistrée"), "{html}");
    assert_eq!(
        get_text(&base, &sup, "/superviseur/appels/99999").await.0,
        404
    );

    // The day's list: each call's verdict and the share of degraded calls (1 of 2 measured).
    let day = arrived
        .with_timezone(&chrono_tz::Europe::Paris)
        .date_naive()
        .format("%Y-%m-%d")
        .to_string();
    let (status, html) = get_text(&base, &sup, &format!("/superviseur/appels?jour={day}")).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Appels au son dégradé ou mauvais : 1 sur 2 mesurés (50,0 %)."),
        "{html}"
    );
    assert!(
        html.contains(&format!("href=\"/superviseur/appels/{cut}\"")),
        "{html}"
    );
    assert_eq!(
        html.matches("data-qualite=\"degraded\"").count(),
        1,
        "{html}"
    );
    assert_eq!(html.matches("data-qualite=\"good\"").count(), 1, "{html}");
    // The dashboards give the same share over their period, counted by the database.
    let (status, html) = get_text(
        &base,
        &sup,
        &format!("/superviseur/tableaux?periode=personnalisee&du={day}&au={day}"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        html.contains(&format!(
            "Appels au son dégradé ou mauvais sur la période : <strong>1</strong> sur 2 mesurés \
             (<strong>50,0\u{a0}%</strong>) (<a href=\"/superviseur/appels?jour={day}\">"
        )),
        "{html}"
    );
    let (_, html) = get_text(&base, &sup, "/superviseur/appels?jour=hier").await;
    assert!(html.contains("Date invalide"), "{html}");

    // The API: the same figures.
    let (status, body) = get_text(&base, &sup, &format!("/api/v1/calls/{cut}")).await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["audio_quality"]["verdict"], "degraded");
    let caller = &v["audio_quality"]["legs"][0];
    assert_eq!(caller["leg"], "caller");
    assert_eq!(caller["packets_received"], 2970);
    assert_eq!(caller["packets_lost"], 30);
    assert_eq!(caller["late_packets"], 0);
    assert_eq!(caller["jitter_max_ms"], 12.5);
    assert_eq!(caller["jitter_final_ms"], 2.0);
    assert_eq!(caller["remote_fraction_lost"], serde_json::Value::Null);
    assert_eq!(caller["loss_ratio"], 0.01);
    assert_eq!(caller["mos"], 3.77);
    assert_eq!(caller["verdict"], "degraded");
    assert_eq!(v["audio_quality"]["legs"][1]["verdict"], "good");
    assert_eq!(v["events"][0]["kind"], "arrived");
    let (status, body) = get_text(&base, &sup, "/api/v1/calls/99999").await;
    assert_eq!(status, 404);
    assert!(body.contains("appel introuvable"), "{body}");

    let next = (arrived
        .with_timezone(&chrono_tz::Europe::Paris)
        .date_naive()
        + chrono::Duration::days(1))
    .format("%Y-%m-%d")
    .to_string();
    let (status, body) =
        get_text(&base, &sup, &format!("/api/v1/calls?from={day}&to={next}")).await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let calls = v["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 3);
    assert_eq!(
        calls[2]["audio_quality"]["verdict"],
        serde_json::Value::Null
    );
    let (status, csv) = get_text(
        &base,
        &sup,
        &format!("/api/v1/calls?from={day}&to={next}&format=csv"),
    )
    .await;
    assert_eq!(status, 200);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(lines[0].ends_with("qualite_audio,appelant_paquets_recus,appelant_paquets_perdus,appelant_paquets_en_retard,appelant_gigue_max_ms,appelant_perte_distante,appelant_mos,agent_paquets_recus,agent_paquets_perdus,agent_paquets_en_retard,agent_gigue_max_ms,agent_perte_distante,agent_mos"), "{csv}");
    assert!(
        lines[1].ends_with(",degraded,2970,30,0,12.5,,3.77,3000,0,0,12.5,,4.38"),
        "{csv}"
    );
    assert!(lines[3].ends_with(",,,,,,,,,,,,,"), "{csv}");
    let (status, _) = get_text(&base, &sup, &format!("/api/v1/calls?from={next}&to={day}")).await;
    assert_eq!(status, 400);
    let _ = stop.send(());

    // The OpenAPI document describes both routes and the quality fields.
    let doc: serde_json::Value = serde_json::from_str(crate::api::OPENAPI).unwrap();
    assert!(doc["paths"]["/calls"]["get"].is_object());
    assert!(doc["paths"]["/calls/{id}"]["get"].is_object());
    let leg = &doc["components"]["schemas"]["AudioQuality"]["properties"]["legs"]["items"];
    for field in [
        "packets_lost",
        "late_packets",
        "jitter_max_ms",
        "mos",
        "verdict",
    ] {
        assert!(leg["properties"][field].is_object(), "{field}");
    }
}
