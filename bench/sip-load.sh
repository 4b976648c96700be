#!/usr/bin/env bash
# SIPp signalling load against the `sip` room (no RTP): INVITE -> 100 -> 200 -> ACK ->
# hold -> BYE -> 200, answered at once by a stand-in switchboard (sip/examples/sip_load_server.rs).
# Loopback only, bounded by CALLS and by SIPp's -timeout; stops by itself.
#
#   bench/sip-load.sh rate        # sustained calls/s: RATE calls/s for CALLS calls, short hold
#   bench/sip-load.sh concurrent  # concurrent dialogs: long hold so RATE*HOLD_MS/1000 dialogs live
#
# Environment: RATE, CALLS, HOLD_MS, PORT (server), CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-rate}
PORT=${PORT:-5070}
if [ "$MODE" = concurrent ]; then
  RATE=${RATE:-1000}; HOLD_MS=${HOLD_MS:-12000}; CALLS=${CALLS:-14000}
else
  RATE=${RATE:-1500}; HOLD_MS=${HOLD_MS:-500}; CALLS=${CALLS:-30000}
fi
LIMIT=$(( RATE * (HOLD_MS / 1000 + 3) + 100 ))
TARGET=${CARGO_TARGET_DIR:-target}
command -v sipp >/dev/null || { echo "sipp (Debian sip-tester) is required" >&2; exit 1; }
cargo build --quiet --release -p guichet-sip --example sip_load_server
"$TARGET/release/examples/sip_load_server" "127.0.0.1:$PORT" > /tmp/sip-load-server.$$ &
SERVER=$!
trap 'kill -INT $SERVER 2>/dev/null || true' EXIT
sleep 1
START=$(date +%s.%N)
set +e
sipp -sn uac -s 8585 -i 127.0.0.1 -nostdin -r "$RATE" -m "$CALLS" -l "$LIMIT" -d "$HOLD_MS" \
  -timeout $(( CALLS / RATE + HOLD_MS / 1000 + 60 )) -timeout_error -max_socket 65000 \
  "127.0.0.1:$PORT" > /tmp/sip-load-sipp.$$ 2>&1
RC=$?
set -e
END=$(date +%s.%N)
kill -INT $SERVER; wait $SERVER 2>/dev/null || true
trap - EXIT
echo "mode=$MODE rate=$RATE calls=$CALLS hold_ms=$HOLD_MS sipp_exit=$RC elapsed_s=$(echo "$END - $START" | bc)"
grep -E "Successful call|Failed call|Call Rate|Total Call created|Current Call" /tmp/sip-load-sipp.$$ | tail -5 || true
cat /tmp/sip-load-server.$$
rm -f /tmp/sip-load-sipp.$$ /tmp/sip-load-server.$$
exit $RC
