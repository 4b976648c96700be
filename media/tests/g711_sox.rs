//! G.711 bit-exactness against sox's own codecs.
use guichet_media::g711::Codec;
use std::path::Path;
use std::process::Command;

/// True when sox is usable; when `CI=true` a missing sox is a failure.
fn have_sox() -> bool {
    let ok = Command::new("sox")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "sox is required when CI=true"
        );
        eprintln!("NOTICE: sox not found, skipping G.711 comparison");
    }
    ok
}

fn sox(args: &[&str]) {
    let status = Command::new("sox").args(args).status().expect("run sox");
    assert!(status.success(), "sox {args:?} failed");
}

fn encode_all_with_sox(dir: &Path, encoding: &str) -> Vec<u8> {
    let input = dir.join("all.raw");
    let mut raw = Vec::with_capacity(65536 * 2);
    for v in i16::MIN..=i16::MAX {
        raw.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(&input, raw).unwrap();
    let out = dir.join(format!("all.{encoding}"));
    // -D: no dither, sox would otherwise add noise before reducing precision.
    sox(&[
        "-D",
        "-t",
        "raw",
        "-e",
        "signed",
        "-b",
        "16",
        "-L",
        "-r",
        "8000",
        "-c",
        "1",
        input.to_str().unwrap(),
        "-t",
        "raw",
        "-e",
        encoding,
        "-r",
        "8000",
        "-c",
        "1",
        out.to_str().unwrap(),
    ]);
    std::fs::read(out).unwrap()
}

fn decode_all_with_sox(dir: &Path, encoding: &str) -> Vec<i16> {
    let input = dir.join(format!("codes.{encoding}"));
    std::fs::write(&input, (0..=255u8).collect::<Vec<_>>()).unwrap();
    let out = dir.join(format!("codes-{encoding}.raw"));
    sox(&[
        "-t",
        "raw",
        "-e",
        encoding,
        "-b",
        "8",
        "-r",
        "8000",
        "-c",
        "1",
        input.to_str().unwrap(),
        "-t",
        "raw",
        "-e",
        "signed",
        "-b",
        "16",
        "-L",
        out.to_str().unwrap(),
    ]);
    std::fs::read(out)
        .unwrap()
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

fn check(codec: Codec, encoding: &str) {
    if !have_sox() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let theirs = encode_all_with_sox(dir.path(), encoding);
    assert_eq!(theirs.len(), 65536);
    let mut mismatches = 0;
    for (i, v) in (i16::MIN..=i16::MAX).enumerate() {
        let ours = codec.encode_sample(v);
        if ours != theirs[i] {
            if mismatches < 5 {
                eprintln!(
                    "{codec:?}: sample {v}: ours {ours:#04x} sox {:#04x}",
                    theirs[i]
                );
            }
            mismatches += 1;
        }
    }
    assert_eq!(
        mismatches, 0,
        "{codec:?} encoder differs from sox on {mismatches} samples"
    );

    let decoded = decode_all_with_sox(dir.path(), encoding);
    assert_eq!(decoded.len(), 256);
    for code in 0..=255u8 {
        assert_eq!(
            codec.decode_sample(code),
            decoded[code as usize],
            "{codec:?} code {code:#04x}"
        );
    }
}

#[test]
fn ulaw_matches_sox_on_all_65536_samples_and_256_codes() {
    check(Codec::Pcmu, "u-law");
}

#[test]
fn alaw_matches_sox_on_all_65536_samples_and_256_codes() {
    check(Codec::Pcma, "a-law");
}
