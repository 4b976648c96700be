//! `guichet message`: a supervisor sets or removes a line's crisis or deterrence message from
//! the command line. The text is synthesised here (espeak-ng, sox) and saved in the store,
//! journaled; running servers pick the change up from the store within a second, so it also
//! reaches every node sharing a PostgreSQL database.

use anyhow::Context as _;
use guichet_tickets::Store;
use guichet_tickets::admin::{MessageKind, NewMessage};

use crate::config::{LoadedConfig, Role};

/// Which message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// Message de crise: heard first by every caller of the line.
    Crise,
    /// Message de dissuasion: heard before queueing.
    Dissuasion,
}

/// What to do.
#[derive(Debug, Clone)]
pub struct Request {
    pub line: String,
    pub kind: Kind,
    /// The new text, or `None` to remove the message.
    pub text: Option<String>,
    /// Login of the supervisor or admin.
    pub author: String,
}

/// Carries out the request and returns what to tell the user (in French).
pub async fn run(
    loaded: &LoadedConfig,
    database: Option<String>,
    request: Request,
) -> anyhow::Result<String> {
    let config = &loaded.config;
    anyhow::ensure!(
        config.lines.iter().any(|l| l.number == request.line),
        "ligne inconnue : {} (lignes : {})",
        request.line,
        config
            .lines
            .iter()
            .map(|l| l.number.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let author = config
        .agents
        .iter()
        .find(|a| a.login == request.author)
        .with_context(|| format!("compte inconnu : {}", request.author))?;
    anyhow::ensure!(
        author.roles.contains(&Role::Supervisor) || author.roles.contains(&Role::Admin),
        "{} n'est ni superviseur ni administrateur : seuls eux modifient les messages (CULTURE 853-855)",
        author.login
    );
    let url = database.unwrap_or_else(|| config.database.url.clone());
    let store = Store::open(&url).await?;
    let kind = match request.kind {
        Kind::Crise => MessageKind::Crisis,
        Kind::Dissuasion => MessageKind::Deterrence,
    };
    let now = chrono::Utc::now();
    let Some(text) = request.text else {
        let n = store
            .deactivate_messages(&request.line, kind, &author.login, now)
            .await?;
        store.close().await;
        return Ok(if n > 0 {
            format!("Message retiré de la ligne {}.", request.line)
        } else {
            format!("Aucun message actif sur la ligne {}.", request.line)
        });
    };
    let dir = loaded
        .resolve(std::path::Path::new("guichet-messages"))
        .canonicalize()
        .or_else(|_| {
            let d = loaded.resolve(std::path::Path::new("guichet-messages"));
            std::fs::create_dir_all(&d)?;
            d.canonicalize()
        })
        .context("cannot create the messages directory")?;
    let file = dir.join(format!(
        "{}-{}-{}.wav",
        request.line,
        match request.kind {
            Kind::Crise => "crise",
            Kind::Dissuasion => "dissuasion",
        },
        now.timestamp_millis()
    ));
    let options = config.tts.clone();
    let (text_for_tts, out) = (text.clone(), file.clone());
    tokio::task::spawn_blocking(move || {
        guichet_ivr::tts::synthesize(&text_for_tts, &out, &options)
    })
    .await?
    .map_err(|e| {
        anyhow::anyhow!(
            "synthèse impossible, l'ancien message reste actif : {}",
            e.french()
        )
    })?;
    crate::audio_cache::store_message_file(&store, &file, now).await;
    let saved = store
        .save_message(
            &NewMessage {
                line: request.line.clone(),
                kind,
                text,
                audio_path: Some(file.display().to_string()),
                starts_at: None,
                ends_at: None,
                active: true,
            },
            &author.login,
            now,
        )
        .await?;
    store.close().await;
    Ok(format!(
        "Message enregistré (version {}) sur la ligne {} : il sera diffusé au prochain appelant.",
        saved.version, request.line
    ))
}
