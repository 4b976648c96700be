//! Text-to-speech for the messages supervisors type: espeak-ng's French voice, then sox to
//! 8 kHz mono 16-bit, normalised, silences trimmed.
//!
//! This module does I/O (subprocesses, files) and is kept apart from the sans-IO engine: the
//! switchboard calls [`synthesize`] off its event loop (e.g. in `spawn_blocking`) and, on
//! success, sets the message with [`crate::MessageAudio::File`]. On failure it keeps the
//! previous message and shows the error (in French through [`TtsError::french`]).
//! The text never goes through a shell: it is written to espeak-ng's standard input.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;

/// Longest text accepted, in characters (a typed message, not a book).
pub const MAX_TEXT_CHARS: usize = 2_000;

/// Settings of the synthesis (the `[tts]` section of the configuration).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TtsOptions {
    /// espeak-ng executable (`espeak-ng`, looked up on the PATH, by default).
    pub espeak: PathBuf,
    /// sox executable (`sox` by default).
    pub sox: PathBuf,
    /// espeak-ng voice (`fr` by default; `fr-be`, `fr-ch` also ship with espeak-ng).
    pub voice: String,
    /// Speaking rate in words per minute (150 by default, from 80 to 450).
    pub words_per_minute: u32,
    /// Time limit of each subprocess, in milliseconds (10000 by default).
    pub timeout_ms: u64,
}

impl Default for TtsOptions {
    fn default() -> Self {
        Self {
            espeak: PathBuf::from("espeak-ng"),
            sox: PathBuf::from("sox"),
            voice: "fr".to_owned(),
            words_per_minute: 150,
            timeout_ms: 10_000,
        }
    }
}

/// A [`TtsOptions`] field is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
#[error("tts setting `{field}`: {reason}")]
pub struct TtsConfigError {
    /// The field name.
    pub field: &'static str,
    /// What is wrong.
    pub reason: &'static str,
}

impl TtsOptions {
    /// Checks the settings; the error names the offending field.
    pub fn validate(&self) -> Result<(), TtsConfigError> {
        let voice_ok = !self.voice.is_empty()
            && !self.voice.starts_with('-')
            && self
                .voice
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '/'));
        if !voice_ok {
            return Err(TtsConfigError {
                field: "voice",
                reason: "must be an espeak-ng voice name such as `fr`",
            });
        }
        if !(80..=450).contains(&self.words_per_minute) {
            return Err(TtsConfigError {
                field: "words_per_minute",
                reason: "must be between 80 and 450",
            });
        }
        if self.timeout_ms == 0 {
            return Err(TtsConfigError {
                field: "timeout_ms",
                reason: "must be greater than zero",
            });
        }
        Ok(())
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// Why synthesis failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TtsError {
    /// Nothing to say.
    #[error("the text is empty")]
    EmptyText,
    /// Too long.
    #[error("the text has {chars} characters, more than the {max} allowed")]
    TextTooLong {
        /// Characters given.
        chars: usize,
        /// Limit.
        max: usize,
    },
    /// A tool could not be started (not installed?).
    #[error("cannot run {tool}: {source}")]
    Spawn {
        /// Tool name.
        tool: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// A tool ran past the time limit and was killed.
    #[error("{tool} did not finish within {timeout:?}")]
    Timeout {
        /// Tool name.
        tool: String,
        /// Limit.
        timeout: Duration,
    },
    /// A tool failed.
    #[error("{tool} failed ({status}): {stderr}")]
    Failed {
        /// Tool name.
        tool: String,
        /// Exit status.
        status: ExitStatus,
        /// What it said.
        stderr: String,
    },
    /// The settings are wrong.
    #[error(transparent)]
    Config(#[from] TtsConfigError),
    /// File handling failed.
    #[error("file error on {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The result is not the expected WAV, or is silent.
    #[error("synthesised audio is unusable: {0}")]
    BadOutput(String),
}

impl TtsError {
    /// A French explanation for the supervisor's screen.
    pub fn french(&self) -> String {
        match self {
            TtsError::EmptyText => "Le texte du message est vide.".to_owned(),
            TtsError::TextTooLong { max, .. } => {
                format!("Le texte est trop long (au plus {max} caractères).")
            }
            TtsError::Spawn { tool, .. } => format!(
                "La synthèse vocale est indisponible ({tool} introuvable). Le message précédent reste actif."
            ),
            TtsError::Timeout { .. } => {
                "La synthèse vocale a pris trop de temps. Le message précédent reste actif."
                    .to_owned()
            }
            TtsError::Config(_)
            | TtsError::Failed { .. }
            | TtsError::Io { .. }
            | TtsError::BadOutput(_) => {
                "La synthèse vocale a échoué. Le message précédent reste actif.".to_owned()
            }
        }
    }
}

/// Removes control characters (they could change espeak-ng's behaviour) and checks length.
fn clean_text(text: &str) -> Result<String, TtsError> {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let cleaned = cleaned.trim().to_owned();
    if cleaned.is_empty() {
        return Err(TtsError::EmptyText);
    }
    let chars = cleaned.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(TtsError::TextTooLong {
            chars,
            max: MAX_TEXT_CHARS,
        });
    }
    Ok(cleaned)
}

fn tool_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Waits for `child` up to `timeout`, killing it past that; returns its status and stderr.
fn wait_with_timeout(
    mut child: Child,
    tool: &str,
    timeout: Duration,
) -> Result<(ExitStatus, String), TtsError> {
    let deadline = Instant::now() + timeout;
    let mut stderr_pipe = child.stderr.take();
    // Drain stderr on a thread so a chatty tool cannot block on a full pipe.
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(pipe) = stderr_pipe.as_mut() {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    });
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let stderr = reader.join().unwrap_or_default();
                return Ok((status, stderr));
            }
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(TtsError::Timeout {
                    tool: tool.to_owned(),
                    timeout,
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(source) => {
                let _ = child.kill();
                return Err(TtsError::Spawn {
                    tool: tool.to_owned(),
                    source,
                });
            }
        }
    }
}

fn run(
    mut command: Command,
    tool: &str,
    stdin: Option<&str>,
    timeout: Duration,
) -> Result<(), TtsError> {
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|source| TtsError::Spawn {
        tool: tool.to_owned(),
        source,
    })?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // Closing the pipe (drop) tells espeak-ng the text is complete.
        if let Err(source) = pipe.write_all(text.as_bytes()) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(TtsError::Io {
                path: PathBuf::from("<stdin>"),
                source,
            });
        }
    }
    let (status, stderr) = wait_with_timeout(child, tool, timeout)?;
    if status.success() {
        Ok(())
    } else {
        Err(TtsError::Failed {
            tool: tool.to_owned(),
            status,
            stderr: stderr.trim().to_owned(),
        })
    }
}

/// The sox effect chain shared with `sounds/fr/generate.sh`: resample to 8 kHz, trim leading
/// and trailing silence, then normalise to -1 dBFS (so no sample clips).
pub const SOX_EFFECTS: [&str; 15] = [
    "rate", "-h", "8000", "silence", "1", "0.02", "0.5%", "reverse", "silence", "1", "0.02",
    "0.5%", "reverse", "norm", "-1",
];

/// Synthesises `text` in French to `output` (8 kHz, mono, 16-bit PCM WAV). The file is
/// written next to `output` then renamed into place, so a reader never sees half a file and
/// a failure leaves any previous file untouched.
pub fn synthesize(text: &str, output: &Path, options: &TtsOptions) -> Result<(), TtsError> {
    options.validate()?;
    let text = clean_text(text)?;
    let started = Instant::now();
    let dir = output.parent().unwrap_or(Path::new("."));
    let stem = output
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "message".to_owned());
    // Unique names, so two syntheses for the same output at once cannot mix their files.
    static RUN: AtomicU64 = AtomicU64::new(0);
    let unique = format!(
        "{}.{}",
        std::process::id(),
        RUN.fetch_add(1, Ordering::Relaxed)
    );
    let raw = dir.join(format!(".{stem}.{unique}.espeak.wav"));
    let converted = dir.join(format!(".{stem}.{unique}.part.wav"));
    let result = (|| {
        let espeak_tool = tool_name(&options.espeak);
        let mut espeak = Command::new(&options.espeak);
        espeak
            .arg("-v")
            .arg(&options.voice)
            .arg("-s")
            .arg(options.words_per_minute.to_string())
            .arg("-w")
            .arg(&raw)
            .arg("--stdin");
        run(espeak, &espeak_tool, Some(&text), options.timeout())?;

        let sox_tool = tool_name(&options.sox);
        let mut sox = Command::new(&options.sox);
        sox.arg("-R")
            .arg(&raw)
            .args(["-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer"])
            .arg(&converted)
            .args(SOX_EFFECTS);
        run(sox, &sox_tool, None, options.timeout())?;

        check_wav(&converted)?;
        std::fs::rename(&converted, output).map_err(|source| TtsError::Io {
            path: output.to_owned(),
            source,
        })
    })();
    let _ = std::fs::remove_file(&raw);
    if result.is_err() {
        let _ = std::fs::remove_file(&converted);
    }
    match &result {
        Ok(()) => tracing::info!(
            output = %output.display(),
            elapsed_ms = started.elapsed().as_millis(),
            "message synthesised"
        ),
        Err(error) => tracing::warn!(%error, "message synthesis failed"),
    }
    result
}

/// Checks that a WAV is 8 kHz mono 16-bit and not silent.
fn check_wav(path: &Path) -> Result<(), TtsError> {
    let stats = crate::audio::WavStats::read(path)
        .map_err(|e| TtsError::BadOutput(format!("{}: {e}", path.display())))?;
    if !stats.is_telephony_format() {
        return Err(TtsError::BadOutput(format!(
            "{} Hz, {} channel(s), {} bits",
            stats.sample_rate, stats.channels, stats.bits_per_sample
        )));
    }
    if stats.is_silent() {
        return Err(TtsError::BadOutput("the audio is silent".to_owned()));
    }
    Ok(())
}
