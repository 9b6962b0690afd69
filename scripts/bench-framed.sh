#!/usr/bin/env bash
# Framed request/response beside the plain tcp-server in the same mode, same
# load, same run (64-byte payloads, 1 and 100 connections, poll and thread),
# then --split-writes against one write per block at 1 connection. Each cell
# is the median of ROUNDS (default 3) interleaved rounds (tcp, framed, tcp,
# framed...), so a noisy neighbour hurts both alike.
# Prints a markdown table. Usage: scripts/bench-framed.sh [SECONDS] (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-3}
cargo build --release --quiet
bin=target/release/netlab
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

rps() { # rps PROTO PORT CONNS
  "$bin" bench --proto "$1" -p "$2" --conns "$3" --size 64 --duration "${secs}s" --json 2>/dev/null \
    | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["rps"]))'
}

rounds=${ROUNDS:-3}
median() { python3 -c 'import statistics,sys; print(round(statistics.median(float(x) for x in sys.argv[1:])))' "$@"; }

echo "requests/s, 64-byte payloads, ${secs} s per cell, median of $rounds interleaved rounds, $(nproc) cores"
echo
echo "| mode | conns | tcp-server | framed server | framed / tcp |"
echo "|---|---|---|---|---|"
for mode in poll thread; do
  for conns in 1 100; do
    t=(); f=()
    for _ in $(seq "$rounds"); do
      start tcp "$bin" tcp-server -q -p 0 --mode "$mode"; t+=("$(rps tcp "$port" "$conns")"); stop
      start framed "$bin" framed server -q -p 0 --mode "$mode"; f+=("$(rps framed "$port" "$conns")"); stop
    done
    tm=$(median "${t[@]}"); fm=$(median "${f[@]}")
    python3 -c "print('| $mode | $conns | $tm | $fm | %.2f |' % ($fm / $tm))"
  done
done
echo
echo "| framed server, 1 connection, poll | requests/s |"
echo "|---|---|"
for flags in "" "--split-writes" "--split-writes --nodelay"; do
  # shellcheck disable=SC2086
  start split "$bin" framed server -q -p 0 --mode poll $flags; r=$(rps framed "$port" 1); stop
  echo "| ${flags:-one write per block} | $r |"
done
