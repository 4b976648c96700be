//! Router tests against a fake switchboard and a real SQLite store.

use std::sync::Mutex;

use super::*;

struct Fake {
    store: Store,
    settings: WebSettings,
    healthy: bool,
    set: Mutex<Vec<(String, String, MessageKind, String)>>,
    changes: Mutex<Vec<(String, AgentStateChange)>>,
    callbacks: Mutex<Vec<(String, i64)>>,
    desk_agents: Mutex<Vec<guichet_acd::AgentSnapshot>>,
    /// Messages removed, `(line, kind)`.
    removed: Mutex<Vec<(String, MessageKind)>>,
}

impl Backend for Fake {
    fn health(&self) -> BoxFuture<'_, Vec<Check>> {
        let ok = self.healthy;
        Box::pin(async move {
            vec![Check {
                name: "database".into(),
                ok,
                detail: (!ok).then(|| "connection refused".into()),
            }]
        })
    }
    fn metrics(&self) -> BoxFuture<'_, String> {
        Box::pin(async { "guichet_up 1\n".to_owned() })
    }
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
    fn store(&self) -> &Store {
        &self.store
    }
    fn settings(&self) -> &WebSettings {
        &self.settings
    }
    fn snapshot(&self) -> BoxFuture<'_, Result<guichet_acd::Snapshot, String>> {
        let agents = self.desk_agents.lock().unwrap().clone();
        Box::pin(async move {
            Ok(guichet_acd::Snapshot {
                at: Utc::now(),
                queues: Vec::new(),
                agents,
            })
        })
    }
    fn set_message<'a>(
        &'a self,
        actor: Actor,
        line: &'a str,
        kind: MessageKind,
        text: &'a str,
        _ends_at: Option<DateTime<Utc>>,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            if text.contains("échec") {
                return Err("la synthèse vocale a échoué".to_owned());
            }
            self.set
                .lock()
                .unwrap()
                .push((actor.login, line.to_owned(), kind, text.to_owned()));
            Ok(())
        })
    }
    fn preview_message<'a>(&'a self, text: &'a str) -> BoxFuture<'a, Result<Vec<u8>, String>> {
        Box::pin(async move {
            let mut wav = b"RIFF".to_vec();
            wav.extend_from_slice(text.as_bytes());
            Ok(wav)
        })
    }
    fn agent_state<'a>(
        &'a self,
        login: &'a str,
        change: AgentStateChange,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            self.changes
                .lock()
                .unwrap()
                .push((login.to_owned(), change));
            Ok(())
        })
    }
    fn remove_message<'a>(
        &'a self,
        _actor: Actor,
        line: &'a str,
        kind: MessageKind,
    ) -> BoxFuture<'a, Result<(), String>> {
        self.removed.lock().unwrap().push((line.to_owned(), kind));
        Box::pin(async { Ok(()) })
    }
    fn call_back<'a>(&'a self, login: &'a str, callback: i64) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let mut calls = self.callbacks.lock().unwrap();
            if calls.iter().any(|(_, c)| *c == callback) {
                return Err("ce rappel est déjà en cours".to_owned());
            }
            calls.push((login.to_owned(), callback));
            Ok(())
        })
    }
}

async fn fake(dir: &std::path::Path, healthy: bool) -> Arc<Fake> {
    let store = Store::open(&format!("sqlite://{}", dir.join("web.db").display()))
        .await
        .unwrap();
    for (login, roles, password) in [
        ("sup", vec![Role::Supervisor], "mot-de-passe-sup"),
        ("agt", vec![Role::Agent], "mot-de-passe-agt"),
    ] {
        store
            .upsert_agent(
                &guichet_tickets::admin::Agent {
                    login: login.into(),
                    display_name: login.into(),
                    roles: roles.iter().map(|r| r.as_str().to_owned()).collect(),
                    sip_extension: None,
                    password_hash: Some(auth::hash_password(password, &roles).unwrap()),
                    active: true,
                },
                "test",
                Utc::now(),
            )
            .await
            .unwrap();
    }
    Arc::new(Fake {
        store,
        settings: WebSettings {
            server_name: "Guichet test".into(),
            secure_cookies: true,
            lines: vec![LineInfo {
                number: "8585".into(),
                name: "Hotline".into(),
            }],
            zone: chrono_tz::Europe::Paris,
            stats: guichet_acd::stats::StatsParams::default(),
        },
        healthy,
        set: Mutex::new(Vec::new()),
        changes: Mutex::new(Vec::new()),
        callbacks: Mutex::new(Vec::new()),
        desk_agents: Mutex::new(Vec::new()),
        removed: Mutex::new(Vec::new()),
    })
}

async fn start(backend: Arc<Fake>) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, router(backend), async {
        let _ = rx.await;
    }));
    (format!("http://{addr}"), tx)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// The HTML of a page, as the session `cookie` sees it.
async fn page_text(base: &str, cookie: &str, path: &str) -> String {
    client()
        .get(format!("{base}{path}"))
        .header(header::COOKIE, cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Logs in and returns the session cookie header value (`guichet_session=…`).
async fn login(base: &str, login: &str, password: &str) -> reqwest::Response {
    let c = client();
    let page = c.get(format!("{base}/connexion")).send().await.unwrap();
    let set = cookie(&page, auth::LOGIN_CSRF_COOKIE).unwrap();
    let pair = set.split(';').next().unwrap().to_owned();
    let token = pair.split_once('=').unwrap().1.to_owned();
    c.post(format!("{base}/connexion"))
        .header(header::COOKIE, pair)
        .form(&[("login", login), ("password", password), ("csrf", &token)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn healthz_reports_503_when_a_check_fails_and_metrics_is_prometheus_text() {
    let dir = tempfile::tempdir().unwrap();
    let (base, stop) = start(fake(dir.path(), false).await).await;
    let c = client();
    let health = c.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 503);
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["checks"][0]["detail"], "connection refused");
    let metrics = c.get(format!("{base}/metrics")).send().await.unwrap();
    assert!(
        metrics.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    assert_eq!(metrics.text().await.unwrap(), "guichet_up 1\n");
    let _ = stop.send(());
}

#[tokio::test]
async fn session_cookie_is_hardened_and_api_writes_need_role_and_csrf() {
    let dir = tempfile::tempdir().unwrap();
    let backend = fake(dir.path(), true).await;
    let (base, stop) = start(backend.clone()).await;
    let c = client();

    let ok = login(&base, "sup", "mot-de-passe-sup").await;
    assert_eq!(ok.status(), 303);
    assert_eq!(ok.headers()[header::X_FRAME_OPTIONS], "DENY");
    assert!(
        ok.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    assert_eq!(ok.headers()[header::LOCATION], "/superviseur/mur");
    let set = cookie(&ok, auth::SESSION_COOKIE).unwrap();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Secure"));
    let sup = set.split(';').next().unwrap().to_owned();

    let info: serde_json::Value = c
        .get(format!("{base}/api/v1/session"))
        .header(header::COOKIE, &sup)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let csrf = info["csrf_token"].as_str().unwrap().to_owned();
    assert_eq!(info["roles"][0], "supervisor");

    let url = format!("{base}/api/v1/lines/8585/messages/crise");
    let no_csrf = c
        .put(&url)
        .header(header::COOKIE, &sup)
        .json(&serde_json::json!({"text": "Panne générale"}))
        .send()
        .await
        .unwrap();
    assert_eq!(no_csrf.status(), 403);
    let bad_kind = c
        .put(format!("{base}/api/v1/lines/8585/messages/autre"))
        .header(header::COOKIE, &sup)
        .header(api::CSRF_HEADER, &csrf)
        .json(&serde_json::json!({"text": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_kind.status(), 400);
    let err: serde_json::Value = bad_kind.json().await.unwrap();
    assert!(err["error"].as_str().unwrap().contains("crise"));
    let bad_body = c
        .put(&url)
        .header(header::COOKIE, &sup)
        .header(api::CSRF_HEADER, &csrf)
        .body("{\"texte\": 1}")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_body.status(), 400);
    let failed = c
        .put(&url)
        .header(header::COOKIE, &sup)
        .header(api::CSRF_HEADER, &csrf)
        .json(&serde_json::json!({"text": "échec voulu"}))
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 422);
    let saved = c
        .put(&url)
        .header(header::COOKIE, &sup)
        .header(api::CSRF_HEADER, &csrf)
        .json(&serde_json::json!({"text": "Panne générale"}))
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 200);
    assert_eq!(
        backend.set.lock().unwrap().as_slice(),
        &[(
            "sup".to_owned(),
            "8585".to_owned(),
            MessageKind::Crisis,
            "Panne générale".to_owned()
        )]
    );

    // The preview returns the synthesised audio and needs the form's CSRF token.
    let preview = c
        .post(format!("{base}/superviseur/messages/apercu"))
        .header(header::COOKIE, &sup)
        .form(&[("text", "Essai"), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(preview.status(), 200);
    assert_eq!(preview.headers()[header::CONTENT_TYPE], "audio/wav");
    assert_eq!(preview.bytes().await.unwrap().as_ref(), b"RIFFEssai");
    let preview = c
        .post(format!("{base}/superviseur/messages/apercu"))
        .header(header::COOKIE, &sup)
        .form(&[("text", "Essai")])
        .send()
        .await
        .unwrap();
    assert_eq!(preview.status(), 403);

    let all: serde_json::Value = c
        .get(format!("{base}/api/v1/messages"))
        .header(header::COOKIE, &sup)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 2, "one line, two kinds: {all:?}");
    assert_eq!(all[0]["kind"], "crise");
    assert_eq!(all[1]["kind"], "dissuasion");
    // The fake switchboard does not store messages: none is active.
    assert!(all.iter().all(|m| m["active"] == false));

    let agent = login(&base, "agt", "mot-de-passe-agt").await;
    assert_eq!(agent.headers()[header::LOCATION], "/agent");
    let agt = cookie(&agent, auth::SESSION_COOKIE)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    for path in [
        "/api/v1/snapshot",
        "/api/v1/journal",
        "/superviseur/messages",
    ] {
        let r = c
            .get(format!("{base}{path}"))
            .header(header::COOKIE, &agt)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{path}");
    }
    let anonymous = c
        .get(format!("{base}/api/v1/snapshot"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let _ = stop.send(());
}

#[tokio::test]
async fn five_failures_lock_the_login_and_everything_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let backend = fake(dir.path(), true).await;
    let (base, stop) = start(backend.clone()).await;
    for _ in 0..5 {
        assert_eq!(
            login(&base, "agt", "mauvais-mot-de-passe").await.status(),
            401
        );
    }
    let locked = login(&base, "agt", "mot-de-passe-agt").await;
    assert_eq!(locked.status(), 429);
    assert!(locked.text().await.unwrap().contains("verrouillé"));
    let events = backend.store.security_events_for("agt").await.unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.event == "login" && !e.success)
            .count(),
        5
    );
    assert!(events.iter().any(|e| e.event == "lockout"));
    assert!(!events.iter().any(|e| e.success));
    // Another login is not affected.
    assert_eq!(login(&base, "sup", "mot-de-passe-sup").await.status(), 303);
    let _ = stop.send(());
}

#[tokio::test]
async fn password_change_follows_the_rules_and_logout_ends_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let backend = fake(dir.path(), true).await;
    let (base, stop) = start(backend.clone()).await;
    let c = client();
    let ok = login(&base, "agt", "mot-de-passe-agt").await;
    let agt = cookie(&ok, auth::SESSION_COOKIE)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let info: serde_json::Value = c
        .get(format!("{base}/api/v1/session"))
        .header(header::COOKIE, &agt)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let csrf = info["csrf_token"].as_str().unwrap().to_owned();
    let change = |current: &str, new: &str, confirm: &str, token: &str| {
        c.post(format!("{base}/mon-compte"))
            .header(header::COOKIE, &agt)
            .form(&[
                ("current", current),
                ("new", new),
                ("confirm", confirm),
                ("csrf", token),
            ])
            .send()
    };
    let r = change("mot-de-passe-agt", "trop-court", "trop-court", &csrf)
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("au moins 12 caractères"));
    let r = change(
        "mauvais",
        "un-nouveau-mot-de-passe",
        "un-nouveau-mot-de-passe",
        &csrf,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 422);
    let r = change(
        "mot-de-passe-agt",
        "un-nouveau-mot-de-passe",
        "un-nouveau-mot-de-passe",
        "x",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 403);
    let r = change(
        "mot-de-passe-agt",
        "un-nouveau-mot-de-passe",
        "un-nouveau-mot-de-passe",
        &csrf,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(login(&base, "agt", "mot-de-passe-agt").await.status(), 401);
    assert_eq!(
        login(&base, "agt", "un-nouveau-mot-de-passe")
            .await
            .status(),
        303
    );
    let events = backend.store.security_events_for("agt").await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.event == "password_change" && e.success)
    );
    assert!(
        events
            .iter()
            .any(|e| e.event == "password_change" && !e.success)
    );

    // Logout needs the CSRF token, then the session is dead.
    let r = c
        .post(format!("{base}/deconnexion"))
        .header(header::COOKIE, &agt)
        .form(&[("csrf", "faux")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = c
        .post(format!("{base}/deconnexion"))
        .header(header::COOKIE, &agt)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let after = c
        .get(format!("{base}/agent"))
        .header(header::COOKIE, &agt)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 303);
    assert_eq!(after.headers()[header::LOCATION], "/connexion");
    let _ = stop.send(());
}

#[tokio::test]
async fn an_open_wallboard_stream_does_not_hold_up_the_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let backend = fake(dir.path(), true).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, router(backend), async {
        let _ = rx.await;
    }));
    let ok = login(&base, "sup", "mot-de-passe-sup").await;
    let sup = cookie(&ok, auth::SESSION_COOKIE)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let mut stream = client()
        .get(format!("{base}/superviseur/mur/flux"))
        .header(header::COOKIE, &sup)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.headers()[header::CONTENT_TYPE], "text/event-stream");
    let first = stream.chunk().await.unwrap().unwrap();
    let first = String::from_utf8_lossy(&first);
    assert!(first.starts_with("event: mur\ndata: {"), "{first}");
    assert!(first.contains("\"messages\":[]"), "{first}");
    let _ = tx.send(());
    let stopped = tokio::time::timeout(std::time::Duration::from_secs(5), server).await;
    assert!(stopped.is_ok(), "the server waited for the open stream");
    // The stream ended cleanly.
    while let Ok(Some(_)) = stream.chunk().await {}
}

#[tokio::test]
async fn agents_change_their_own_state_and_supervisors_anyones() {
    let dir = tempfile::tempdir().unwrap();
    let backend = fake(dir.path(), true).await;
    let (base, stop) = start(backend.clone()).await;
    let c = client();
    let session = |login_name: &'static str, password: &'static str| {
        let base = base.clone();
        let c = c.clone();
        async move {
            let ok = login(&base, login_name, password).await;
            let pair = cookie(&ok, auth::SESSION_COOKIE)
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .to_owned();
            let info: serde_json::Value = c
                .get(format!("{base}/api/v1/session"))
                .header(header::COOKIE, &pair)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (pair, info["csrf_token"].as_str().unwrap().to_owned())
        }
    };
    let (agt, agt_csrf) = session("agt", "mot-de-passe-agt").await;
    let (sup, sup_csrf) = session("sup", "mot-de-passe-sup").await;
    let put = |who: &str, csrf: &str, login: &str, body: serde_json::Value| {
        c.put(format!("{base}/api/v1/agents/{login}/state"))
            .header(header::COOKIE, who)
            .header(api::CSRF_HEADER, csrf)
            .json(&body)
            .send()
    };
    let pause = serde_json::json!({"action": "pause", "reason": "Formation"});
    assert_eq!(
        put(&agt, &agt_csrf, "agt", pause.clone())
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        put(&agt, &agt_csrf, "sup", pause.clone())
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        put(
            &sup,
            &sup_csrf,
            "agt",
            serde_json::json!({"action": "deconnexion"})
        )
        .await
        .unwrap()
        .status(),
        204
    );
    let no_reason = put(
        &agt,
        &agt_csrf,
        "agt",
        serde_json::json!({"action": "pause"}),
    )
    .await
    .unwrap();
    assert_eq!(no_reason.status(), 400);
    let body: serde_json::Value = no_reason.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("motif"));
    assert_eq!(
        put(
            &agt,
            &agt_csrf,
            "agt",
            serde_json::json!({"action": "dormir"})
        )
        .await
        .unwrap()
        .status(),
        400
    );
    // The page's form: CSRF checked, then back to the page.
    let form = |csrf: &str| {
        c.post(format!("{base}/agent/etat"))
            .header(header::COOKIE, &agt)
            .form(&[("action", "pause"), ("reason", "Déjeuner"), ("csrf", csrf)])
            .send()
    };
    assert_eq!(form("faux").await.unwrap().status(), 403);
    let ok = form(&agt_csrf).await.unwrap();
    assert_eq!(ok.status(), 303);
    assert_eq!(ok.headers()[header::LOCATION], "/agent");
    assert_eq!(
        backend.changes.lock().unwrap().as_slice(),
        &[
            (
                "agt".to_owned(),
                AgentStateChange::Pause {
                    reason: "Formation".to_owned()
                }
            ),
            ("agt".to_owned(), AgentStateChange::LogOut),
            (
                "agt".to_owned(),
                AgentStateChange::Pause {
                    reason: "Déjeuner".to_owned()
                }
            ),
        ]
    );
    let _ = stop.send(());
}

/// Logs in and returns the session cookie pair and its CSRF token.
async fn desk_session(base: &str, login_name: &str, password: &str) -> (String, String) {
    let ok = login(base, login_name, password).await;
    let pair = cookie(&ok, auth::SESSION_COOKIE)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let info: serde_json::Value = client()
        .get(format!("{base}/api/v1/session"))
        .header(header::COOKIE, &pair)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (pair, info["csrf_token"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn the_desk_saves_tickets_with_french_errors_and_calls_back() {
    let dir = tempfile::tempdir().unwrap();
    let backend = fake(dir.path(), true).await;
    let store = backend.store.clone();
    let now = Utc::now();
    // A VIP's call, offered to and answered by "agt".
    let call = store
        .open_call(&guichet_tickets::NewCall {
            sip_call_id: "desk-1".into(),
            line: "8585".into(),
            caller_number: "+33140158001".into(),
            caller_name: Some("Claire Lefèvre".into()),
            person_id: None,
            vip: true,
            p0: false,
            arrived_at: now,
        })
        .await
        .unwrap();
    for update in [
        guichet_tickets::CallUpdate::Offered {
            at: now,
            agent: "agt".into(),
        },
        guichet_tickets::CallUpdate::Answered {
            at: now,
            agent: "agt".into(),
        },
    ] {
        store.update_call(call, &update).await.unwrap();
    }
    let typology = store.create_category("Messagerie", None).await.unwrap();
    let sub = store
        .create_category("Boîte pleine", Some(typology))
        .await
        .unwrap();
    let group = store.create_support_group("Niveau 2").await.unwrap();
    let (base, stop) = start(backend.clone()).await;
    let c = client();
    let (agt, csrf) = desk_session(&base, "agt", "mot-de-passe-agt").await;

    // Without a session: 401 on the API, the login page for pages.
    let anon = c
        .post(format!("{base}/api/v1/tickets"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), 401);
    let anon = c.get(format!("{base}/agent/dossier")).send().await.unwrap();
    assert_eq!(anon.headers()[header::LOCATION], "/connexion");
    // Without the CSRF header: 403, nothing written.
    let no_csrf = c
        .post(format!("{base}/api/v1/tickets"))
        .header(header::COOKIE, &agt)
        .json(&serde_json::json!({"call_id": call, "nature": "incident", "title": "x", "requester_name": "y"}))
        .send()
        .await
        .unwrap();
    assert_eq!(no_csrf.status(), 403);
    assert!(store.tickets_of_call(call).await.unwrap().is_empty());

    // The complete form without its fields: one French error per field.
    let post = |body: serde_json::Value| {
        c.post(format!("{base}/api/v1/tickets"))
            .header(header::COOKIE, &agt)
            .header(api::CSRF_HEADER, &csrf)
            .json(&body)
            .send()
    };
    let bad = post(serde_json::json!({"call_id": call, "form": "complete", "nature": "incident", "title": " ", "requester_name": "Claire Lefèvre", "urgency": "extreme"})).await.unwrap();
    assert_eq!(bad.status(), 422);
    let body: serde_json::Value = bad.json().await.unwrap();
    assert_eq!(body["fields"]["title"], "Le titre est obligatoire.");
    assert_eq!(
        body["fields"]["urgency"],
        "Urgence inconnue : sévère, élevée ou moyenne."
    );
    assert_eq!(
        body["fields"]["category_id"],
        "La catégorie est obligatoire dans le formulaire complet."
    );
    assert!(
        body["fields"]["diagnosis"]
            .as_str()
            .unwrap()
            .contains("obligatoire")
    );
    assert!(store.tickets_of_call(call).await.unwrap().is_empty());

    // Moderate urgency and impact, but a VIP caller: P0, linked to the call, assigned.
    let ok = post(serde_json::json!({
        "call_id": call, "form": "complete", "nature": "incident", "title": "Messagerie bloquée",
        "requester_name": "Claire Lefèvre", "entity": "Cabinet du ministre", "site": "Valois",
        "category_id": sub, "urgency": "moyenne", "impact": "modere", "technical_domain": "Messagerie",
        "symptom": "Boîte pleine", "diagnosis": "Quota atteint", "outcome": "assign_group", "group_id": group
    })).await.unwrap();
    assert_eq!(ok.status(), 201);
    let t: serde_json::Value = ok.json().await.unwrap();
    assert_eq!(t["priority"], "P0");
    assert_eq!(t["status"], "assigned");
    assert_eq!(t["calls"], serde_json::json!([call]));
    let id = t["id"].as_i64().unwrap();
    // Saving the call's form again completes the same ticket (no duplicate).
    let again = post(serde_json::json!({"call_id": call, "nature": "assistance", "title": "Messagerie bloquée", "requester_name": "Claire Lefèvre", "outcome": "resolved_online"})).await.unwrap();
    assert_eq!(again.status(), 200);
    let t: serde_json::Value = again.json().await.unwrap();
    assert_eq!(
        (t["id"].as_i64(), t["nature"].as_str(), t["status"].as_str()),
        (Some(id), Some("assistance"), Some("resolved"))
    );
    assert_eq!(store.tickets_of_call(call).await.unwrap(), vec![id]);
    let got: serde_json::Value = c
        .get(format!("{base}/api/v1/tickets/{id}"))
        .header(header::COOKIE, &agt)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["priority"], "P0");

    // The live priority: the tickets room's matrix, VIP → P0.
    let p: serde_json::Value = c
        .get(format!(
            "{base}/agent/dossier/priorite?urgency=severe&impact=critique"
        ))
        .header(header::COOKIE, &agt)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(p["code"], "P0");
    let p: serde_json::Value = c
        .get(format!(
            "{base}/agent/dossier/priorite?urgency=moyenne&impact=majeur"
        ))
        .header(header::COOKIE, &agt)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(p["code"], "P3");

    // The page's form: CSRF checked; an error re-renders the form with the values kept.
    let form = |fields: Vec<(&'static str, String)>| {
        c.post(format!("{base}/agent/dossier"))
            .header(header::COOKIE, &agt)
            .form(&fields)
            .send()
    };
    assert_eq!(
        form(vec![("title", "x".into())]).await.unwrap().status(),
        403
    );
    let page = form(vec![
        ("csrf", csrf.clone()),
        ("nature", "request".into()),
        ("title", "".into()),
        ("requester_name", "Jean Dupont".into()),
        ("outcome", "assign_group".into()),
    ])
    .await
    .unwrap();
    assert_eq!(page.status(), 422);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("id=\"erreur-title\" role=\"alert\">Le titre est obligatoire."),
        "{html}"
    );
    assert!(html.contains("Choisissez le groupe à qui affecter le ticket."));
    assert!(html.contains("value=\"Jean Dupont\""));
    let saved = form(vec![
        ("csrf", csrf.clone()),
        ("nature", "request".into()),
        ("title", "Nouveau poste".into()),
        ("requester_name", "Jean Dupont".into()),
        ("outcome", "keep".into()),
    ])
    .await
    .unwrap();
    assert_eq!(saved.status(), 303);
    let location = saved.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        location.starts_with("/agent/dossier?ticket_id="),
        "{location}"
    );
    let shown = c
        .get(format!("{base}{location}"))
        .header(header::COOKIE, &agt)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        shown.contains("enregistré.") && shown.contains("value=\"Nouveau poste\""),
        "{shown}"
    );

    // Callbacks: listed, CSRF checked, handed to the switchboard, journaled.
    let request = store
        .create_callback(
            None,
            "+33140205050",
            Some("Julien Moreau"),
            "louvre-hotline",
            now,
        )
        .await
        .unwrap();
    let list: serde_json::Value = c
        .get(format!("{base}/api/v1/callbacks"))
        .header(header::COOKIE, &agt)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["requests"][0]["id"], request);
    let no_csrf = c
        .post(format!("{base}/api/v1/callbacks/{request}/call"))
        .header(header::COOKIE, &agt)
        .send()
        .await
        .unwrap();
    assert_eq!(no_csrf.status(), 403);
    let started = c
        .post(format!("{base}/api/v1/callbacks/{request}/call"))
        .header(header::COOKIE, &agt)
        .header(api::CSRF_HEADER, &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 202);
    assert_eq!(
        backend.callbacks.lock().unwrap().as_slice(),
        &[("agt".to_owned(), request)]
    );
    let html = c
        .post(format!("{base}/agent/rappels/rappeler"))
        .header(header::COOKIE, &agt)
        .form(&[
            ("csrf", csrf.as_str()),
            ("callback_id", &request.to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(html.status(), 422);
    assert!(
        html.text()
            .await
            .unwrap()
            .contains("Rappel impossible : ce rappel est déjà en cours")
    );
    let journal = store
        .journal_between(
            now - chrono::Duration::minutes(1),
            Utc::now() + chrono::Duration::minutes(1),
        )
        .await
        .unwrap();
    assert_eq!(
        journal
            .iter()
            .filter(|e| e.action == "callback.start" && e.actor == "agt")
            .count(),
        2
    );
    // An abandoned call of an identified caller: listed, called back through a new request.
    let window = format!(
        "{}/{}",
        (now - chrono::Duration::hours(1)).to_rfc3339(),
        (now + chrono::Duration::hours(1)).to_rfc3339()
    );
    store
        .import_directory_csv(
            format!(
                "id,last_name,first_name,entity,site,dependency,vip,phones,p0_windows\n\
                 julien.moreau,Moreau,Julien,Peintures,Louvre,,non,+33140205050,{window}\n"
            )
            .as_bytes(),
            now,
        )
        .await
        .unwrap();
    let person = store
        .lookup_caller("+33140205050", now)
        .await
        .unwrap()
        .unwrap();
    let abandoned = store
        .open_call(&guichet_tickets::NewCall {
            sip_call_id: "desk-2".into(),
            line: "8585".into(),
            caller_number: "+33140205050".into(),
            caller_name: None,
            person_id: Some(person.person_id),
            vip: false,
            p0: false,
            arrived_at: now,
        })
        .await
        .unwrap();
    store
        .update_call(
            abandoned,
            &guichet_tickets::CallUpdate::Queued {
                at: now,
                queue: "louvre-hotline".into(),
            },
        )
        .await
        .unwrap();
    store
        .close_call(
            abandoned,
            guichet_tickets::CallOutcome::AbandonedInQueue,
            now,
            false,
        )
        .await
        .unwrap();
    let list: serde_json::Value = c
        .get(format!("{base}/api/v1/callbacks"))
        .header(header::COOKIE, &agt)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["abandoned_calls"][0]["call_id"], abandoned, "{list}");
    assert_eq!(list["abandoned_calls"][0]["name"], "Julien Moreau");
    let page = c
        .get(format!("{base}/agent/rappels"))
        .header(header::COOKIE, &agt)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!("data-appel=\"{abandoned}\""))
            && page.contains("aria-label=\"Rappeler Julien Moreau\""),
        "{page}"
    );
    let started = c
        .post(format!("{base}/api/v1/calls/{abandoned}/call-back"))
        .header(header::COOKIE, &agt)
        .header(api::CSRF_HEADER, &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 202);
    let made: serde_json::Value = started.json().await.unwrap();
    let made = made["callback_id"].as_i64().unwrap();
    assert_eq!(
        store.pending_callback(made).await.unwrap().unwrap().number,
        "+33140205050"
    );
    assert_eq!(
        backend.callbacks.lock().unwrap().last(),
        Some(&("agt".to_owned(), made))
    );
    let list: serde_json::Value = c
        .get(format!("{base}/api/v1/callbacks"))
        .header(header::COOKIE, &agt)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        list["abandoned_calls"].as_array().unwrap().is_empty(),
        "{list}"
    );
    let twice = c
        .post(format!("{base}/api/v1/calls/{abandoned}/call-back"))
        .header(header::COOKIE, &agt)
        .header(api::CSRF_HEADER, &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(twice.status(), 422);
    // The screen pop follows the ACD state: Julien (P0 window) rings "agt".
    let pop = |base: String, who: String| async move {
        let mut r = client()
            .get(format!("{base}/agent/appel/flux"))
            .header(header::COOKIE, who)
            .send()
            .await
            .unwrap();
        let mut text = String::new();
        while !text.contains("\n\n") {
            let chunk = tokio::time::timeout(std::time::Duration::from_secs(5), r.chunk())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        text
    };
    let empty = pop(base.clone(), agt.clone()).await;
    assert!(
        empty.starts_with("event: appel\ndata: <!-- aucun appel -->\n"),
        "{empty:?}"
    );
    let ringing = store
        .open_call(&guichet_tickets::NewCall {
            sip_call_id: "desk-3".into(),
            line: "8585".into(),
            caller_number: "+33140205050".into(),
            caller_name: None,
            person_id: Some(person.person_id),
            vip: false,
            p0: true,
            arrived_at: now,
        })
        .await
        .unwrap();
    store
        .update_call(
            ringing,
            &guichet_tickets::CallUpdate::Offered {
                at: now,
                agent: "agt".into(),
            },
        )
        .await
        .unwrap();
    backend
        .desk_agents
        .lock()
        .unwrap()
        .push(guichet_acd::AgentSnapshot {
            agent: guichet_acd::AgentId("agt".into()),
            status: guichet_acd::AgentStatus::Ringing {
                call: guichet_acd::CallId(7),
            },
            time_in_state_secs: 1,
            calls_answered: 0,
            queues: Vec::new(),
            wrap_up_left_secs: None,
        });
    let shown = pop(base.clone(), agt.clone()).await;
    assert!(
        shown.contains("Appel entrant") && shown.contains("Julien Moreau"),
        "{shown}"
    );
    assert!(
        shown.contains("id=\"badge-p0\">Fenêtre P0</span>") && !shown.contains("badge-vip"),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("href=\"/agent/dossier?call_id={ringing}\"")),
        "{shown}"
    );
    assert!(shown.contains("abandonné en file"), "last calls: {shown}");
    let json: serde_json::Value = c
        .get(format!("{base}/api/v1/agent/call"))
        .header(header::COOKIE, &agt)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            json["call_id"].as_i64(),
            json["p0_window"].as_bool(),
            json["phase"].as_str()
        ),
        (Some(ringing), Some(true), Some("ringing"))
    );
    // The ringing call is attached to an existing open ticket instead of getting its own.
    let open_id: i64 = location
        .trim_start_matches("/agent/dossier?ticket_id=")
        .split('&')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let attached = post(serde_json::json!({"call_id": ringing, "attach_to_ticket": open_id}))
        .await
        .unwrap();
    assert_eq!(attached.status(), 200);
    assert_eq!(store.ticket_calls(open_id).await.unwrap(), vec![ringing]);
    assert_eq!(store.tickets_of_call(ringing).await.unwrap(), vec![open_id]);
    let resolved = post(serde_json::json!({"call_id": call, "attach_to_ticket": id}))
        .await
        .unwrap();
    assert_eq!(resolved.status(), 422);
    // An agent cannot write the ticket of a call another agent took.
    let theirs = store
        .open_call(&guichet_tickets::NewCall {
            sip_call_id: "desk-4".into(),
            line: "8585".into(),
            caller_number: "+33140205050".into(),
            caller_name: None,
            person_id: None,
            vip: false,
            p0: false,
            arrived_at: now,
        })
        .await
        .unwrap();
    store
        .update_call(
            theirs,
            &guichet_tickets::CallUpdate::Answered {
                at: now,
                agent: "autre".into(),
            },
        )
        .await
        .unwrap();
    let denied = post(serde_json::json!({"call_id": theirs, "nature": "incident", "title": "x", "requester_name": "y"})).await.unwrap();
    assert_eq!(denied.status(), 403);
    let denied: serde_json::Value = denied.json().await.unwrap();
    assert_eq!(
        denied["fields"]["call_id"],
        "Cet appel n'a pas été pris par vous."
    );
    let page = c
        .get(format!("{base}/agent/dossier?call_id={theirs}"))
        .header(header::COOKIE, &agt)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 403);
    assert!(store.tickets_of_call(theirs).await.unwrap().is_empty());
    let unknown = c
        .post(format!("{base}/api/v1/callbacks/9999/call"))
        .header(header::COOKIE, &agt)
        .header(api::CSRF_HEADER, &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let _ = stop.send(());
}

#[tokio::test]
async fn the_softphone_socket_is_for_agents_and_the_listening_socket_for_supervisors() {
    let dir = tempfile::tempdir().unwrap();
    let (base, stop) = start(fake(dir.path(), true).await).await;
    let host = base.trim_start_matches("http://").to_owned();
    let session = |resp: reqwest::Response| {
        cookie(&resp, auth::SESSION_COOKIE)
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned()
    };
    let agt = session(login(&base, "agt", "mot-de-passe-agt").await);
    let sup = session(login(&base, "sup", "mot-de-passe-sup").await);
    let handshake = |cookie: Option<&str>, origin: &str| {
        let mut req = client()
            .get(format!("{base}/agent/softphone"))
            .header(header::CONNECTION, "upgrade")
            .header(header::UPGRADE, "websocket")
            .header(header::SEC_WEBSOCKET_VERSION, "13")
            .header(header::SEC_WEBSOCKET_KEY, "dGhlIHNhbXBsZSBub25jZQ==")
            .header(header::ORIGIN, origin);
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        req.send()
    };
    let same = format!("http://{host}");
    // Listen / whisper / barge is the other way round: supervisors only.
    let monitor = |cookie: &str| {
        client()
            .get(format!("{base}/superviseur/ecoute"))
            .header(header::CONNECTION, "upgrade")
            .header(header::UPGRADE, "websocket")
            .header(header::SEC_WEBSOCKET_VERSION, "13")
            .header(header::SEC_WEBSOCKET_KEY, "dGhlIHNhbXBsZSBub25jZQ==")
            .header(header::ORIGIN, same.clone())
            .header(header::COOKIE, cookie.to_owned())
            .send()
    };
    assert_eq!(monitor(&agt).await.unwrap().status(), 403);
    assert_eq!(monitor(&sup).await.unwrap().status(), 101);
    assert_eq!(handshake(None, &same).await.unwrap().status(), 401);
    let supervisor = handshake(Some(&sup), &same).await.unwrap();
    assert_eq!(supervisor.status(), 403);
    assert!(
        supervisor
            .text()
            .await
            .unwrap()
            .contains("réservé aux comptes d'agent")
    );
    let foreign = handshake(Some(&agt), "https://ailleurs.example")
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    assert_eq!(handshake(Some(&agt), &same).await.unwrap().status(), 101);
    let _ = stop.send(());
}

#[test]
fn the_status_bar_counts_down_the_wrap_up() {
    let snapshot = |status, left| guichet_acd::Snapshot {
        at: Utc::now(),
        queues: Vec::new(),
        agents: vec![guichet_acd::AgentSnapshot {
            agent: guichet_acd::AgentId("agt".into()),
            status,
            time_in_state_secs: 12,
            calls_answered: 3,
            queues: Vec::new(),
            wrap_up_left_secs: left,
        }],
    };
    let wrap_up = guichet_acd::AgentStatus::WrapUp {
        call: guichet_acd::CallId(1),
    };
    let shown = crate::pages::agent_fragment(&snapshot(wrap_up, Some(18)), "agt");
    assert!(
        shown.contains("Post-appel</strong> depuis 00:00:12, fin dans <span id=\"post-appel-restant\">00:00:18</span>"),
        "{shown}"
    );
    let shown =
        crate::pages::agent_fragment(&snapshot(guichet_acd::AgentStatus::Available, None), "agt");
    assert!(
        shown.contains("Disponible</strong> depuis 00:00:12 —"),
        "{shown}"
    );
    assert!(!shown.contains("fin dans"), "{shown}");
}

mod call_log;
mod incidents;
mod sla_changes;
mod store_errors;
mod ticket_actions;
