//! The node's copy of the audio kept in the database (replaced prompts, uploaded messages):
//! the database is the reference, shared by every node on one PostgreSQL; the prompt override
//! directory and the messages directory are this node's cache of it, where the switchboard
//! reads. A pass writes what changed since the last one and removes the prompts restored
//! elsewhere (a restored prompt is kept in the database as an empty file, so that a node that
//! was down meanwhile still learns it).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use guichet_tickets::Store;
use guichet_tickets::audio_files::prompt_name;

/// How often a running node looks for audio changed by another node.
pub const REFRESH_EVERY: Duration = Duration::from_secs(2);

/// This node's audio directories and what it last wrote in them.
pub struct AudioCache {
    store: Store,
    prompts_dir: PathBuf,
    messages_dir: PathBuf,
    /// Stored name → version written (or found already there).
    known: HashMap<String, i64>,
}

impl AudioCache {
    pub fn new(store: Store, prompts_dir: PathBuf, messages_dir: PathBuf) -> AudioCache {
        AudioCache {
            store,
            prompts_dir,
            messages_dir,
            known: HashMap::new(),
        }
    }

    /// Where the stored file `name` lives on this node; `None` for a name that is not
    /// `prompt/<file>` or `message/<file>` with a plain file name.
    fn path_of(&self, name: &str) -> Option<PathBuf> {
        let (kind, file) = name.split_once('/')?;
        let plain = !file.is_empty()
            && !file.starts_with('.')
            && !file.contains(['/', '\\'])
            && file.ends_with(".wav");
        if !plain {
            return None;
        }
        match kind {
            "prompt" => Some(self.prompts_dir.join(file)),
            "message" => Some(self.messages_dir.join(file)),
            _ => None,
        }
    }

    /// Puts into the database the replaced prompts found in the override directory that it
    /// has never had (replacements made before the database kept audio, or placed by hand),
    /// so that every node plays them. Returns how many.
    pub async fn import_untracked_prompts(
        &self,
        ids: &[&str],
        now: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<usize> {
        let stored: HashSet<String> = self
            .store
            .audio_index()
            .await?
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        let mut imported = 0;
        for id in ids {
            let name = prompt_name(id);
            if stored.contains(&name) {
                continue;
            }
            let Ok(bytes) = tokio::fs::read(self.prompts_dir.join(format!("{id}.wav"))).await
            else {
                continue;
            };
            self.store.put_audio(&name, &bytes, now).await?;
            tracing::info!(
                prompt = id,
                "replaced prompt found on disk now kept in the database"
            );
            imported += 1;
        }
        Ok(imported)
    }

    /// One pass: writes every stored file this node does not have in its latest version, and
    /// removes the prompts restored since. Returns how many files were written or removed.
    pub async fn refresh(&mut self) -> anyhow::Result<usize> {
        let index = self.store.audio_index().await?;
        let mut changed = 0;
        for (name, version) in index {
            if self.known.get(&name) == Some(&version) {
                continue;
            }
            let Some(path) = self.path_of(&name) else {
                tracing::warn!(%name, "stored audio with an unusable name skipped");
                self.known.insert(name, version);
                continue;
            };
            let Some(bytes) = self.store.audio(&name).await? else {
                continue;
            };
            let on_disk = tokio::fs::read(&path).await.ok();
            if bytes.is_empty() {
                if on_disk.is_some() {
                    tokio::fs::remove_file(&path).await?;
                    changed += 1;
                }
            } else if on_disk.as_deref() != Some(&bytes[..]) {
                write_atomically(&path, &bytes).await?;
                changed += 1;
            }
            self.known.insert(name, version);
        }
        if changed > 0 {
            tracing::debug!(changed, "audio cache refreshed from the database");
        }
        Ok(changed)
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename, so that a caller never
/// hears half a file.
async fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let partial = path.with_file_name(format!(".{file_name}.partiel"));
    tokio::fs::write(&partial, bytes).await?;
    tokio::fs::rename(&partial, path).await
}

/// Refreshes the cache every [`REFRESH_EVERY`] until the process stops.
pub async fn run(mut cache: AudioCache) {
    loop {
        tokio::time::sleep(REFRESH_EVERY).await;
        if let Err(e) = cache.refresh().await {
            tracing::warn!(error = %e, "audio cache not refreshed; retrying");
        }
    }
}

/// Puts a message file this node wrote (a synthesised typed message) into the database, so
/// that the other nodes' caches get it; a failure is logged, the message still plays here.
pub async fn store_message_file(store: &Store, file: &Path, now: chrono::DateTime<chrono::Utc>) {
    let Some(file_name) = file.file_name().and_then(|n| n.to_str()) else {
        return;
    };
    let stored = match tokio::fs::read(file).await {
        Ok(bytes) => store
            .put_audio(
                &guichet_tickets::audio_files::message_name(file_name),
                &bytes,
                now,
            )
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = stored {
        tracing::warn!(file = file_name, error = %e, "message audio not kept in the database");
    }
}
