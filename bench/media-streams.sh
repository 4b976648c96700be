#!/bin/sh
# Concurrent prompt streams on this machine: N streams for S seconds,
# lateness measured at the receivers (see media/examples/streams.rs).
# Usage: bench/media-streams.sh [N] [S] [RECEIVER_THREADS]
set -e
cd "$(dirname "$0")/.."
: "${CARGO_TARGET_DIR:=target}"
export CARGO_TARGET_DIR
cargo build --release -p guichet-media --example streams
"$CARGO_TARGET_DIR/release/examples/streams" "${1:-3000}" "${2:-20}" "${3:-1}"
