//! Router tests against a fake switchboard and a real SQLite store.

use std::sync::Mutex;

use super::*;

struct Fake {
    store: Store,
    settings: WebSettings,
    healthy: bool,
    set: Mutex<Vec<(String, String, MessageKind, String)>>,
    changes: Mutex<Vec<(String, AgentStateChange)>>,
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
        Box::pin(async {
            Ok(guichet_acd::Snapshot {
                at: Utc::now(),
                queues: Vec::new(),
                agents: Vec::new(),
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
        _line: &'a str,
        _kind: MessageKind,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async { Ok(()) })
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
