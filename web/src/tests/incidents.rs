//! The major-incident log through the router: role checks (pages and API), French
//! validation on the pages, JSON errors on the API, the messages page's one-step declaration,
//! closing with the crisis message's removal, and the wallboard's view.

use super::*;

async fn form_post(
    base: &str,
    cookie: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    client()
        .post(format!("{base}{path}"))
        .header(header::COOKIE, cookie)
        .form(fields)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn incidents_are_declared_followed_and_closed_by_supervisors_only() {
    let dir = tempfile::tempdir().unwrap();
    let backend = fake(dir.path(), true).await;
    let store = backend.store.clone();
    let (base, stop) = start(backend.clone()).await;
    let c = client();
    let (sup, csrf) = desk_session(&base, "sup", "mot-de-passe-sup").await;
    let (agt, agt_csrf) = desk_session(&base, "agt", "mot-de-passe-agt").await;

    // Agents: 403 on the pages and the API, reading and writing.
    for path in ["/superviseur/incidents", "/superviseur/incidents/1"] {
        let r = c
            .get(format!("{base}{path}"))
            .header(header::COOKIE, &agt)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{path}");
    }
    let r = form_post(
        &base,
        &agt,
        "/superviseur/incidents",
        &[("csrf", &agt_csrf), ("title", "Panne"), ("services", "VPN")],
    )
    .await;
    assert_eq!(r.status(), 403);
    for path in ["/api/v1/incidents", "/api/v1/incidents/1"] {
        let r = c
            .get(format!("{base}{path}"))
            .header(header::COOKIE, &agt)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{path}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(
            body["error"],
            "réservé aux superviseurs et aux administrateurs"
        );
    }
    let r = c
        .post(format!("{base}/api/v1/incidents"))
        .header(header::COOKIE, &agt)
        .header(api::CSRF_HEADER, &agt_csrf)
        .json(&serde_json::json!({"title": "Panne", "services": "VPN"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // No session: login page and 401.
    let r = c
        .get(format!("{base}/superviseur/incidents"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let r = c
        .get(format!("{base}/api/v1/incidents"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        store
            .incidents(&Default::default())
            .await
            .unwrap()
            .is_empty()
    );

    // Page validation: French, next to the values typed; nothing stored.
    let r = form_post(
        &base,
        &sup,
        "/superviseur/incidents",
        &[
            ("csrf", &csrf),
            ("title", "Panne de la messagerie"),
            ("services", "  "),
            ("description", "Plus de courriels."),
        ],
    )
    .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Lignes ou services touchés : indiquez les lignes ou services touchés."),
        "{html}"
    );
    assert!(html.contains("value=\"Panne de la messagerie\""));
    let r = form_post(
        &base,
        &sup,
        "/superviseur/incidents",
        &[
            ("csrf", &csrf),
            ("title", "Panne"),
            ("services", "x"),
            ("crisis_line", "9999"),
        ],
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("Ligne inconnue : 9999."));
    // Without CSRF: refused.
    let r = form_post(
        &base,
        &sup,
        "/superviseur/incidents",
        &[("title", "Panne"), ("services", "x")],
    )
    .await;
    assert_eq!(r.status(), 403);
    assert!(
        store
            .incidents(&Default::default())
            .await
            .unwrap()
            .is_empty()
    );

    // One step from the messages page: the crisis message goes live and the incident is
    // declared, linked to the line, with the message's text as description.
    let r = form_post(
        &base,
        &sup,
        "/superviseur/messages",
        &[
            ("csrf", &csrf),
            ("line", "8585"),
            ("kind", "crise"),
            (
                "text",
                "La messagerie est en panne, nos équipes interviennent.",
            ),
            ("incident", "1"),
            ("incident_title", "Panne de la messagerie"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let location = r.headers()[header::LOCATION].to_str().unwrap().to_owned();
    let list = store.incidents(&Default::default()).await.unwrap();
    assert_eq!(list.len(), 1);
    let mail = &list[0];
    assert_eq!(
        location,
        format!("/superviseur/incidents/{}?ok=declare", mail.id)
    );
    assert_eq!(mail.declared.crisis_line.as_deref(), Some("8585"));
    assert_eq!(mail.declared.services, "Ligne Hotline (8585)");
    assert_eq!(
        mail.declared.description,
        "La messagerie est en panne, nos équipes interviennent."
    );
    assert_eq!(mail.opened_by, "sup");
    assert_eq!(backend.set.lock().unwrap().len(), 1);
    // The checkbox without a title is refused before anything is broadcast.
    let r = form_post(
        &base,
        &sup,
        "/superviseur/messages",
        &[
            ("csrf", &csrf),
            ("line", "8585"),
            ("kind", "crise"),
            ("text", "Autre message."),
            ("incident", "1"),
        ],
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Saisissez le titre de l&#39;incident majeur.")
    );
    assert_eq!(backend.set.lock().unwrap().len(), 1);

    // The API: declare (JSON errors first), list with filters, update, close.
    let api = |path: &str| format!("{base}/api/v1{path}");
    let r = c
        .post(api("/incidents"))
        .header(header::COOKIE, &sup)
        .json(&serde_json::json!({"title": "VPN", "services": "VPN"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "no CSRF header");
    let r = c
        .post(api("/incidents"))
        .header(header::COOKIE, &sup)
        .header(api::CSRF_HEADER, &csrf)
        .json(&serde_json::json!({"title": "VPN"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("corps JSON invalide")
    );
    let r = c
        .post(api("/incidents"))
        .header(header::COOKIE, &sup)
        .header(api::CSRF_HEADER, &csrf)
        .json(&serde_json::json!({"title": " ", "services": "VPN"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let body: serde_json::Value = r.json().await.unwrap();
    // The API's one store-error policy: the French reason, and the field apart.
    assert_eq!(
        body,
        serde_json::json!({"error": "le titre est obligatoire", "field": "title"})
    );
    let r = c
        .post(api("/incidents"))
        .header(header::COOKIE, &sup)
        .header(api::CSRF_HEADER, &csrf)
        .json(&serde_json::json!({"title": "Accès VPN impossible", "services": "VPN, télétravail"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let vpn: serde_json::Value = r.json().await.unwrap();
    assert_eq!(vpn["status"], "open");
    assert_eq!(vpn["status_label"], "ouvert");
    let vpn_id = vpn["id"].as_i64().unwrap();

    let listed: serde_json::Value = c
        .get(api("/incidents?q=t%C3%A9l%C3%A9travail"))
        .header(header::COOKIE, &sup)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], vpn_id);
    let r = c
        .get(api("/incidents?status=perdu"))
        .header(header::COOKIE, &sup)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = c
        .get(api("/incidents/999"))
        .header(header::COOKIE, &sup)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"],
        "incident introuvable"
    );

    let update = |id: i64, body: serde_json::Value| {
        c.post(api(&format!("/incidents/{id}/updates")))
            .header(header::COOKIE, &sup)
            .header(api::CSRF_HEADER, &csrf)
            .json(&body)
            .send()
    };
    let r = update(vpn_id, serde_json::json!({"status": "fini"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let r = update(vpn_id, serde_json::json!({"note": ""}))
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let r = update(
        vpn_id,
        serde_json::json!({"status": "resolving", "note": "Certificat renouvelé."}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["status_label"],
        "en cours de résolution"
    );

    // The wallboard shows both ongoing incidents.
    let view = crate::pages::wallboard_view(&AppState {
        backend: backend.clone(),
    })
    .await;
    let view = serde_json::to_value(&view).unwrap();
    let titles: Vec<_> = view["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["title"].as_str().unwrap(), i["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        titles,
        vec![
            ("Accès VPN impossible", "en cours de résolution"),
            ("Panne de la messagerie", "ouvert")
        ]
    );

    // The messages page names the incidents going on.
    let html = page_text(&base, &sup, "/superviseur/messages").await;
    assert!(
        html.contains("Incident majeur en cours : <a href=\"/superviseur/incidents/"),
        "{html}"
    );
    assert!(html.contains("Accès VPN impossible</a> (en cours de résolution)"));

    // Pages: the list filters by status; the detail shows the timeline.
    let html = page_text(&base, &sup, "/superviseur/incidents?statut=resolving").await;
    assert!(html.contains("Accès VPN impossible"));
    assert!(!html.contains("<a href=\"/superviseur/incidents/1\">Panne de la messagerie</a>"));
    let r = c
        .get(format!("{base}/superviseur/incidents?du=hier"))
        .header(header::COOKIE, &sup)
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("Date de début illisible"));

    // Close the mail outage from its page and remove the crisis message in the same step.
    let path = format!("/superviseur/incidents/{}", mail.id);
    let r = form_post(
        &base,
        &sup,
        &path,
        &[("csrf", &csrf), ("status", "fini"), ("note", "x")],
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("Statut inconnu « fini »."));
    let r = form_post(
        &base,
        &sup,
        &path,
        &[
            ("csrf", &csrf),
            ("status", "closed"),
            ("note", "Accord des groupes support."),
            ("remove_crisis_message", "1"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()[header::LOCATION],
        format!("{path}?ok=retire").as_str()
    );
    assert_eq!(
        *backend.removed.lock().unwrap(),
        vec![("8585".to_owned(), MessageKind::Crisis)]
    );
    let html = page_text(&base, &sup, &path).await;
    assert!(
        html.contains("data-statut=\"closed\">clos</span>"),
        "{html}"
    );
    assert!(html.contains("Accord des groupes support."));
    assert!(html.contains("ouvert → clos"));
    assert!(
        !html.contains("id=\"form-suivi\""),
        "a closed incident takes no update"
    );
    // A closed incident refuses updates, on the page and the API.
    let r = update(mail.id, serde_json::json!({"note": "encore"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({
            "error": "cet incident est clos : il ne peut plus changer",
            "field": "status"
        })
    );

    // The journal page lists every step under « incident ».
    let html = page_text(&base, &sup, "/superviseur/messages?journal=incident").await;
    for action in ["incident.declare", "incident.update", "incident.close"] {
        assert!(
            html.contains(action),
            "{action} missing from the journal page"
        );
    }
    assert!(html.contains("href=\"/superviseur/incidents\""));

    // Today's dashboard counts both incidents of the day.
    let html = page_text(&base, &sup, "/superviseur/tableaux").await;
    assert!(
        html.contains("Incidents majeurs sur la période : <strong>2</strong>"),
        "{html}"
    );
    let _ = stop.send(());
}
