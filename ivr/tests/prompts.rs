//! The shipped French prompts: the catalogue's strict line format (generate.sh reads it
//! without a TOML parser), one WAV per prompt and no stray WAV, every WAV 8 kHz mono 16-bit,
//! audible, unclipped and trimmed, and every prompt the demo flows use present.

mod common;

use std::collections::BTreeSet;

use common::{catalogue, culture, louvre, repo_root};
use guichet_ivr::audio::WavStats;

#[test]
fn catalogue_lines_are_in_the_simple_format_generate_sh_reads() {
    let text = std::fs::read_to_string(repo_root().join("sounds/fr/prompts.toml")).unwrap();
    let mut ids = BTreeSet::new();
    let mut in_table = false;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if line == "[prompts]" {
            in_table = true;
            continue;
        }
        assert!(in_table, "line {}: outside [prompts]", n + 1);
        let (id, rest) = line
            .split_once(" = \"")
            .unwrap_or_else(|| panic!("line {}: {line}", n + 1));
        let value = rest
            .strip_suffix('"')
            .unwrap_or_else(|| panic!("line {}: {line}", n + 1));
        assert!(
            guichet_ivr::is_valid_prompt_id(id),
            "line {}: id {id}",
            n + 1
        );
        assert!(
            !value.contains(['"', '\\']),
            "line {}: no quotes or escapes",
            n + 1
        );
        assert!(ids.insert(id.to_owned()), "line {}: duplicate {id}", n + 1);
    }
    assert_eq!(ids.len(), catalogue().len());
}

#[test]
fn every_prompt_has_a_telephony_wav_that_is_audible_unclipped_and_trimmed() {
    let dir = repo_root().join("sounds/fr");
    let catalogue = catalogue();
    let mut total_ms = 0;
    for (id, text) in catalogue.iter() {
        let path = dir.join(format!("{id}.wav"));
        let stats = WavStats::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(stats.is_telephony_format(), "{id}: {stats:?}");
        assert!(!stats.is_silent(), "{id} is silent: rms {}", stats.rms);
        assert_eq!(stats.clipped_samples, 0, "{id} clips");
        // Normalised to -1 dBFS: the peak sits just under full scale.
        assert!(
            (0.85..0.95).contains(&stats.peak),
            "{id}: peak {}",
            stats.peak
        );
        // Roughly the length of its text (espeak-ng at 150 words a minute), not a blank file.
        let ms = stats.duration_ms();
        assert!(ms >= 150, "{id} lasts {ms} ms");
        assert!(
            ms <= 150 * text.chars().count() as u64 + 1_000,
            "{id} lasts {ms} ms"
        );
        total_ms += ms;
    }
    assert!(total_ms > 60_000, "{total_ms} ms of prompts in all");
}

#[test]
fn wavs_start_without_leading_silence() {
    let dir = repo_root().join("sounds/fr");
    for (id, _) in catalogue().iter() {
        let mut reader = hound::WavReader::open(dir.join(format!("{id}.wav"))).unwrap();
        // The first 30 ms (240 samples) already carry sound above 0.5 % of full scale.
        let loud = reader
            .samples::<i16>()
            .take(240)
            .map(|s| i32::from(s.unwrap()).abs())
            .max()
            .unwrap_or(0);
        assert!(loud > 164, "{id} starts with silence");
    }
}

#[test]
fn no_wav_without_a_catalogue_entry() {
    let catalogue = catalogue();
    for entry in std::fs::read_dir(repo_root().join("sounds/fr")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "wav") {
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            assert!(catalogue.contains(&stem), "stray {}", path.display());
        }
    }
}

#[test]
fn demo_flow_prompts_resolve_to_files_and_admin_overrides_win() {
    let catalogue = catalogue();
    let shipped = repo_root().join("sounds/fr");
    for flow in [louvre(), culture()] {
        for id in flow.prompt_ids() {
            let path = catalogue.resolve_wav(&id, None, &shipped).unwrap();
            assert!(path.is_file(), "{}", path.display());
        }
    }
    let overrides = tempfile::tempdir().unwrap();
    std::fs::copy(
        shipped.join("au_revoir.wav"),
        overrides.path().join("au_revoir.wav"),
    )
    .unwrap();
    assert_eq!(
        catalogue.resolve_wav("au_revoir", Some(overrides.path()), &shipped),
        Some(overrides.path().join("au_revoir.wav"))
    );
    assert_eq!(
        catalogue.resolve_wav("patientez", Some(overrides.path()), &shipped),
        Some(shipped.join("patientez.wav"))
    );
    assert_eq!(catalogue.resolve_wav("../etc/passwd", None, &shipped), None);
    assert_eq!(catalogue.resolve_wav("inconnu", None, &shipped), None);
}
