#!/usr/bin/env bash
# Whole-call-path load of the switchboard: a release `guichet serve` on SQLite, AGENTS desk
# phones registered with digest authentication (one SIPp UAS answers for all of them),
# and a SIPp UAC of VIP callers on line 8585 (answer, VIP prompt, queue, offer to an agent,
# agent answers, RTP both ways through the bridge, caller hangs up after HOLD_MS).
# SIPp does the signalling; the phones' RTP is bench/rtp-peer.c, one thread: the agents echo
# what they hear, each caller's phone (a port of its own) talks from Guichet's first packet.
# Everything on 127.0.0.1; bounded by CALLS, RATE and SIPp's -timeout; cleans up after itself.
#
#   RATE=100 CALLS=3000 HOLD_MS=10000 bench/call-load.sh
#
# With TALK_MS the profile is a crisis instead: more callers than agents, the queue grows.
# Each agent talks TALK_MS and hangs up (Guichet then ends the caller's leg and offers the
# agent the next caller); a caller waits for that, and hangs up itself only after HOLD_MS
# (its patience). Set AGENTS (far fewer than the calls open at once) and LIMIT.
#
#   TALK_MS=10000 AGENTS=300 RATE=150 CALLS=4500 HOLD_MS=240000 LIMIT=5000 bench/call-load.sh
#
# Environment:
#   RATE       new calls per second (SIPp -r)                                   default 50
#   CALLS      calls in all (SIPp -m)                                           default 1000
#   HOLD_MS    caller's time from ACK to BYE (prompt + queue + talk)            default 8000
#              (with TALK_MS: the longest a caller waits for the agent's BYE)
#   TALK_MS    crisis profile: agents hang up after this much talk              default unset
#   STEADY_RATE, STEADY_CALLS  a second caller stream (same scenario) from the start, e.g. at
#              the agents' pace after a burst, so that a crisis queue holds its level
#   AGENTS     agent desk phones registered                                     default RATE*HOLD_MS/1000 + 50
#   LIMIT      most simultaneous calls SIPp keeps open (-l)                     default RATE*(HOLD_MS/1000+5)
#   ADMIT_RATE guichet's [sip] max_calls_per_second (503 above it)              default RATE*2+10
#   RTP_MIN    first RTP port of guichet (4 ports per call are reserved)       default 10000
#   PHONES     callers' phones (RTP ports) that calls take in turn             default LIMIT+500
#   PEER_RT=1  run the phones' RTP (bench/rtp-peer.c) at real-time priority 5  default normal
#   GUICHET_BIN use this binary instead of building target/release/guichet
#   KEEP=1     keep the work directory (config, logs, database) for reading
#   PERF=1     also record a CPU profile of guichet during the calls (perf record -g),
#              print its top symbols and keep the work directory (perf.data in it)
#   CARGO_TARGET_DIR as usual.
# Prints SIPp's call counts, the sustained rate, the peak of guichet_calls_in_progress, the
# CPU and resident memory of the guichet process, and the call records in the store, and
# the timing of the RTP the callers receive (bench/rtp-timing.c: a packet is late when it
# arrives more than 5 ms after its RTP timestamp's place on the stream's 20 ms grid).
# The timing capture needs root (a packet socket on lo); without it the line says so.
set -euo pipefail
cd "$(dirname "$0")/.."

RATE=${RATE:-50}
CALLS=${CALLS:-1000}
HOLD_MS=${HOLD_MS:-8000}
AGENTS=${AGENTS:-$(( RATE * HOLD_MS / 1000 + 50 ))}
if [ -n "${TALK_MS:-}" ]; then LIMIT=${LIMIT:-$CALLS}; else LIMIT=${LIMIT:-$(( RATE * (HOLD_MS / 1000 + 5) ))}; fi
ADMIT_RATE=${ADMIT_RATE:-$(( RATE * 2 + 10 ))}
RTP_MIN=${RTP_MIN:-10000}
STEADY_RATE=${STEADY_RATE:-}
STEADY_CALLS=${STEADY_CALLS:-0}
[ -n "$STEADY_RATE" ] || STEADY_CALLS=0
MAX_CALLS=$(( LIMIT + STEADY_CALLS + 200 ))
# Ports, all below Linux's ephemeral range (32768 on), where the kernel never hands out one
# on its own (tests and tools running beside the bench bind port 0): Guichet's RTP range
# (two ports per leg: a caller's leg per call, an agent's leg per bridge), then the
# callers' phones, then the agents' echo. SIP: 5290-5292.
if [ -n "${TALK_MS:-}" ] && [ -n "${AGENTS:-}" ]; then
  RTP_MAX=$(( RTP_MIN + 2 * MAX_CALLS + 2 * AGENTS + 99 ))
else
  RTP_MAX=$(( RTP_MIN + 4 * MAX_CALLS + 99 ))
fi
TARGET=${CARGO_TARGET_DIR:-target}
CLOCK_START=2026-11-24T10:00:00+01:00 # a Tuesday at 10:00 in Paris: the Louvre line is open
AGENT_SIP_PORT=${AGENT_SIP_PORT:-5290}
AGENT_ECHO_PORT=${AGENT_ECHO_PORT:-32700} # and +1 for RTCP
SIPP_MEDIA_PORT=${SIPP_MEDIA_PORT:-9000}   # SIPp's own media ports (-mp, +10), unused by the scenarios
CALLER_SIP_PORT=${CALLER_SIP_PORT:-5291}
CALLER_MEDIA_PORT=${CALLER_MEDIA_PORT:-$(( (RTP_MAX + 2) / 2 * 2 ))} # phone i: RTP on +2i, RTCP on +2i+1
PHONES=${PHONES:-$(( LIMIT + 500 ))}
PHONES_ALL=$(( PHONES + STEADY_CALLS )) # the steady callers' phones follow, one per call
CALLER_MEDIA_MAX=$(( CALLER_MEDIA_PORT + 2 * PHONES_ALL - 1 ))
REG_SIP_PORT=${REG_SIP_PORT:-5292}

for tool in sipp sox curl sqlite3 bc gcc; do
  command -v "$tool" >/dev/null || { echo "call-load: $tool is required" >&2; exit 1; }
done
if [ "$RTP_MAX" -ge "$CALLER_MEDIA_PORT" ] || [ "$CALLER_MEDIA_MAX" -ge "$AGENT_ECHO_PORT" ]; then
  echo "call-load: Guichet's RTP ports $RTP_MIN-$RTP_MAX, the $PHONES phones' $CALLER_MEDIA_PORT-$CALLER_MEDIA_MAX and the echo's $AGENT_ECHO_PORT do not fit in order below it; lower LIMIT or PHONES" >&2
  exit 1
fi
# Guichet holds sockets per call leg; SIPp one per call; ask for what the hard limit allows.
ulimit -n "$(ulimit -Hn)"

if [ -n "${GUICHET_BIN:-}" ]; then
  BIN=$GUICHET_BIN # an already built binary (e.g. to rerun without cargo)
else
  CARGO_TARGET_DIR="$TARGET" cargo build --quiet --release --bin guichet
  BIN="$TARGET/release/guichet"
fi

WORK=$(mktemp -d /tmp/call-load.XXXXXX)
[ "${PERF:-0}" = 1 ] && KEEP=1
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "${KEEP:-0}" = 1 ]; then echo "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# --- Configuration: the demo, with MD5 digest for SIPp, admission limits raised, a large
# RTP range, no wrap-up, the load directory and AGENTS extra agents on the Louvre queue.
awk -v maxc="$MAX_CALLS" -v maxr="$ADMIT_RATE" -v rmin="$RTP_MIN" -v rmax="$RTP_MAX" '
  /^\[/ { section = $0 }
  section == "[sip]" && /^realm/ { print; print "digest_algorithms = [\"md5\"]"; next }
  section == "[sip]" && /^max_concurrent_calls/ { print "max_concurrent_calls = " maxc; next }
  section == "[sip]" && /^max_calls_per_second/ { print "max_calls_per_second = " maxr; next }
  section == "[sip]" && /^shutdown_grace_secs/ { print "shutdown_grace_secs = 5"; next }
  section == "[rtp]" && /^port_min/ { print "port_min = " rmin; next }
  section == "[rtp]" && /^port_max/ { print "port_max = " rmax; next }
  section == "[directory]" && /^csv/ { print "csv = \"load-directory.csv\""; next }
  /^name = "louvre-hotline"/ { inqueue = 1 }
  inqueue && /^wrap_up/ { print "wrap_up = 0"; inqueue = 0; next }
  { print }
' demo/guichet.toml > "$WORK/guichet.toml"
{
  # The shipped prompts of this tree: a GUICHET_BIN built elsewhere (another checkout, a
  # removed worktree) would otherwise look for them where it was compiled, and skip them.
  printf '\n[prompts]\nshipped_dir = "%s/sounds/fr"\n' "$PWD"
  for i in $(seq 1 "$AGENTS"); do
    printf '\n[[agents]]\nlogin = "charge.%05d"\nname = "Agent de charge %d"\nroles = ["agent"]\nextension = "3%05d"\nsip_secret = "charge-%05d-secret"\nqueues = { "louvre-hotline" = 1 }\n' \
      "$i" "$i" "$i" "$i"
  done
} >> "$WORK/guichet.toml"
grep -q '^wrap_up = 0' "$WORK/guichet.toml" || { echo "call-load: demo config changed shape" >&2; exit 1; }

# Directory: the demo's people plus 1,000 VIPs whose numbers the callers use in turn.
CALLERS_N=1000
{
  cat demo/directory.csv
  for i in $(seq 1 "$CALLERS_N"); do
    printf 'charge.%04d,Charge,Appelant %d,Cabinet du ministre,Valois,,oui,+3314099%04d,\n' "$i" "$i" "$i"
  done
} > "$WORK/load-directory.csv"
# Each line: a VIP's number and a phone's RTP port; calls take the lines in turn, and there are
# more phones than calls open at once (LIMIT), so no two calls share a phone.
{ echo SEQUENTIAL; for i in $(seq 0 $(( PHONES - 1 ))); do printf '+3314099%04d;%d\n' $(( i % CALLERS_N + 1 )) $(( CALLER_MEDIA_PORT + 2 * i )); done; } > "$WORK/callers.csv"
if [ "$STEADY_CALLS" -gt 0 ]; then
  { echo SEQUENTIAL; for i in $(seq "$PHONES" $(( PHONES_ALL - 1 ))); do printf '+3314099%04d;%d\n' $(( i % CALLERS_N + 1 )) $(( CALLER_MEDIA_PORT + 2 * i )); done; } > "$WORK/callers-steady.csv"
fi
{ echo SEQUENTIAL; for i in $(seq 1 "$AGENTS"); do printf '3%05d;[authentication username=3%05d password=charge-%05d-secret]\n' "$i" "$i" "$i"; done; } > "$WORK/agents.csv"

# Caller audio: 3 s of a 440 Hz tone in raw A-law, looped by the callers' phones.
sox -n -r 8000 -c 1 -e a-law -t al "$WORK/tone.al" synth 3 sine 440 vol 0.3
gcc -O2 -o "$WORK/rtp-peer" bench/rtp-peer.c
gcc -O2 -o "$WORK/rtp-timing" bench/rtp-timing.c
if [ -n "${TALK_MS:-}" ]; then
  sed "s/PATIENCE_MS/$HOLD_MS/" bench/sipp/load_caller_waits.xml > "$WORK/load_caller.xml"
  sed "s/TALK_MS/$TALK_MS/" bench/sipp/load_agent_hangs_up.xml > "$WORK/load_agent.xml"
  CALLER_HOLD=() # the caller's scenario waits for the BYE itself
else
  cp bench/sipp/load_caller.xml bench/sipp/load_agent.xml "$WORK/"
  CALLER_HOLD=(-d "$HOLD_MS")
fi

# --- Phones' RTP: the agents' echo and the callers' voices, one thread, started before
# Guichet so that no port Guichet asks the kernel for lands on a phone. It stands in for
# phones that each have their own CPU but shares the server's: by default at normal
# priority (it competes with Guichet's signalling and store threads as an equal);
# PEER_RT=1 puts it at real-time priority 5 (below Guichet's media threads, above all else),
# which keeps the phones' own timing exact at the cost of Guichet's normal threads. Its own
# lateness is printed at the end either way.
PEER_CMD=("$WORK/rtp-peer" "$AGENT_ECHO_PORT" "$CALLER_MEDIA_PORT" "$PHONES_ALL" "$WORK/tone.al")
if [ "${PEER_RT:-0}" = 1 ]; then PEER_CMD=(chrt -f 5 "${PEER_CMD[@]}"); fi
"${PEER_CMD[@]}" > "$WORK/rtp-peer.out" 2> "$WORK/rtp-peer.err" &
PEER=$!
PIDS+=("$PEER")
sleep 0.5
kill -0 "$PEER" 2>/dev/null || { echo "call-load: rtp-peer did not start" >&2; cat "$WORK/rtp-peer.err" >&2; exit 1; }

# Timing receiver: a packet socket on lo sees every datagram to the callers' phones with its
# kernel arrival time. Started before Guichet: opening a packet capture stalls every thread
# of this machine for 100 - 200 ms (measured: a media clock thread falls that far behind,
# with or without load, and drops to normal priority for 10 s), which is the capture's
# doing, not the calls'. Every run before 24 November 06:50 UTC had that stall at its first
# calls (the 72 - 78 skipped ticks of the crisis runs).
TIMING=
# Two more count where audio goes missing: what the callers send Guichet, and what Guichet
# relays to the agents' echo port (the echo itself is rtp-peer's count).
if [ "$(id -u)" = 0 ]; then
  "$WORK/rtp-timing" "$CALLER_MEDIA_PORT" "$CALLER_MEDIA_MAX" > "$WORK/timing.out" 2> "$WORK/timing.err" &
  TIMING=$!
  PIDS+=("$TIMING")
  "$WORK/rtp-timing" "$RTP_MIN" "$RTP_MAX" "$CALLER_MEDIA_PORT" "$CALLER_MEDIA_MAX" > "$WORK/from-callers.out" 2> /dev/null &
  FROM_CALLERS=$!
  PIDS+=("$FROM_CALLERS")
  "$WORK/rtp-timing" "$AGENT_ECHO_PORT" "$AGENT_ECHO_PORT" > "$WORK/to-agents.out" 2> /dev/null &
  TO_AGENTS=$!
  PIDS+=("$TO_AGENTS")
fi
sleep 0.5

# --- Server
"$BIN" serve --config "$WORK/guichet.toml" --database "sqlite://$WORK/load.db" \
  --sip-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --clock-start "$CLOCK_START" \
  --log warn > "$WORK/guichet.out" 2> "$WORK/guichet.log" &
GUICHET=$!
PIDS+=("$GUICHET")
for _ in $(seq 1 300); do
  grep -q 'guichet ready' "$WORK/guichet.out" 2>/dev/null && break
  kill -0 "$GUICHET" 2>/dev/null || { echo "call-load: guichet did not start" >&2; cat "$WORK/guichet.log" >&2; exit 1; }
  sleep 0.1
done
READY=$(grep 'guichet ready' "$WORK/guichet.out") || { echo "call-load: guichet not ready in 30 s" >&2; exit 1; }
SIP=$(sed -E 's/.*sip=([^ ]+).*/\1/' <<<"$READY")
HTTP=$(sed -E 's/.*http=([^ ]+).*/\1/' <<<"$READY")
metric() { curl -s "http://$HTTP/metrics" | awk -v m="$1" '$1 == m { print $2; exit }'; }

# --- Agents: one UAS answering for every extension, then the registrations.
sipp -sf "$WORK/load_agent.xml" -i 127.0.0.1 -p "$AGENT_SIP_PORT" -mp "$SIPP_MEDIA_PORT" \
  -key echo_port "$AGENT_ECHO_PORT" -nostdin -timeout 3600 -max_socket 65000 \
  -trace_err -error_file "$WORK/agents-errors.log" > "$WORK/agents.out" 2>&1 &
PIDS+=("$!")
AGENT_SIPP=$!
sleep 1
if ! kill -0 "$AGENT_SIPP" 2>/dev/null; then
  echo "call-load: the agents' SIPp stopped at once (a port taken? AGENT_SIP_PORT, SIPP_MEDIA_PORT)" >&2
  tail -3 "$WORK/agents-errors.log" >&2 || true
  exit 1
fi
set +e
sipp -sf bench/sipp/load_register.xml -i 127.0.0.1 -p "$REG_SIP_PORT" -inf "$WORK/agents.csv" \
  -key contact_port "$AGENT_SIP_PORT" -m "$AGENTS" -r 200 -l 200 -nostdin -timeout 120 \
  -timeout_error -trace_err -error_file "$WORK/register-errors.log" "$SIP" > "$WORK/register.out" 2>&1
REG_RC=$?
set -e
REGISTERED=$(metric guichet_sip_registrations_total || true)
echo "registered desk phones: ${REGISTERED:-?} of $AGENTS (sipp exit $REG_RC)"
[ "$REG_RC" = 0 ] || { echo "call-load: registrations failed" >&2; tail -20 "$WORK/register-errors.log" >&2 || true; exit 1; }

# --- Sampler: calls in progress, CPU ticks and RSS of guichet, once a second.
CLK=$(getconf CLK_TCK)
sample() {
  while kill -0 "$GUICHET" 2>/dev/null; do
    local ticks rss calls agent_ticks caller_ticks peer_ticks
    ticks=$(awk '{ print $14 + $15 }' "/proc/$GUICHET/stat" 2>/dev/null || echo 0)
    rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$GUICHET/status" 2>/dev/null || echo 0)
    calls=$(metric guichet_calls_in_progress || true)
    # SIPp's own CPU (callers + agents), to see who holds the two cores.
    agent_ticks=$(awk '{ print $14 + $15 }' "/proc/$AGENT_SIPP/stat" 2>/dev/null || echo 0)
    caller_ticks=$(awk '{ print $14 + $15 }' "/proc/$(cat "$WORK/caller.pid" 2>/dev/null || echo none)/stat" 2>/dev/null || echo 0)
    peer_ticks=$(awk '{ print $14 + $15 }' "/proc/$PEER/stat" 2>/dev/null || echo 0)
    echo "$(date +%s.%N) $ticks $rss ${calls:-0} $agent_ticks $caller_ticks $peer_ticks"
    sleep 1
  done
}
sample > "$WORK/samples.txt" &
SAMPLER=$!
PIDS+=("$SAMPLER")
sleep 2

# Per-thread CPU ticks of guichet (thread name, ticks), to say where the CPU goes.
threads() {
  for t in /proc/"$GUICHET"/task/*; do
    awk '{ sub(/^[0-9]+ \(/, ""); name = $0; sub(/\).*/, "", name); split($0, f, ") "); split(f[2], v, " "); print name, v[12] + v[13] }' "$t/stat" 2>/dev/null || true
  done | awk '{ n = $NF; $NF = ""; sub(/ $/, ""); sum[$0] += n } END { for (k in sum) print k "\t" sum[k] }' | sort
}
threads > "$WORK/threads-before.txt"
# The media threads' scheduling: time spent runnable but not running (schedstat's second
# field) and the policy (1 = SCHED_FIFO, 0 = normal: a thread demoted after falling behind).
media_sched() {
  for t in /proc/"$GUICHET"/task/*; do
    name=$(cat "$t/comm" 2>/dev/null) || continue
    case "$name" in media-*) ;; *) continue ;; esac
    printf '%s %s %s %s\n' "$(basename "$t")" "$name" "$(awk '{ print $2 }' "$t/schedstat" 2>/dev/null || echo 0)" \
      "$(awk '/^policy/ { print $3 }' "$t/sched" 2>/dev/null || echo '?')"
  done
}
media_sched > "$WORK/media-sched-before.txt"

CLOCK_TICKS0=$(metric guichet_media_clock_ticks_total || true)
CLOCK_LATE0=$(metric guichet_media_clock_ticks_late_total || true)
CLOCK_SKIPPED0=$(metric guichet_media_clock_ticks_skipped_total || true)
if [ "${PERF:-0}" = 1 ]; then
  perf record -F 499 -g -p "$GUICHET" -o "$WORK/perf.data" > "$WORK/perf.out" 2>&1 &
  PERF_PID=$!
  PIDS+=("$PERF_PID")
fi

# --- Callers
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
START=$(date +%s.%N)
set +e
# One stream of callers: NAME (its files in the work directory), SIP port, SIPp's unused
# media port, rate, calls, most open at once. -trace_rtt: each call's INVITE-to-200 OK time
# (the scenario's response time 1), written to the working directory, hence the cd. Run it
# in the background only (`callers … &`): it becomes that subshell's SIPp (exec), so $! is
# SIPp's own pid for the CPU sampling and the cleanup.
callers() {
  local name=$1 port=$2 media=$3 rate=$4 calls=$5 limit=$6
  cd "$WORK" || exit 1
  exec sipp -sf "$WORK/load_caller.xml" -s 8585 -i 127.0.0.1 -p "$port" -mp "$media" \
    -inf "$WORK/$name.csv" -r "$rate" -m "$calls" -l "$limit" "${CALLER_HOLD[@]}" -nostdin -trace_rtt -rtt_freq 1 \
    -timeout $(( calls / rate + HOLD_MS / 1000 + 60 )) -timeout_error -max_socket 65000 \
    -trace_err -error_file "$WORK/$name-errors.log" "$SIP" > "$WORK/$name.out" 2>&1
}
STEADY_SIPP=
if [ "$STEADY_CALLS" -gt 0 ]; then
  # A second caller stream at STEADY_RATE beside the first from the start: after a burst has
  # filled the queue, it keeps arrivals at about the agents' pace, so the level holds.
  callers callers-steady "$(( CALLER_SIP_PORT + 2 ))" "$(( SIPP_MEDIA_PORT + 20 ))" "$STEADY_RATE" "$STEADY_CALLS" "$STEADY_CALLS" &
  STEADY_SIPP=$!
  PIDS+=("$STEADY_SIPP")
fi
callers callers "$CALLER_SIP_PORT" "$(( SIPP_MEDIA_PORT + 10 ))" "$RATE" "$CALLS" "$LIMIT" &
CALLER_SIPP=$!
PIDS+=("$CALLER_SIPP")
echo "$CALLER_SIPP" > "$WORK/caller.pid"
wait "$CALLER_SIPP"
RC=$?
if [ -n "$STEADY_SIPP" ]; then
  wait "$STEADY_SIPP"
  STEADY_RC=$?
  [ "$RC" = 0 ] && RC=$STEADY_RC
fi
set -e
END=$(date +%s.%N)
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
threads > "$WORK/threads-after.txt"
media_sched > "$WORK/media-sched-after.txt"
if [ -n "$TIMING" ]; then
  TIMING_TICKS=0
  for pid in "$TIMING" "$FROM_CALLERS" "$TO_AGENTS"; do
    TIMING_TICKS=$(( TIMING_TICKS + $(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || echo 0) ))
  done
  sleep 1 # the RTP of the last calls' echo and relay is still in flight at SIPp's exit
  kill -TERM "$TIMING" "$FROM_CALLERS" "$TO_AGENTS" 2>/dev/null || true
  wait "$TIMING" "$FROM_CALLERS" "$TO_AGENTS" 2>/dev/null || true
fi
if [ -n "${PERF_PID:-}" ]; then
  kill -INT "$PERF_PID" 2>/dev/null || true
  wait "$PERF_PID" 2>/dev/null || true
fi
sleep 3 # the last records close just after the last BYE
kill "$SAMPLER" 2>/dev/null || true
wait "$SAMPLER" 2>/dev/null || true
LEFT=$(metric guichet_calls_in_progress || true)
LEFT_SESSIONS=$(metric guichet_media_sessions || true)
LEFT_PORTS=$(metric guichet_media_ports_in_use || true)
LEFT_DIALOGS=$(metric guichet_sip_active_dialogs || true)
since_calls() { local now; now=$(metric "$1" || true); [ -n "$now" ] && [ -n "$2" ] && echo $(( now - $2 )); }
CLOCK_TICKS=$(since_calls guichet_media_clock_ticks_total "$CLOCK_TICKS0")
CLOCK_LATE=$(since_calls guichet_media_clock_ticks_late_total "$CLOCK_LATE0")
CLOCK_SKIPPED=$(since_calls guichet_media_clock_ticks_skipped_total "$CLOCK_SKIPPED0")
kill "$AGENT_SIPP" 2>/dev/null || true
wait "$AGENT_SIPP" 2>/dev/null || true
kill -TERM "$PEER" 2>/dev/null || true # rtp-peer prints its counts on exit
wait "$PEER" 2>/dev/null || true

# --- Report
stat_in() { { grep -E "^ *$1" "$2" || true; } | tail -1 | awk -F'|' '{ gsub(/ /, "", $3); print $3 }'; }
stat_of() { # both caller streams' counts, summed
  local a b
  a=$(stat_in "$1" "$WORK/callers.out")
  b=0
  [ -f "$WORK/callers-steady.out" ] && b=$(stat_in "$1" "$WORK/callers-steady.out")
  echo $(( ${a:-0} + ${b:-0} ))
}
CREATED=$(stat_of "Total Calls created")
OK=$(stat_of "Successful call")
FAILED=$(stat_of "Failed call")
ELAPSED=$(echo "$END - $START" | bc)
echo "rate=$RATE calls=$CALLS hold_ms=$HOLD_MS talk_ms=${TALK_MS:-} agents=$AGENTS limit=$LIMIT sipp_exit=$RC elapsed_s=$ELAPSED"
echo "sipp: created=${CREATED:-?} successful=${OK:-?} failed=${FAILED:-?}"
# New calls per second actually sustained: calls created over the time spent creating them
# (with TALK_MS the calls' lengths differ: the INVITEs' arrivals in the store instead).
if [ -n "${TALK_MS:-}" ]; then
  SUSTAINED=$(sqlite3 "$WORK/load.db" "SELECT printf('%.1f', (COUNT(*) - 1) * 1000.0 / MAX(1, MAX(arrived_at) - MIN(arrived_at))) FROM calls;")
else
  SUSTAINED=$(echo "scale=1; ${CREATED:-0} / ($ELAPSED - $HOLD_MS / 1000)" | bc)
fi
echo "calls/s sustained: $SUSTAINED"
awk -v clk="$CLK" -v ok="${OK:-0}" -v nagents="$AGENTS" '
  FNR == NR { if ($4 > peak) peak = $4; next }      # first pass: the peak
  FNR == 1 { t0 = $1; c0 = $2; r0 = $3; a0 = $5; p0 = $7 }
  FNR > 1 && $4 >= 0.9 * peak && peak > 0 { hot += ($2 - pc) / clk; hot_t += $1 - pt }
  { t = $1; c = $2; if ($5 > amax) amax = $5; if ($6 > cmax) cmax = $6; if ($7 > pmax) pmax = $7; if ($3 > rmax) rmax = $3; pt = $1; pc = $2 }
  END {
    cpu_s = (c - c0) / clk
    printf "peak calls in progress (guichet_calls_in_progress): %d (%.0f s within 10 %% of it)\n", peak, hot_t
    printf "guichet CPU: %.1f s over %.1f s (%.0f %% of one core on average)", cpu_s, t - t0, cpu_s / (t - t0) * 100
    if (hot_t > 0) printf ", %.0f %% while within 10 %% of the peak", hot / hot_t * 100
    printf "\n"
    printf "SIPp CPU: callers %.1f s, agents %.1f s; phones RTP (rtp-peer) %.1f s\n", cmax / clk, (amax - a0) / clk, (pmax - p0) / clk
    if (ok > 0) printf "guichet CPU per call: %.2f ms\n", cpu_s * 1000 / ok
    printf "guichet RSS: %.1f MiB with %d agents registered, %.1f MiB at most", r0 / 1024, nagents, rmax / 1024
    if (peak > 0) printf " (%.1f KiB per concurrent call)", (rmax - r0) / peak
    printf "\n"
  }' "$WORK/samples.txt" "$WORK/samples.txt" | tee "$WORK/usage.txt"
echo "guichet CPU by thread during the calls (threads of the same name summed):"
awk -F'\t' -v clk="$CLK" -v secs="$ELAPSED" '
  FNR == NR { before[$1] = $2; next }
  { d = ($2 - before[$1]) / clk; if (d > 0) printf "  %-22s %7.1f s  (%3.0f %% of a core)\n", $1, d, d / secs * 100 }
' "$WORK/threads-before.txt" "$WORK/threads-after.txt" | sort -k2 -rn
echo "media threads, time runnable but waiting for a core during the calls (policy at the end: 1 real-time, 0 normal):"
awk 'FNR == NR { before[$1] = $3; next } { printf "  %-16s waited %6.2f s  policy %s\n", $2, ($3 - before[$1]) / 1e9, $4 }' \
  "$WORK/media-sched-before.txt" "$WORK/media-sched-after.txt"
echo "media clock from the first call: ${CLOCK_TICKS:-?} ticks, ${CLOCK_LATE:-?} started > 5 ms late, ${CLOCK_SKIPPED:-?} skipped (a thread > 100 ms behind)"
echo "left 3 s after the last call: calls in progress ${LEFT:-?}, media sessions ${LEFT_SESSIONS:-?}, RTP ports ${LEFT_PORTS:-?}, SIP dialogs ${LEFT_DIALOGS:-?}"
echo "call records in the store, by outcome:"
sqlite3 "$WORK/load.db" "SELECT '  ' || COALESCE(outcome, 'open') || ': ' || COUNT(*) FROM calls GROUP BY outcome;"
OUTCOMES=$(sqlite3 "$WORK/load.db" "SELECT GROUP_CONCAT(n || ' ' || o, ', ') FROM (SELECT COUNT(*) AS n, REPLACE(COALESCE(outcome, 'open'), '_', ' ') AS o FROM calls GROUP BY outcome ORDER BY n DESC);")
PROMPT=$(sqlite3 "$WORK/load.db" "SELECT printf('%.2f / %.2f s', AVG(ivr_exited_at - arrived_at) / 1000.0, MAX(ivr_exited_at - arrived_at) / 1000.0) FROM calls WHERE ivr_exited_at IS NOT NULL;")
# INVITE to 200 OK as the callers saw it: the directory lookup, the record's commit, the answer.
ANSWER=$(cat "$WORK"/load_caller_*_rtt.csv 2>/dev/null | awk -F';' 'NR > 1 && $3 == 1 { print $2 }' | sort -n \
  | awk '{ v[NR] = $1; s += $1 } END { if (NR) { i = int(NR * 0.99); if (i < 1) i = 1; printf "%.0f / %d / %d ms", s / NR, v[i], v[NR] } }')
echo "INVITE to 200 OK (avg / p99 / max): ${ANSWER:-not measured}"
sqlite3 "$WORK/load.db" "SELECT 'queue to agent answer (ms, from IVR exit): avg ' || CAST(AVG(answered_at - ivr_exited_at) AS INTEGER) || ', max ' || MAX(answered_at - ivr_exited_at) || '; IVR (VIP prompt): avg ' || CAST(AVG(ivr_exited_at - arrived_at) AS INTEGER) || ', max ' || MAX(ivr_exited_at - arrived_at) FROM calls WHERE answered_at IS NOT NULL;"
# RTP through the bridge: what the agents' phones echoed, against 50 packets/s of talk time.
echo "phones: $(sed 's/^rtp-peer: //' "$WORK/rtp-peer.out")"
ECHOED=$(sed -nE 's/^rtp-peer: echoed ([0-9]+) packets.*/\1/p' "$WORK/rtp-peer.out")
TALKED_MS=$(sqlite3 "$WORK/load.db" "SELECT COALESCE(SUM(ended_at - answered_at), 0) FROM calls WHERE answered_at IS NOT NULL;")
if [ -n "$ECHOED" ] && [ "$TALKED_MS" -gt 0 ]; then
  RELAYED="$(echo "scale=1; 100 * $ECHOED / ($TALKED_MS / 20)" | bc) %"
  echo "caller RTP relayed to the agents: $ECHOED packets for $(( TALKED_MS / 20 )) expected from the talk time ($RELAYED)"
fi
if [ -n "$TIMING" ]; then
  echo "RTP received by the callers (late = > 5 ms behind its place on the stream's 20 ms grid):"
  sed 's/^rtp timing: /  /' "$WORK/timing.out"
  SENT=$(sed -nE 's/.*packets ([0-9]+),.*/\1/p' "$WORK/from-callers.out")
  RELAYED_OUT=$(sed -nE 's/.*packets ([0-9]+),.*/\1/p' "$WORK/to-agents.out")
  echo "  audio packets the callers sent Guichet (whole calls): ${SENT:-?}; Guichet sent the agents: ${RELAYED_OUT:-?}; the agents' phones echoed: ${ECHOED:-?}; talk time: $(( TALKED_MS / 20 )) packets"
  echo "  timing of what Guichet sent the agents: $(sed 's/^rtp timing: //' "$WORK/to-agents.out")"
  echo "  timing receivers' CPU: $(echo "scale=1; ${TIMING_TICKS:-0} / $CLK" | bc) s"
else
  echo "RTP timing not measured: the capture on lo needs root"
fi
if [ -n "${PERF_PID:-}" ]; then
  echo "perf: top symbols of guichet during the calls ($WORK/perf.data):"
  perf report -i "$WORK/perf.data" --no-children --sort comm,symbol --stdio 2>/dev/null \
    | grep -E '^ +[0-9]' | head -40
fi
WARNINGS=$(grep -cE ' (WARN|ERROR) ' "$WORK/guichet.log" || true)
echo "guichet warnings/errors logged: $WARNINGS"
grep -E ' (WARN|ERROR) ' "$WORK/guichet.log" | sed -E 's/^[^ ]+ +//' | sort | uniq -c | sort -rn | head -5 || true
# One row of the table in docs/performance.md ("Whole call path"), every figure from above.
LATE=$(sed -nE 's/.*late > 5 ms [0-9]+ \(([0-9.]+ %)\).*p99 ([0-9.]+ ms).*worst ([0-9.]+ ms).*/\1 (p99 \2, worst \3)/p' "$WORK/timing.out" 2>/dev/null || true)
CPU=$(sed -nE 's/^guichet CPU: .*\(([0-9]+ %) of one core on average\)(, ([0-9]+ %) while.*)?$/\1 (\3 near the peak)/p' "$WORK/usage.txt")
PER_CALL=$(sed -nE 's/^guichet CPU per call: (.*)$/\1/p' "$WORK/usage.txt")
MEM=$(sed -nE 's/.*\(([0-9.]+ KiB) per concurrent call\).*/\1/p' "$WORK/usage.txt")
PEAK=$(sed -nE 's/^peak calls in progress[^:]*: ([0-9]+) \(([0-9]+) s within.*$/\1 (\2 s within 10 %)/p' "$WORK/usage.txt")
echo "load average (1, 5, 15 min): $LOAD_START at the start, $LOAD_END at the end"
echo "table row (docs/performance.md):"
COMMAND="RATE=$RATE CALLS=$CALLS HOLD_MS=$HOLD_MS"
[ -n "${TALK_MS:-}" ] && COMMAND="TALK_MS=$TALK_MS AGENTS=$AGENTS $COMMAND LIMIT=$LIMIT"
[ "$STEADY_CALLS" -gt 0 ] && COMMAND="$COMMAND STEADY_RATE=$STEADY_RATE STEADY_CALLS=$STEADY_CALLS"
echo "| \`$COMMAND\` | ${OK:-?} / ${FAILED:-?} failed, $SUSTAINED calls/s sustained | ${PEAK:-?} | ${OUTCOMES:-?} | ${PROMPT:-?} (INVITE to 200 OK ${ANSWER:-?}) | ${RELAYED:-?} | ${LATE:-not measured} | ${CPU:-?} | ${PER_CALL:-?} | ${MEM:-?} | $LOAD_START |"
if [ "$RC" != 0 ]; then
  echo "--- sipp caller errors (last lines)"
  tail -5 "$WORK/callers-errors.log" 2>/dev/null || true
fi
exit "$RC"
