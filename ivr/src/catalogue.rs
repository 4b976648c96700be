//! The prompt catalogue: every prompt id Guichet may play, with its French text.
//!
//! The shipped catalogue is `sounds/fr/prompts.toml`: a single `[prompts]` table of
//! `id = "texte"` lines, one per prompt, which `sounds/fr/generate.sh` turns into
//! `sounds/fr/<id>.wav`. An administrator may replace any prompt by a recorded WAV of the
//! same id in an override directory (see [`PromptCatalogue::resolve_wav`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Why a catalogue could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogueError {
    /// The catalogue file could not be read.
    #[error("cannot read prompt catalogue {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The catalogue is not valid TOML of the expected shape.
    #[error("invalid prompt catalogue: {0}")]
    Parse(#[from] toml::de::Error),
    /// A prompt id is not made of lowercase ASCII letters, digits and underscores.
    #[error("prompt id `{0}` must be made of a-z, 0-9 and _")]
    BadId(String),
    /// A prompt has an empty text.
    #[error("prompt `{0}` has an empty text")]
    EmptyText(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    prompts: BTreeMap<String, String>,
}

/// Prompt ids and their French texts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PromptCatalogue {
    prompts: BTreeMap<String, String>,
}

/// Whether `id` is a valid prompt id (lowercase ASCII letters, digits, underscores); the id is
/// also the WAV file's stem, so this keeps it a safe file name.
pub fn is_valid_prompt_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl PromptCatalogue {
    /// Parses the catalogue text (`[prompts]` table of `id = "texte"`).
    pub fn from_toml_str(text: &str) -> Result<Self, CatalogueError> {
        let file: CatalogueFile = toml::from_str(text)?;
        let mut catalogue = PromptCatalogue::default();
        for (id, text) in file.prompts {
            catalogue.insert(id, text)?;
        }
        Ok(catalogue)
    }

    /// Reads and parses a catalogue file.
    pub fn load(path: &Path) -> Result<Self, CatalogueError> {
        let text = std::fs::read_to_string(path).map_err(|source| CatalogueError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml_str(&text)
    }

    /// Adds (or replaces) one prompt.
    pub fn insert(&mut self, id: String, text: String) -> Result<(), CatalogueError> {
        if !is_valid_prompt_id(&id) {
            return Err(CatalogueError::BadId(id));
        }
        if text.trim().is_empty() {
            return Err(CatalogueError::EmptyText(id));
        }
        self.prompts.insert(id, text);
        Ok(())
    }

    /// Whether the catalogue has this prompt.
    pub fn contains(&self, id: &str) -> bool {
        self.prompts.contains_key(id)
    }

    /// The French text of a prompt.
    pub fn text(&self, id: &str) -> Option<&str> {
        self.prompts.get(id).map(String::as_str)
    }

    /// All prompts, sorted by id.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.prompts.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of prompts.
    pub fn len(&self) -> usize {
        self.prompts.len()
    }

    /// Whether the catalogue is empty.
    pub fn is_empty(&self) -> bool {
        self.prompts.is_empty()
    }

    /// The WAV file to play for `id`: `<override_dir>/<id>.wav` when an administrator has put
    /// a recording there, else `<shipped_dir>/<id>.wav`. `None` for an unknown or unsafe id.
    pub fn resolve_wav(
        &self,
        id: &str,
        override_dir: Option<&Path>,
        shipped_dir: &Path,
    ) -> Option<PathBuf> {
        if !self.contains(id) || !is_valid_prompt_id(id) {
            return None;
        }
        let file = format!("{id}.wav");
        if let Some(dir) = override_dir {
            let candidate = dir.join(&file);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
        Some(shipped_dir.join(file))
    }
}
