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
    /// Decoded audio by file, with the file's modification time and length when read: an
    /// administrator may replace a recording in the override directory while the server runs.
    cache: HashMap<PathBuf, (Option<std::time::SystemTime>, u64, Audio)>,
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
        let meta = std::fs::metadata(&path).ok();
        let stamp = (
            meta.as_ref().and_then(|m| m.modified().ok()),
            meta.as_ref().map_or(0, |m| m.len()),
        );
        if let Some((modified, len, audio)) = self.cache.get(&path)
            && (*modified, *len) == stamp
        {
            return Ok(audio.clone());
        }
        let audio = read(&path)?;
        self.cache.insert(path, (stamp.0, stamp.1, audio.clone()));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes an 8 kHz mono 16-bit PCM WAV file.
    fn write_wav(path: &Path, samples: &[i16]) {
        let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        let mut v = b"RIFF".to_vec();
        v.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
        v.extend_from_slice(b"WAVEfmt ");
        v.extend_from_slice(&16u32.to_le_bytes());
        v.extend_from_slice(&1u16.to_le_bytes());
        v.extend_from_slice(&1u16.to_le_bytes());
        v.extend_from_slice(&8000u32.to_le_bytes());
        v.extend_from_slice(&16000u32.to_le_bytes());
        v.extend_from_slice(&2u16.to_le_bytes());
        v.extend_from_slice(&16u16.to_le_bytes());
        v.extend_from_slice(b"data");
        v.extend_from_slice(&(data.len() as u32).to_le_bytes());
        v.extend_from_slice(&data);
        std::fs::write(path, v).unwrap();
    }

    #[test]
    fn a_recording_replaced_while_running_is_played_and_restoring_brings_the_shipped_one_back() {
        let dir = tempfile::tempdir().unwrap();
        let (shipped, overrides) = (dir.path().join("fr"), dir.path().join("override"));
        std::fs::create_dir_all(&shipped).unwrap();
        std::fs::create_dir_all(&overrides).unwrap();
        write_wav(&shipped.join("au_revoir.wav"), &[1; 80]);
        let catalogue =
            PromptCatalogue::from_toml_str("[prompts]\nau_revoir = \"Au revoir.\"\n").unwrap();
        let mut library = PromptLibrary::new(catalogue, shipped, Some(overrides.clone()));
        assert_eq!(library.prompt("au_revoir").unwrap().samples(), &[1; 80]);
        write_wav(&overrides.join("au_revoir.wav"), &[2; 160]);
        assert_eq!(library.prompt("au_revoir").unwrap().samples(), &[2; 160]);
        // Replaced again (same path): the cache notices the new file.
        write_wav(&overrides.join("au_revoir.wav"), &[3; 240]);
        assert_eq!(library.prompt("au_revoir").unwrap().samples(), &[3; 240]);
        std::fs::remove_file(overrides.join("au_revoir.wav")).unwrap();
        assert_eq!(library.prompt("au_revoir").unwrap().samples(), &[1; 80]);
    }
}
