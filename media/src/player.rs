//! Audio to play (WAV files, in-memory samples) and the sans-IO playlist
//! cursor that cuts it into 20 ms frames.

use crate::g711::SAMPLES_PER_FRAME;
use std::path::Path;
use std::sync::Arc;
use thiserror::Error;

/// Why a WAV file cannot be used as a prompt.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AudioError {
    /// The file could not be opened or decoded.
    #[error("cannot read WAV file {path}: {source}")]
    Wav {
        /// The file.
        path: String,
        /// What `hound` reported.
        source: hound::Error,
    },
    /// Not 8 kHz, mono, 16-bit integer PCM.
    #[error(
        "{path}: expected 8000 Hz mono 16-bit PCM, found {rate} Hz, {channels} channel(s), {bits}-bit"
    )]
    Format {
        /// The file.
        path: String,
        /// Its sample rate.
        rate: u32,
        /// Its channel count.
        channels: u16,
        /// Its sample size.
        bits: u16,
    },
}

/// Immutable 8 kHz mono audio, cheap to clone (shared).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audio(Arc<[i16]>);

impl Audio {
    /// Wraps in-memory 8 kHz samples.
    pub fn from_samples(samples: Vec<i16>) -> Self {
        Audio(samples.into())
    }

    /// Loads an 8 kHz mono 16-bit PCM WAV file.
    pub fn from_wav(path: &Path) -> Result<Self, AudioError> {
        let name = path.display().to_string();
        let wav_err = |source| AudioError::Wav {
            path: name.clone(),
            source,
        };
        let reader = hound::WavReader::open(path).map_err(wav_err)?;
        let spec = reader.spec();
        if spec.sample_rate != 8000
            || spec.channels != 1
            || spec.bits_per_sample != 16
            || spec.sample_format != hound::SampleFormat::Int
        {
            return Err(AudioError::Format {
                path: name,
                rate: spec.sample_rate,
                channels: spec.channels,
                bits: spec.bits_per_sample,
            });
        }
        let samples = reader
            .into_samples::<i16>()
            .collect::<Result<Vec<_>, _>>()
            .map_err(wav_err)?;
        Ok(Audio::from_samples(samples))
    }

    /// The samples.
    pub fn samples(&self) -> &[i16] {
        &self.0
    }

    /// Duration in milliseconds.
    pub fn duration_ms(&self) -> u64 {
        self.0.len() as u64 / 8
    }
}

/// What to play: prompts in order, optionally looping (music on hold), and
/// whether a DTMF digit interrupts it (barge-in).
#[derive(Debug, Clone, Default)]
pub struct Playlist {
    /// Played one after the other without a gap.
    pub items: Vec<Audio>,
    /// Start again from the first item after the last (until stopped).
    pub looped: bool,
    /// A received digit stops the playback.
    pub barge_in: bool,
}

/// Position in a playlist; yields 20 ms frames.
#[derive(Debug, Clone)]
pub struct PlaylistCursor {
    playlist: Playlist,
    item: usize,
    offset: usize,
}

impl PlaylistCursor {
    /// Starts at the beginning of `playlist`.
    pub fn new(playlist: Playlist) -> Self {
        PlaylistCursor {
            playlist,
            item: 0,
            offset: 0,
        }
    }

    /// Whether a digit interrupts this playback.
    pub fn barge_in(&self) -> bool {
        self.playlist.barge_in
    }

    /// Fills the next frame (items are concatenated; the last frame of a
    /// non-looping playlist is padded with silence). `None` when finished.
    pub fn next_frame(&mut self) -> Option<[i16; SAMPLES_PER_FRAME]> {
        let total: usize = self.playlist.items.iter().map(|a| a.0.len()).sum();
        if total == 0 {
            return None;
        }
        let mut frame = [0i16; SAMPLES_PER_FRAME];
        let mut filled = 0;
        while filled < SAMPLES_PER_FRAME {
            if self.item >= self.playlist.items.len() {
                if self.playlist.looped {
                    self.item = 0;
                    self.offset = 0;
                } else {
                    break;
                }
            }
            let src = &self.playlist.items[self.item].0;
            let n = (src.len() - self.offset).min(SAMPLES_PER_FRAME - filled);
            frame[filled..filled + n].copy_from_slice(&src[self.offset..self.offset + n]);
            filled += n;
            self.offset += n;
            if self.offset >= src.len() {
                self.item += 1;
                self.offset = 0;
            }
        }
        (filled > 0).then_some(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concatenates_pads_and_finishes() {
        let a = Audio::from_samples((1..=100).collect());
        let b = Audio::from_samples((101..=200).collect());
        let mut c = PlaylistCursor::new(Playlist {
            items: vec![a, b],
            ..Default::default()
        });
        let f1 = c.next_frame().unwrap();
        assert_eq!(f1[0], 1);
        assert_eq!(f1[159], 160);
        let f2 = c.next_frame().unwrap();
        assert_eq!(f2[39], 200);
        assert_eq!(f2[40], 0, "padded with silence");
        assert!(c.next_frame().is_none());
    }

    #[test]
    fn loops_forever() {
        let a = Audio::from_samples(vec![5; 50]);
        let mut c = PlaylistCursor::new(Playlist {
            items: vec![a],
            looped: true,
            barge_in: true,
        });
        for _ in 0..100 {
            assert_eq!(c.next_frame().unwrap(), [5; 160]);
        }
        assert!(c.barge_in());
        let mut empty = PlaylistCursor::new(Playlist::default());
        assert!(empty.next_frame().is_none());
    }

    #[test]
    fn wav_round_trip_and_format_check() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("ok.wav");
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&good, spec).unwrap();
        for s in [1i16, -2, 3] {
            w.write_sample(s).unwrap();
        }
        w.finalize().unwrap();
        assert_eq!(Audio::from_wav(&good).unwrap().samples(), &[1, -2, 3]);
        let bad = dir.path().join("bad.wav");
        let mut w = hound::WavWriter::create(
            &bad,
            hound::WavSpec {
                sample_rate: 16000,
                ..spec
            },
        )
        .unwrap();
        w.write_sample(0i16).unwrap();
        w.finalize().unwrap();
        let err = Audio::from_wav(&bad).unwrap_err();
        assert!(err.to_string().contains("16000 Hz"), "{err}");
        assert!(Audio::from_wav(&dir.path().join("missing.wav")).is_err());
    }
}
