//! Administration and message features against a real `guichet serve`, on SQLite and
//! PostgreSQL: users (password policy, role change, lock-out), role checks on admin routes,
//! directory import with its report, VIP and P0 windows, WAV messages, scheduled messages and
//! the library of saved messages.

mod support;
#[path = "support/web.rs"]
mod web;

use std::time::{Duration, Instant};

use guichet_tickets::Store;
use reqwest::header::COOKIE;
use serde_json::{Value, json};
use support::*;
use web::*;

const DEMO_PASSWORD: &str = "Guichet-Demo-2026!";
const ADMIN_PASSWORD: &str = "Guichet-Admin-2026!";

/// A WAV file of silence in the given format.
fn wav(rate: u32, channels: u16) -> Vec<u8> {
    let data = vec![0u8; 1600 * usize::from(channels)];
    let mut v = b"RIFF".to_vec();
    v.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&channels.to_le_bytes());
    v.extend_from_slice(&rate.to_le_bytes());
    v.extend_from_slice(&(rate * u32::from(channels) * 2).to_le_bytes());
    v.extend_from_slice(&(channels * 2).to_le_bytes());
    v.extend_from_slice(&16u16.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v.extend_from_slice(&data);
    v
}

struct Api {
    base: String,
    cookie: String,
    csrf: String,
    client: reqwest::Client,
}

impl Api {
    async fn login(server: &Server, login: &str, password: &str) -> Api {
        let base = format!("http://{}", server.http);
        let cookie = session_cookie(server, login, password).await;
        let client = http();
        let session: Value = client
            .get(format!("{base}/api/v1/session"))
            .header(COOKIE, &cookie)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Api {
            csrf: session["csrf_token"].as_str().unwrap().to_owned(),
            base,
            cookie,
            client,
        }
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Vec<u8>) -> (u16, Value) {
        let r = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .header("x-csrf-token", &self.csrf)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn json(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        self.send(method, path, body.to_string().into_bytes()).await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn users_directory_and_messages_administration() {
    // Text messages are synthesised (espeak-ng, sox); other WAVs are converted with sox.
    if !have("espeak-ng") || !have("sox") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    for db in databases(dir.path(), "admin_api").await {
        let run = tempfile::tempdir_in(dir.path()).expect("run dir");
        let server = Server::start(
            run.path(),
            &db,
            &ServerOptions {
                clock_start: OPEN_HOURS,
                edits: vec![],
            },
        );
        let store = Store::open(&db.url()).await.expect("store");
        check_users(&server, &store).await;
        check_directory(&server, &store).await;
        check_messages(&server).await;
        check_prompts(&server, run.path()).await;
        check_calendars(&server, &store).await;

        // After a restart: the stored closure still applies, a configured account disabled
        // by an admin stays disabled.
        let admin = Api::login(&server, "admin", ADMIN_PASSWORD).await;
        let (status, _) = admin
            .json(
                reqwest::Method::POST,
                "/api/v1/admin/calendars/louvre/exceptions",
                json!({"date": "2026-11-24", "until": "2026-11-25", "label": "Déménagement"}),
            )
            .await;
        assert_eq!(status, 201);
        let (status, _) = admin
            .json(
                reqwest::Method::PUT,
                "/api/v1/admin/users/bruno.petit",
                json!({"active": false}),
            )
            .await;
        assert_eq!(status, 200);
        // Uploaded audio is kept in the database: a prompt replaced now is what a node that
        // never saw the upload (the restart below runs in a fresh directory) plays.
        let (_, list) = admin.get("/api/v1/admin/prompts").await;
        let other = list
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_owned())
            .find(|id| id != "au_revoir")
            .expect("another prompt");
        let mut recording = wav(8000, 1);
        recording.extend_from_slice(&[7, 0, 7, 0]);
        let (status, _) = admin
            .send(
                reqwest::Method::PUT,
                &format!("/api/v1/admin/prompts/{other}"),
                recording.clone(),
            )
            .await;
        assert_eq!(status, 200);
        drop(server);
        let messages_dir = |run: &std::path::Path| {
            if db.url().starts_with("sqlite:") {
                run.join("guichet-messages")
            } else {
                std::env::temp_dir().join("guichet-messages")
            }
        };
        let mut uploaded = Vec::new();
        for (name, _) in store.audio_index().await.expect("audio index") {
            if let Some(file) = name.strip_prefix("message/") {
                let bytes = store.audio(&name).await.expect("audio").expect("bytes");
                // The old node's copy goes: the new one must come from the database.
                let _ = std::fs::remove_file(messages_dir(run.path()).join(file));
                uploaded.push((file.to_owned(), bytes));
            }
        }
        assert!(
            uploaded.len() >= 2,
            "the WAV messages uploaded above are stored"
        );
        let rerun = tempfile::tempdir_in(dir.path()).expect("run dir");
        // A copy of a prompt restored meanwhile (au_revoir, above) is stale in a node's cache.
        std::fs::create_dir_all(rerun.path().join("guichet-prompts")).expect("dir");
        std::fs::write(
            rerun.path().join("guichet-prompts/au_revoir.wav"),
            wav(8000, 1),
        )
        .expect("stale copy");
        let server = Server::start(
            rerun.path(),
            &db,
            &ServerOptions {
                clock_start: OPEN_HOURS,
                edits: vec![],
            },
        );
        let admin = Api::login(&server, "admin", ADMIN_PASSWORD).await;
        assert!(!queue_open(&admin, "louvre-hotline").await);
        assert!(queue_open(&admin, "culture-incidents").await);
        // The supervisor's queue changes, the SLA grid and the weekly hours saved before the
        // restart win over the configuration.
        let (_, snapshot) = admin.get("/api/v1/snapshot").await;
        let amelie = snapshot["agents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["agent"] == "amelie.martin")
            .expect("amelie")["queues"]
            .clone();
        assert_eq!(
            amelie,
            json!([["louvre-hotline", 1], ["culture-demandes", 3]]),
            "{amelie}"
        );
        let (_, policies) = admin.get("/api/v1/admin/sla-policies").await;
        assert!(
            policies
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "louvre" && p["policy"]["targets"][1]["resolve"] == "6h")
        );
        assert_eq!(
            std::fs::read(rerun.path().join(format!("guichet-prompts/{other}.wav")))
                .expect("prompt copied from the database"),
            recording
        );
        let served = http()
            .get(format!("{}/api/v1/admin/prompts/{other}/audio", admin.base))
            .header(COOKIE, &admin.cookie)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(served.to_vec(), recording);
        assert!(
            !rerun.path().join("guichet-prompts/au_revoir.wav").exists(),
            "a prompt restored in the database is not played from a stale copy"
        );
        for (file, bytes) in &uploaded {
            assert_eq!(
                &std::fs::read(messages_dir(rerun.path()).join(file))
                    .unwrap_or_else(|e| panic!("{file} not copied from the database: {e}")),
                bytes
            );
        }
        let (_, hours) = admin.get("/api/v1/admin/calendars/hours").await;
        assert!(
            hours
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["name"] == "louvre"
                    && c["value"]["tuesday"] == json!(["08:00-18:00"])
                    && c["saved_by"] == "admin")
        );
        assert_ne!(
            post_login(&server, "bruno.petit", DEMO_PASSWORD)
                .await
                .status(),
            303
        );
    }
}

async fn check_users(server: &Server, store: &Store) {
    use reqwest::Method;
    let admin = Api::login(server, "admin", ADMIN_PASSWORD).await;

    // Agents and supervisors are refused on every administration route.
    let agent = Api::login(server, "amelie.martin", DEMO_PASSWORD).await;
    let supervisor = Api::login(server, "chloe.durand", DEMO_PASSWORD).await;
    for who in [&agent, &supervisor] {
        for path in [
            "/admin/utilisateurs",
            "/admin/annuaire",
            "/api/v1/admin/users",
            "/api/v1/admin/directory/people",
            "/api/v1/admin/directory/p0-windows",
        ] {
            let (status, _) = who.get(path).await;
            assert_eq!(status, 403, "{path}");
        }
        let (status, _) = who
            .send(
                Method::POST,
                "/api/v1/admin/directory/imports",
                b"id".to_vec(),
            )
            .await;
        assert_eq!(status, 403);
    }
    // The agent is also refused on the supervisors' message routes.
    assert_eq!(agent.get("/api/v1/messages/library").await.0, 403);
    assert_eq!(supervisor.get("/api/v1/messages/library").await.0, 200);

    // Too-short passwords are refused in French, with the role's rule.
    let (status, body) = admin
        .json(
            Method::POST,
            "/api/v1/admin/users",
            json!({"login": "paul.roux", "name": "Paul Roux", "roles": ["agent"], "password": "onze-caract"}),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        body["error"],
        "le mot de passe doit compter au moins 12 caractères pour ce rôle"
    );
    let (status, body) = admin
        .json(
            Method::POST,
            "/api/v1/admin/users",
            json!({"login": "paul.roux", "name": "Paul Roux", "roles": ["admin"], "password": "treize-caract"}),
        )
        .await;
    assert_eq!(status, 422);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("au moins 14 caractères")
    );
    assert!(store.agent("paul.roux").await.unwrap().is_none());
    // The page form says it too.
    let page = http()
        .post(format!("{}/admin/utilisateurs", admin.base))
        .header(COOKIE, &admin.cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "csrf={}&login=paul.roux&name=Paul+Roux&roles=agent&password=court",
            admin.csrf
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 422);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("Compte non créé : le mot de passe doit compter au moins 12 caractères")
    );

    // A valid account is created, hashed with argon2, and can log in.
    let (status, _) = admin
        .json(
            Method::POST,
            "/api/v1/admin/users",
            json!({"login": "paul.roux", "name": "Paul Roux", "roles": ["agent"], "sip_extension": "1009", "password": "douze-caract"}),
        )
        .await;
    assert_eq!(status, 201);
    let paul = store.agent("paul.roux").await.unwrap().expect("created");
    assert!(paul.password_hash.unwrap().starts_with("$argon2id$"));
    assert_eq!(
        post_login(server, "paul.roux", "douze-caract")
            .await
            .status(),
        303
    );

    // Role change: the account reaches supervisor routes at once; journaled with before/after.
    let (status, body) = admin
        .json(
            Method::PUT,
            "/api/v1/admin/users/paul.roux",
            json!({"roles": ["agent", "supervisor"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["roles"], json!(["supervisor", "agent"]));
    let paul = Api::login(server, "paul.roux", "douze-caract").await;
    assert_eq!(paul.get("/api/v1/messages/library").await.0, 200);
    let journal = store
        .journal_between(
            chrono::Utc::now() - chrono::Duration::days(400),
            chrono::Utc::now() + chrono::Duration::days(400),
        )
        .await
        .unwrap();
    let change = journal
        .iter()
        .find(|e| {
            e.action == "agent.update" && e.subject == "agent:paul.roux" && e.actor == "admin"
        })
        .expect("role change journaled");
    assert!(change.old_value.as_deref().unwrap().contains("[agent]"));
    assert!(
        change
            .new_value
            .as_deref()
            .unwrap()
            .contains("[supervisor,agent]")
    );

    // An admin cannot remove their own admin role.
    let (status, body) = admin
        .json(
            Method::PUT,
            "/api/v1/admin/users/admin",
            json!({"roles": ["supervisor"]}),
        )
        .await;
    assert_eq!(status, 422);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("votre propre rôle")
    );

    // Lock-out: five failures lock the account, the admin unlocks it.
    for _ in 0..5 {
        assert_eq!(
            post_login(server, "paul.roux", "mauvais-mot-de-passe")
                .await
                .status(),
            401
        );
    }
    let users = admin.get("/api/v1/admin/users").await.1;
    let locked = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["login"] == "paul.roux")
        .unwrap();
    assert_eq!(locked["locked"], true);
    assert_ne!(
        post_login(server, "paul.roux", "douze-caract")
            .await
            .status(),
        303
    );
    let (status, body) = admin
        .json(
            Method::PUT,
            "/api/v1/admin/users/paul.roux",
            json!({"unlock": true}),
        )
        .await;
    assert_eq!((status, &body["locked"]), (200, &json!(false)));
    assert_eq!(
        post_login(server, "paul.roux", "douze-caract")
            .await
            .status(),
        303
    );

    // Disabled: the live session stops working and logging in is refused.
    let (status, _) = admin
        .json(
            Method::PUT,
            "/api/v1/admin/users/paul.roux",
            json!({"active": false}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(paul.get("/api/v1/session").await.0, 401);
    assert_ne!(
        post_login(server, "paul.roux", "douze-caract")
            .await
            .status(),
        303
    );
}

async fn check_directory(server: &Server, store: &Store) {
    use reqwest::Method;
    let admin = Api::login(server, "admin", ADMIN_PASSWORD).await;
    let csv = "id,last_name,first_name,entity,site,dependency,vip,phones,p0_windows\n\
               t.un,Un,Test,Entité A,Site A,,non,+33140150001,\n\
               t.deux,,Test,Entité A,Site A,,non,+33140150002,\n\
               t.trois,Trois,Test,Entité B,Site B,,oui,+33140150003|3003,\n\
               t.quatre,Quatre,Test,Entité B,Site B,,non,pas-un-numéro,\n\
               t.cinq,Cinq,Test,Entité C,Site C,,peut-être,+33140150005,\n\
               t.six,Six,Test,Entité C,Site C,,non,+33140150006,\n";
    let (status, job) = admin
        .send(
            Method::POST,
            "/api/v1/admin/directory/imports",
            csv.as_bytes().to_vec(),
        )
        .await;
    assert_eq!(status, 202, "{job}");
    assert_eq!(job["total"], 3);
    let id = job["id"].as_u64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let done = loop {
        let (_, j) = admin
            .get(&format!("/api/v1/admin/directory/imports/{id}"))
            .await;
        if j["status"] != "en_cours" {
            break j;
        }
        assert!(Instant::now() < deadline, "import did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(done["status"], "termine");
    assert_eq!(
        (done["done"].as_u64(), done["inserted"].as_u64()),
        (Some(3), Some(3))
    );
    let rejected: Vec<(u64, String)> = done["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        rejected,
        vec![
            (3, "nom (last_name) manquant".to_owned()),
            (
                5,
                "numéro de téléphone invalide « pas-un-numéro »".to_owned()
            ),
            (6, "valeur VIP invalide « peut-être »".to_owned()),
        ]
    );
    // A file without the required columns is refused as a whole.
    let (status, body) = admin
        .send(
            Method::POST,
            "/api/v1/admin/directory/imports",
            b"nom,prenom\nA,B\n".to_vec(),
        )
        .await;
    assert_eq!(status, 422);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("colonne « last_name » absente")
    );

    // VIP flag and P0 window: the next lookup (what the switchboard does per call) sees them.
    let now = chrono::Utc::now();
    let (_, found) = admin
        .get("/api/v1/admin/directory/people?q=Entité%20A")
        .await;
    let un = found
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["last_name"] == "Un")
        .expect("imported");
    let person = un["id"].as_i64().unwrap();
    assert_eq!(un["numbers"], json!(["+33140150001"]));
    let caller = store
        .lookup_caller("+33140150001", now)
        .await
        .unwrap()
        .unwrap();
    assert!(!caller.vip && !caller.p0_active);
    let (status, _) = admin
        .json(
            Method::PUT,
            &format!("/api/v1/admin/directory/people/{person}/vip"),
            json!({"vip": true}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, created) = admin
        .json(
            Method::POST,
            "/api/v1/admin/directory/p0-windows",
            json!({"person_id": person, "starts_at": (now - chrono::Duration::hours(1)).to_rfc3339(), "ends_at": (now + chrono::Duration::hours(1)).to_rfc3339()}),
        )
        .await;
    assert_eq!(status, 201);
    let caller = store
        .lookup_caller("01 40 15 00 01", now)
        .await
        .unwrap()
        .unwrap();
    assert!(caller.vip && caller.p0_active);
    let (_, vips) = admin.get("/api/v1/admin/directory/people?vip=true").await;
    assert!(vips.as_array().unwrap().iter().all(|p| p["vip"] == true));
    assert!(vips.as_array().unwrap().iter().any(|p| p["id"] == person));
    // A window that ends before it starts is refused in French; removing ends P0.
    let window = created["id"].as_i64().unwrap();
    let (status, body) = admin
        .json(
            Method::PUT,
            &format!("/api/v1/admin/directory/p0-windows/{window}"),
            json!({"starts_at": now.to_rfc3339(), "ends_at": (now - chrono::Duration::hours(2)).to_rfc3339()}),
        )
        .await;
    assert_eq!(status, 422);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("la fin de la période P0")
    );
    let (status, _) = admin
        .send(
            Method::DELETE,
            &format!("/api/v1/admin/directory/p0-windows/{window}"),
            vec![],
        )
        .await;
    assert_eq!(status, 204);
    assert!(
        !store
            .lookup_caller("+33140150001", now)
            .await
            .unwrap()
            .unwrap()
            .p0_active
    );
    let journal = store
        .journal_between(
            now - chrono::Duration::days(400),
            now + chrono::Duration::days(400),
        )
        .await
        .unwrap();
    for action in [
        "directory.import",
        "directory.vip",
        "directory.p0.add",
        "directory.p0.remove",
    ] {
        assert!(
            journal
                .iter()
                .any(|e| e.action == action && e.actor == "admin"),
            "{action}"
        );
    }
}

async fn check_messages(server: &Server) {
    use reqwest::Method;
    let sup = Api::login(server, "chloe.durand", DEMO_PASSWORD).await;

    // A file that is not a WAV is refused in French; a 44.1 kHz stereo WAV is converted to
    // 8 kHz mono; a valid one is kept as is and live at once.
    let (status, body) = sup
        .send(
            Method::PUT,
            "/api/v1/lines/8585/messages/crise/audio?text=Panne",
            b"ID3 pas du son".to_vec(),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(body["error"], "ce fichier n'est pas un fichier WAV");
    let (status, body) = sup
        .send(
            Method::PUT,
            "/api/v1/lines/8585/messages/crise/audio?text=Panne%20st%C3%A9r%C3%A9o",
            wav(44_100, 2),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let converted = http()
        .get(format!(
            "{}/superviseur/messages/8585/crise/ecoute",
            sup.base
        ))
        .header(COOKIE, &sup.cookie)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&converted[22..24], &1u16.to_le_bytes(), "mono");
    assert_eq!(&converted[24..28], &8000u32.to_le_bytes(), "8 kHz");
    let good = wav(8000, 1);
    let (status, body) = sup
        .send(
            Method::PUT,
            "/api/v1/lines/8585/messages/crise/audio?text=Panne%20WAV",
            good.clone(),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (_, active) = sup.get("/api/v1/lines/8585/messages/crise").await;
    assert_eq!(
        (&active["active"], &active["text"]),
        (&json!(true), &json!("Panne WAV"))
    );
    let audio = http()
        .get(format!(
            "{}/superviseur/messages/8585/crise/ecoute",
            sup.base
        ))
        .header(COOKIE, &sup.cookie)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(audio.as_ref(), good.as_slice());

    // A message starting in three seconds (server time) does not replace the live one before
    // its start, and is live after it; the switchboard picks it up.
    let (_, snapshot) = sup.get("/api/v1/snapshot").await;
    let server_now = chrono::DateTime::parse_from_rfc3339(snapshot["at"].as_str().unwrap())
        .unwrap()
        .to_utc();
    let starts = server_now + chrono::Duration::seconds(3);
    let (status, body) = sup
        .json(
            Method::POST,
            "/api/v1/lines/8585/messages/crise/scheduled",
            json!({"text": "Maintenance programmée de la messagerie.", "starts_at": starts.to_rfc3339(), "ends_at": (starts + chrono::Duration::hours(1)).to_rfc3339()}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (_, scheduled) = sup.get("/api/v1/messages/scheduled").await;
    assert_eq!(
        scheduled[0]["text"],
        "Maintenance programmée de la messagerie."
    );
    let (_, active) = sup.get("/api/v1/lines/8585/messages/crise").await;
    assert_eq!(active["text"], "Panne WAV", "not before its start");
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let (_, active) = sup.get("/api/v1/lines/8585/messages/crise").await;
    assert_eq!(active["text"], "Maintenance programmée de la messagerie.");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !server.log().contains("Maintenance") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let log = server.log();
    assert!(
        log.lines()
            .filter(|l| l.contains("stored message live"))
            .count()
            >= 2,
        "the switchboard did not pick the scheduled message up"
    );

    // The library: save, then re-activate in one click on another line and kind.
    let (status, saved) = sup
        .json(
            Method::POST,
            "/api/v1/messages/library",
            json!({"name": "Affluence", "text": "Nos conseillers sont très sollicités."}),
        )
        .await;
    assert_eq!(status, 201);
    let id = saved["id"].as_i64().unwrap();
    let (_, library) = sup.get("/api/v1/messages/library").await;
    assert!(
        library
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "Affluence")
    );
    let (status, body) = sup
        .json(
            Method::POST,
            &format!("/api/v1/messages/library/{id}/activate"),
            json!({"line": "8585", "kind": "dissuasion"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, active) = sup.get("/api/v1/lines/8585/messages/dissuasion").await;
    assert_eq!(
        (&active["active"], &active["text"]),
        (
            &json!(true),
            &json!("Nos conseillers sont très sollicités.")
        )
    );
    let (_, journal) = sup.get("/api/v1/journal").await;
    assert!(
        journal.to_string().contains("saved_message.save"),
        "{journal}"
    );
}

async fn check_prompts(server: &Server, run: &std::path::Path) {
    use reqwest::Method;
    let admin = Api::login(server, "admin", ADMIN_PASSWORD).await;
    let sup = Api::login(server, "chloe.durand", DEMO_PASSWORD).await;
    assert_eq!(sup.get("/api/v1/admin/prompts").await.0, 403);
    let (status, _) = sup
        .send(Method::PUT, "/api/v1/admin/prompts/au_revoir", wav(8000, 1))
        .await;
    assert_eq!(status, 403);

    let (_, list) = admin.get("/api/v1/admin/prompts").await;
    let au_revoir = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "au_revoir")
        .unwrap();
    assert_eq!(au_revoir["replaced"], false);
    let (status, body) = admin
        .send(
            Method::PUT,
            "/api/v1/admin/prompts/au_revoir",
            b"pas un wav".to_vec(),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("ce fichier n'est pas un fichier WAV"))
    );
    let (status, body) = admin
        .send(Method::PUT, "/api/v1/admin/prompts/..%2Fetc", wav(8000, 1))
        .await;
    assert_eq!(status, 422);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("annonce inconnue")
    );

    // Replaced: the file the switchboard looks for first is there, the page plays it back.
    let recording = wav(8000, 1);
    let (status, _) = admin
        .send(
            Method::PUT,
            "/api/v1/admin/prompts/au_revoir",
            recording.clone(),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        std::fs::read(run.join("guichet-prompts/au_revoir.wav")).unwrap(),
        recording
    );
    let (_, list) = admin.get("/api/v1/admin/prompts").await;
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == "au_revoir" && p["replaced"] == true)
    );
    let heard = http()
        .get(format!("{}/admin/annonces/au_revoir/ecoute", admin.base))
        .header(COOKIE, &admin.cookie)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(heard.as_ref(), recording.as_slice());

    // A long recording (3 minutes, beyond a 2 MB request body) is accepted.
    let mut long = wav(8000, 1);
    let extra = 3 * 60 * 16_000 - 3200;
    long.extend(std::iter::repeat_n(0u8, extra));
    let data_len = (long.len() - 44) as u32;
    long[4..8].copy_from_slice(&(data_len + 36).to_le_bytes());
    long[40..44].copy_from_slice(&data_len.to_le_bytes());
    let (status, body) = admin
        .send(Method::PUT, "/api/v1/admin/prompts/au_revoir", long.clone())
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        std::fs::read(run.join("guichet-prompts/au_revoir.wav"))
            .unwrap()
            .len(),
        long.len()
    );

    // Restored: the shipped recording again.
    let (status, _) = admin
        .send(Method::DELETE, "/api/v1/admin/prompts/au_revoir", vec![])
        .await;
    assert_eq!(status, 200);
    assert!(!run.join("guichet-prompts/au_revoir.wav").exists());
    let shipped = http()
        .get(format!(
            "{}/api/v1/admin/prompts/au_revoir/audio",
            admin.base
        ))
        .header(COOKIE, &admin.cookie)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_ne!(shipped.as_ref(), recording.as_slice());
    assert!(shipped.starts_with(b"RIFF"));
    let (_, journal) = admin.get("/api/v1/journal").await;
    let text = journal.to_string();
    assert!(
        text.contains("prompt.replace") && text.contains("prompt.restore"),
        "{text}"
    );
}

/// Whether the queue `name` is open in the live ACD picture.
async fn queue_open(api: &Api, name: &str) -> bool {
    let (_, snapshot) = api.get("/api/v1/snapshot").await;
    snapshot["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == name)
        .unwrap_or_else(|| panic!("no queue {name}: {snapshot}"))["open"]
        .as_bool()
        .unwrap()
}

async fn check_calendars(server: &Server, store: &Store) {
    use reqwest::Method;
    let admin = Api::login(server, "admin", ADMIN_PASSWORD).await;
    let sup = Api::login(server, "chloe.durand", DEMO_PASSWORD).await;
    for path in [
        "/api/v1/admin/calendars",
        "/api/v1/admin/sla-policies",
        "/admin/calendriers",
        "/admin/sla",
    ] {
        assert_eq!(sup.get(path).await.0, 403, "{path}");
    }
    // Agents' queues and skill levels, for supervisors (not for agents).
    let page = http()
        .get(format!("{}/superviseur/agents", sup.base))
        .header(COOKIE, &sup.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let text = page.text().await.unwrap();
    let amelie = text
        .split("<tr data-agent=\"amelie.martin\">")
        .nth(1)
        .and_then(|rest| rest.split("</tr>").next())
        .expect("amelie's row");
    assert!(amelie.contains("louvre-hotline (niveau 1)"), "{amelie}");
    let agent = Api::login(server, "amelie.martin", DEMO_PASSWORD).await;
    assert_eq!(agent.get("/superviseur/agents").await.0, 403);
    // A supervisor changes Amélie's queues live: a new queue at level 3, leaves another;
    // journaled with before/after. An agent may not.
    let (status, _) = agent
        .json(
            Method::PUT,
            "/api/v1/agents/amelie.martin/queues/culture-demandes",
            json!({"level": 1}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, body) = sup
        .json(
            Method::PUT,
            "/api/v1/agents/amelie.martin/queues/culture-demandes",
            json!({"level": 3}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = sup
        .json(
            Method::PUT,
            "/api/v1/agents/amelie.martin/queues/culture-incidents",
            json!({"level": null}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = sup
        .json(
            Method::PUT,
            "/api/v1/agents/amelie.martin/queues/pas-une-file",
            json!({"level": 1}),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("file inconnue : « pas-une-file »"))
    );
    let (_, snapshot) = sup.get("/api/v1/snapshot").await;
    let queues = &snapshot["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agent"] == "amelie.martin")
        .unwrap()["queues"];
    assert_eq!(
        queues,
        &json!([["louvre-hotline", 1], ["culture-demandes", 3]]),
        "{queues}"
    );
    let (_, journal) = sup.get("/api/v1/journal").await;
    let change = journal
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "agent.queue" && e["new_value"] == "culture-demandes : niveau 3")
        .expect("queue change journaled");
    assert_eq!(change["old_value"], "culture-demandes : absent");
    assert_eq!(change["actor"], "chloe.durand");
    let (_, calendars) = admin.get("/api/v1/admin/calendars").await;
    assert!(
        calendars["calendars"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "louvre"
                && c["configuration"].as_str().unwrap().contains("monday"))
    );
    let (_, sla) = admin.get("/api/v1/admin/sla-policies").await;
    assert!(
        sla.as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "louvre")
    );

    // The server runs on Tuesday 24 November 2026 at 10:00, Paris: the hotline is open. An
    // exceptional closure today closes its queue at once; removing it reopens it.
    assert!(queue_open(&admin, "louvre-hotline").await);
    let (status, body) = admin
        .json(
            Method::POST,
            "/api/v1/admin/calendars/louvre/exceptions",
            json!({"date": "2026-11-24", "hours": "9h-12h", "label": "Inventaire"}),
        )
        .await;
    assert_eq!(status, 422);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("plage horaire illisible"),
        "{body}"
    );
    let (status, body) = admin
        .json(
            Method::POST,
            "/api/v1/admin/calendars/louvre/exceptions",
            json!({"date": "2026-11-24", "label": "Fermeture exceptionnelle : inventaire"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_i64().unwrap();
    assert!(!queue_open(&admin, "louvre-hotline").await);
    assert!(
        queue_open(&admin, "culture-incidents").await,
        "another calendar is untouched"
    );
    let (status, _) = admin
        .send(
            Method::DELETE,
            &format!("/api/v1/admin/calendars/exceptions/{id}"),
            vec![],
        )
        .await;
    assert_eq!(status, 204);
    assert!(queue_open(&admin, "louvre-hotline").await);
    let (_, journal) = admin.get("/api/v1/journal").await;
    let text = journal.to_string();
    assert!(
        text.contains("calendar.exception.add") && text.contains("calendar.exception.remove"),
        "{text}"
    );
    check_settings(&admin, &sup, &agent, store).await;
}

/// SLA grids and weekly opening hours edited through the API: French errors naming the
/// field, applied at once, journaled; admins only.
async fn check_settings(admin: &Api, sup: &Api, agent: &Api, store: &Store) {
    use reqwest::Method;
    for api in [sup, agent] {
        assert_eq!(api.get("/api/v1/admin/calendars/hours").await.0, 403);
        let (status, _) = api
            .json(Method::PUT, "/api/v1/admin/sla-policies/louvre", json!({}))
            .await;
        assert_eq!(status, 403);
        let (status, _) = api
            .json(
                Method::PUT,
                "/api/v1/admin/calendars/louvre/hours",
                json!({}),
            )
            .await;
        assert_eq!(status, 403);
    }
    let (_, policies) = admin.get("/api/v1/admin/sla-policies").await;
    let louvre = policies
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "louvre")
        .expect("louvre policy");
    assert!(louvre["saved_by"].is_null(), "{louvre}");
    assert_eq!(
        louvre["lines"],
        json!(["8585 (Hotline informatique du Louvre)"]),
        "the lines that use the grid"
    );
    let mut grid = louvre["policy"].clone();
    assert_eq!(grid["targets"][1]["resolve"], "4h", "{grid}");
    grid["targets"][1]["resolve"] = json!("4 heures");
    let (status, body) = admin
        .json(
            Method::PUT,
            "/api/v1/admin/sla-policies/louvre",
            grid.clone(),
        )
        .await;
    assert_eq!(status, 422);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("Ligne 2, « Résolution » : durée « 4 heures » illisible"),
        "{body}"
    );
    grid["targets"][1]["resolve"] = json!("6h");
    grid["at_risk"] = json!(0.8);
    let (status, body) = admin
        .json(
            Method::PUT,
            "/api/v1/admin/sla-policies/louvre",
            grid.clone(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = admin
        .json(Method::PUT, "/api/v1/admin/sla-policies/inconnue", grid)
        .await;
    assert_eq!(status, 404);
    let (_, policies) = admin.get("/api/v1/admin/sla-policies").await;
    let louvre = policies
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "louvre")
        .expect("louvre policy");
    assert_eq!(louvre["policy"]["targets"][1]["resolve"], "6h");
    assert_eq!(louvre["saved_by"], "admin");
    // The running SLA runner took the new version: a ticket opened now runs under it.
    let (status, ticket) = agent
        .json(
            Method::POST,
            "/api/v1/tickets",
            json!({"nature": "incident", "title": "Écran noir", "requester_name": "Jean Dupont",
                   "urgency": "moyenne", "impact": "modere"}),
        )
        .await;
    assert_eq!(status, 201, "{ticket}");
    let id = ticket["id"].as_i64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let policy = loop {
        let line = store
            .ticket_audit(id)
            .await
            .unwrap()
            .into_iter()
            .find(|a| a.field == "sla_policy")
            .and_then(|a| a.new_value);
        if let Some(line) = line {
            break line;
        }
        assert!(Instant::now() < deadline, "no SLA clock for ticket {id}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(policy.starts_with("louvre@"), "{policy}");

    // Weekly hours: Tuesday 24 November 10:00 Paris; opening the Louvre line on Tuesday
    // afternoons only closes its queue at once, and the usual hours reopen it.
    let (_, calendars) = admin.get("/api/v1/admin/calendars/hours").await;
    let mut week = calendars
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "louvre")
        .expect("louvre hours")["value"]
        .clone();
    assert_eq!(week["tuesday"], json!(["09:00-18:00"]));
    week["tuesday"] = json!(["9h-18h"]);
    let (status, body) = admin
        .json(
            Method::PUT,
            "/api/v1/admin/calendars/louvre/hours",
            week.clone(),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (
            422,
            Some("Mardi : plage horaire illisible « 9h-18h » (attendu 08:00-12:00)")
        )
    );
    week["tuesday"] = json!(["14:00-18:00"]);
    let (status, body) = admin
        .json(
            Method::PUT,
            "/api/v1/admin/calendars/louvre/hours",
            week.clone(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(!queue_open(admin, "louvre-hotline").await);
    assert!(queue_open(admin, "culture-incidents").await);
    week["tuesday"] = json!(["08:00-18:00"]);
    let (status, _) = admin
        .json(Method::PUT, "/api/v1/admin/calendars/louvre/hours", week)
        .await;
    assert_eq!(status, 200);
    assert!(queue_open(admin, "louvre-hotline").await);
    let (_, journal) = admin.get("/api/v1/journal").await;
    let entries = journal.as_array().unwrap();
    let hours_change = entries
        .iter()
        .find(|e| {
            e["action"] == "settings.calendar_hours"
                && e["new_value"].as_str().unwrap().contains("14:00-18:00")
        })
        .expect("hours change journaled");
    assert!(
        hours_change["old_value"]
            .as_str()
            .unwrap()
            .contains("09:00-18:00")
    );
    assert!(entries.iter().any(|e| e["action"] == "settings.sla_policy"
        && e["subject"] == "sla_policy:louvre"
        && e["new_value"].as_str().unwrap().contains("6h")));

    // Another node on the same database (here, this test writing to it) closes the Culture
    // calendar today and moves Amélie: this node follows within a few seconds.
    let now = chrono::Utc::now();
    let closure = store
        .add_calendar_exception(
            &guichet_tickets::admin::NewCalendarException {
                calendar: "culture".to_owned(),
                date: chrono::NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(),
                until: None,
                hours: None,
                label: "Fermeture décidée sur un autre nœud".to_owned(),
            },
            "autre-noeud",
            now,
        )
        .await
        .unwrap();
    let level = |snapshot: &Value| {
        snapshot["agents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["agent"] == "amelie.martin")
            .unwrap()["queues"]
            .clone()
    };
    let moved = |l: u8| json!({"louvre-hotline": 1, "culture-demandes": l}).to_string();
    let journal = guichet_tickets::settings::SettingJournal {
        action: "agent.queue",
        subject: "agent:amelie.martin",
        before: None,
        after: None,
    };
    store
        .save_setting_journaled(
            guichet_tickets::settings::AGENT_QUEUES,
            "amelie.martin",
            &moved(2),
            &journal,
            "autre-noeud",
            now,
        )
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, snapshot) = admin.get("/api/v1/snapshot").await;
        let closed = !queue_open(admin, "culture-incidents").await;
        if closed && level(&snapshot) == json!([["louvre-hotline", 1], ["culture-demandes", 2]]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "another node's changes not followed: {}",
            level(&snapshot)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    store
        .remove_calendar_exception(closure, "autre-noeud", now)
        .await
        .unwrap();
    store
        .save_setting_journaled(
            guichet_tickets::settings::AGENT_QUEUES,
            "amelie.martin",
            &moved(3),
            &journal,
            "autre-noeud",
            now,
        )
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !queue_open(admin, "culture-incidents").await {
        assert!(
            Instant::now() < deadline,
            "the culture queue did not reopen"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
