#!/usr/bin/env bash
# Requests/s of every tcp-server mode at 1, 10, 100 and 1000 connections,
# with a plain echo handler and the idiomatic tokio echo server
# (tools/tokio-echo) measured the same way, plus 1 GiB streamed through one
# connection with `upper` and with `echo`. Prints markdown tables.
# Usage: scripts/bench-modes.sh [SECONDS_PER_CELL]   (default 3)
#        BASE=path/to/an/older/netlab adds its thread and poll rows, measured in the same run
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-3}
cargo build --release --quiet
(cd tools/tokio-echo && cargo build --release --quiet)
bin=target/release/netlab
tokio_bin=tools/tokio-echo/target/release/tokio-echo
# shellcheck source=scripts/lib.sh
source scripts/lib.sh


cell() { # cell PORT CONNS REPLY -> requests/s
  "$bin" bench -p "$1" --conns "$2" --size 64 --duration "${secs}s" --reply "$3" --json 2>/dev/null \
    | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["rps"]))' || echo "-"
}

echo "requests/s, 64-byte requests, ${secs} s per cell, $(nproc) cores"
echo
echo "| server | 1 conn | 10 conns | 100 conns | 1000 conns |"
echo "|---|---|---|---|---|"
row() { # row LABEL REPLY CONNS... -- CMD...
  local label=$1 reply=$2; shift 2
  local conns=()
  while [ "$1" != "--" ]; do conns+=("$1"); shift; done
  shift
  start "$label" "$@"
  local line="| $label |"
  for c in 1 10 100 1000; do
    if [[ " ${conns[*]} " == *" $c "* ]]; then line+=" $(cell "$port" "$c" "$reply") |"; else line+=" n/a |"; fi
  done
  echo "$line"
  stop
}
row "sequential" upper 1 -- "$bin" tcp-server -q -p 0 --mode sequential
row "pool (4 workers)" upper 1 -- "$bin" tcp-server -q -p 0 --mode pool
row "thread" upper 1 10 100 1000 -- "$bin" tcp-server -q -p 0 --mode thread
row "fork" upper 1 10 100 1000 -- "$bin" tcp-server -q -p 0 --mode fork
row "poll" upper 1 10 100 1000 -- "$bin" tcp-server -q -p 0 --mode poll
row "uring" upper 1 10 100 1000 -- "$bin" tcp-server -q -p 0 --mode uring
row "poll --workers 2" upper 1 10 100 1000 -- "$bin" tcp-server -q -p 0 --mode poll --workers 2
row "poll --handler echo" echo 1 10 100 1000 -- "$bin" tcp-server -q -p 0 --mode poll --handler echo
row "tokio echo (reference)" echo 1 10 100 1000 -- "$tokio_bin" 0
if [ -n "${BASE:-}" ]; then
  row "thread (before)" upper 1 10 100 1000 -- "$BASE" tcp-server -q -p 0 --mode thread
  row "poll (before)" upper 1 10 100 1000 -- "$BASE" tcp-server -q -p 0 --mode poll
fi

echo
echo "1 GiB through one connection (MB/s, best of 3)"
echo
echo "| mode | upper | echo | upper/echo |"
echo "|---|---|---|---|"
stream() { # stream MODE HANDLER -> best MB/s of three 1 GiB requests
  start "$1-$2" "$bin" tcp-server -q -p 0 --mode "$1" --handler "$2"
  for _ in 1 2 3; do
    "$bin" bench -p "$port" --conns 1 --size 1073741824 --requests 1 --reply "$2" --json
  done | python3 -c 'import json,sys; print(max(json.loads(l)["mbps"] for l in sys.stdin))'
  stop
}
for mode in poll thread; do
  up=$(stream "$mode" upper)
  ec=$(stream "$mode" echo)
  python3 -c "print('| $mode | %.0f | %.0f | %.2f |' % ($up, $ec, $up / $ec))"
done
