#!/usr/bin/env bash
# Shell-loop cost of one-shot UDP clients: N sequential `netlab udp-client`
# round trips against a running `netlab udp-server`, then the same loop with a
# one-shot Python 3 client. Prints both times and their ratio.
# Usage: scripts/bench-udp-loop.sh [N]   (default 1000; builds the release binary)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}
cargo build --release --quiet
bin=target/release/netlab
ready=$(mktemp)
"$bin" udp-server -p 0 -q >"$ready" &
server=$!
trap 'kill $server 2>/dev/null; rm -f "$ready"' EXIT
for _ in $(seq 100); do grep -q ready "$ready" && break; sleep 0.05; done
port=$(sed -n 's/^server ready on .*:\([0-9]*\)$/\1/p' "$ready")

py_client='
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.sendto(sys.argv[2].encode(), ("127.0.0.1", int(sys.argv[1])))
print(s.recvfrom(65535)[0].decode())
'
# The interpreter itself, not a version-manager shim in front of it.
python=$(python3 -c 'import sys; print(sys.executable)')
echo "python client: $python"
now() { date +%s.%N; }
t0=$(now)
for i in $(seq "$n"); do "$bin" udp-client 127.0.0.1 "hello $i" -p "$port" >/dev/null; done
t1=$(now)
for i in $(seq "$n"); do "$python" -c "$py_client" "$port" "hello $i" >/dev/null; done
t2=$(now)
awk -v a="$t0" -v b="$t1" -v c="$t2" -v n="$n" 'BEGIN {
  nl = b - a; py = c - b
  printf "netlab: %d round trips in %.2f s (%.2f ms each)\n", n, nl, 1000 * nl / n
  printf "python: %d round trips in %.2f s (%.2f ms each)\n", n, py, 1000 * py / n
  printf "netlab/python time ratio: %.3f (target <= 0.1)\n", nl / py
}'
