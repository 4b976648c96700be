//! Turning the IVR's prompt ids and message files into audio the media room plays, with a
//! cache of decoded prompts, and the music on hold.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use guichet_ivr::{PlayItem, PromptCatalogue};
use guichet_media::Audio;

/// Decoded prompts, by file.
pub struct PromptLibrary {
    catalogue: PromptCatalogue,
    shipped_dir: PathBuf,
    override_dir: Option<PathBuf>,
    cache: HashMap<PathBuf, Audio>,
    music_on_hold: Audio,
}

/// Why an item could not be turned into audio.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("prompt `{0}` is not in the catalogue")]
    Unknown(String),
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
}

impl PromptLibrary {
    pub fn new(
        catalogue: PromptCatalogue,
        shipped_dir: PathBuf,
        override_dir: Option<PathBuf>,
    ) -> Self {
        Self {
            catalogue,
            shipped_dir,
            override_dir,
            cache: HashMap::new(),
            music_on_hold: hold_music(),
        }
    }

    /// The audio of a catalogue prompt (an administrator's recording wins over the shipped one).
    pub fn prompt(&mut self, id: &str) -> Result<Audio, PromptError> {
        let path = self
            .catalogue
            .resolve_wav(id, self.override_dir.as_deref(), &self.shipped_dir)
            .ok_or_else(|| PromptError::Unknown(id.to_owned()))?;
        if let Some(audio) = self.cache.get(&path) {
            return Ok(audio.clone());
        }
        let audio = read(&path)?;
        self.cache.insert(path, audio.clone());
        Ok(audio)
    }

    /// The audio of an IVR play item. Message files (synthesised crisis and deterrence
    /// messages) are read afresh each time, since a supervisor may have replaced them.
    pub fn item(&mut self, item: &PlayItem) -> Result<Audio, PromptError> {
        match item {
            PlayItem::Prompt(id) => self.prompt(id),
            PlayItem::File(path) => read(path),
        }
    }

    pub fn music_on_hold(&self) -> Audio {
        self.music_on_hold.clone()
    }
}

fn read(path: &Path) -> Result<Audio, PromptError> {
    Audio::from_wav(path).map_err(|e| PromptError::Read {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// A calm, quiet, eight-note arpeggio (C major, 2 notes per second, soft attack and decay),
/// made here rather than shipped, so Guichet carries no third-party recording. Public so the
/// end-to-end tests can recognise it in what a queued caller receives.
pub fn hold_music() -> Audio {
    const RATE: f64 = 8000.0;
    const NOTES: [f64; 8] = [
        261.63, 329.63, 392.00, 523.25, 392.00, 329.63, 293.66, 349.23,
    ];
    let note_len = 4000usize;
    let mut samples = Vec::with_capacity(note_len * NOTES.len());
    for freq in NOTES {
        for n in 0..note_len {
            let t = n as f64 / RATE;
            let attack = (n as f64 / 400.0).min(1.0);
            let decay = (-(t * 3.0)).exp();
            let tone = (2.0 * std::f64::consts::PI * freq * t).sin()
                + 0.3 * (4.0 * std::f64::consts::PI * freq * t).sin();
            samples.push((tone * attack * decay * 3000.0) as i16);
        }
    }
    Audio::from_samples(samples)
}
