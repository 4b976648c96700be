//! WAV checks shared by the synthesis module and the prompt tests: format and loudness.

use std::path::Path;

/// Format and level figures of a WAV file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WavStats {
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Channels.
    pub channels: u16,
    /// Bits per sample.
    pub bits_per_sample: u16,
    /// Whether samples are integers (PCM).
    pub integer_pcm: bool,
    /// Number of samples per channel.
    pub frames: u32,
    /// Root-mean-square level relative to full scale (0.0 to 1.0).
    pub rms: f64,
    /// Highest absolute sample relative to full scale (0.0 to 1.0).
    pub peak: f64,
    /// Samples at full scale (clipped).
    pub clipped_samples: u32,
}

/// RMS under which a prompt counts as silent (about -50 dBFS).
pub const SILENCE_RMS: f64 = 0.003;

impl WavStats {
    /// Reads a 16-bit PCM WAV and measures it.
    pub fn read(path: &Path) -> Result<Self, hound::Error> {
        let mut reader = hound::WavReader::open(path)?;
        let spec = reader.spec();
        let integer_pcm = spec.sample_format == hound::SampleFormat::Int;
        let mut sum_squares = 0.0_f64;
        let mut peak = 0_i32;
        let mut count = 0_u64;
        let mut clipped_samples = 0_u32;
        if integer_pcm && spec.bits_per_sample == 16 {
            for sample in reader.samples::<i16>() {
                let s = i32::from(sample?);
                sum_squares += f64::from(s) * f64::from(s);
                peak = peak.max(s.abs());
                if s >= i32::from(i16::MAX) || s <= i32::from(i16::MIN) {
                    clipped_samples += 1;
                }
                count += 1;
            }
        }
        let full_scale = 32768.0;
        let rms = if count == 0 {
            0.0
        } else {
            (sum_squares / count as f64).sqrt() / full_scale
        };
        Ok(Self {
            sample_rate: spec.sample_rate,
            channels: spec.channels,
            bits_per_sample: spec.bits_per_sample,
            integer_pcm,
            frames: reader.duration(),
            rms,
            peak: f64::from(peak) / full_scale,
            clipped_samples,
        })
    }

    /// Whether this is 8 kHz, mono, 16-bit integer PCM (what the media layer plays).
    pub fn is_telephony_format(&self) -> bool {
        self.sample_rate == 8_000
            && self.channels == 1
            && self.bits_per_sample == 16
            && self.integer_pcm
    }

    /// Whether the level is below [`SILENCE_RMS`].
    pub fn is_silent(&self) -> bool {
        self.rms < SILENCE_RMS
    }

    /// Duration in milliseconds.
    pub fn duration_ms(&self) -> u64 {
        if self.sample_rate == 0 {
            0
        } else {
            u64::from(self.frames) * 1_000 / u64::from(self.sample_rate)
        }
    }
}
