#!/usr/bin/env bash
# Generates Guichet's French prompts from prompts.toml with espeak-ng's French voice and sox:
# 8 kHz, mono, 16-bit PCM WAV, resampled with sox's high-quality rate, leading and trailing
# silence trimmed, normalised to -1 dBFS (no clipping), repeatable output. Same settings as
# ivr/src/tts.rs.
#
# Usage: sounds/fr/generate.sh [ID...]   (no ID: every prompt of the catalogue)
#
# The catalogue's [prompts] table has exactly one `id = "texte"` line per prompt; the text is
# given to espeak-ng on standard input, never through the shell.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
catalogue="$here/prompts.toml"
voice="${GUICHET_TTS_VOICE:-fr}"
speed="${GUICHET_TTS_WPM:-150}"

for tool in espeak-ng sox; do
    command -v "$tool" >/dev/null || { echo "generate.sh: $tool is required (apt-get install espeak-ng sox)" >&2; exit 1; }
done

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

declare -A wanted=()
for id in "$@"; do wanted["$id"]=1; done

count=0
in_prompts=0
line_no=0
while IFS= read -r line || [[ -n "$line" ]]; do
    line_no=$((line_no + 1))
    [[ "$line" =~ ^[[:space:]]*(#.*)?$ ]] && continue
    if [[ "$line" == "[prompts]" ]]; then in_prompts=1; continue; fi
    if [[ $in_prompts -eq 0 || ! "$line" =~ ^([a-z0-9_]+)\ =\ \"([^\"\\]*)\"$ ]]; then
        echo "generate.sh: $catalogue:$line_no: expected id = \"texte\"" >&2
        exit 1
    fi
    id="${BASH_REMATCH[1]}"
    text="${BASH_REMATCH[2]}"
    if [[ $# -gt 0 && -z "${wanted[$id]:-}" ]]; then continue; fi
    printf '%s' "$text" | espeak-ng -v "$voice" -s "$speed" -w "$tmp/raw.wav" --stdin
    # -R: repeatable dither, so regenerating an unchanged prompt gives the same file.
    sox -R "$tmp/raw.wav" -r 8000 -c 1 -b 16 -e signed-integer "$tmp/out.wav" \
        rate -h 8000 \
        silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse \
        norm -1
    mv "$tmp/out.wav" "$here/$id.wav"
    count=$((count + 1))
done < "$catalogue"

echo "generate.sh: $count prompt(s) written to $here"
