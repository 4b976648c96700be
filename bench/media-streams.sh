#!/bin/sh
# Concurrent prompt streams on this machine: N streams for S seconds, every
# packet's kernel arrival time checked against its stream's 20 ms grid (see
# media/examples/streams.rs and docs/performance.md). Prints late %, worst
# lateness, lost packets, memory per stream and CPU per thread role.
# Usage: bench/media-streams.sh [N] [S] [normal] [inbound]
# (normal: media threads at normal priority instead of SCHED_FIFO;
#  inbound: every session also receives a 20 ms stream)
set -e
cd "$(dirname "$0")/.."
: "${CARGO_TARGET_DIR:=target}"
export CARGO_TARGET_DIR
cargo build --release -p guichet-media --example streams
"$CARGO_TARGET_DIR/release/examples/streams" "${1:-3000}" "${2:-20}" ${3:+"$3"} ${4:+"$4"}
