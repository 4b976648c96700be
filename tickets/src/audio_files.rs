//! Audio files kept in the database (replaced prompts, uploaded messages), so that several
//! nodes on one PostgreSQL play the same audio: the database is the reference, each node's
//! directories a cache it refreshes (the binary's `audio_cache`).

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::store::{Store, StoreError, to_ms};

/// The stored name of a replaced prompt.
pub fn prompt_name(id: &str) -> String {
    format!("prompt/{id}.wav")
}

/// The stored name of an uploaded message file.
pub fn message_name(file_name: &str) -> String {
    format!("message/{file_name}")
}

impl Store {
    /// Stores (or replaces) the audio file `name`. Returns its new version.
    pub async fn put_audio(
        &self,
        name: &str,
        bytes: &[u8],
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "INSERT INTO audio_files (name, version, bytes, created_at) VALUES ($1, 1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET version = audio_files.version + 1, \
             bytes = excluded.bytes, created_at = excluded.created_at RETURNING version",
        )
        .bind(name)
        .bind(bytes.to_vec())
        .bind(to_ms(now))
        .fetch_one(&self.writer)
        .await?;
        Ok(row.try_get(0)?)
    }

    /// Removes the audio file `name`; false when there was none.
    pub async fn remove_audio(&self, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM audio_files WHERE name = $1")
            .bind(name)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The audio file `name`, if stored.
    pub async fn audio(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query("SELECT bytes FROM audio_files WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// Every stored audio file's name and version (no bytes), by name.
    pub async fn audio_index(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query("SELECT name, version FROM audio_files ORDER BY name")
            .fetch_all(&self.reader)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }
}
