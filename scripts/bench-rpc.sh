#!/usr/bin/env bash
# XML-RPC calls/s (addtogether(1, 2, 3, 4, 5), every result checked) at 1 and
# 4 connections against netlab's rpc server (thread and poll mode) and
# Python's SimpleXMLRPCServer, with the plain tcp-server's 64-byte
# request/response rate beside them, all in one run. Prints a markdown table.
# Usage: scripts/bench-rpc.sh [SECONDS] (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-3}
cargo build --release --quiet
bin=target/release/netlab
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

cat >"$work/server.py" <<'PY'
import functools, operator, sys
from xmlrpc.server import SimpleXMLRPCServer
def addtogether(*things):
    """Add together everything in the list `things`."""
    return functools.reduce(operator.add, things)
server = SimpleXMLRPCServer(('127.0.0.1', 0), logRequests=False)
server.register_function(addtogether)
print('server ready on 127.0.0.1:%d' % server.server_address[1], flush=True)
server.serve_forever()
PY

rps() { # rps PROTO PORT CONNS
  "$bin" bench --proto "$1" -p "$2" --conns "$3" --duration "${secs}s" --json 2>/dev/null \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); print(round(d["rps"]) if d["errors"] == 0 else "errors")'
}

echo "calls/s, ${secs} s per cell, $(nproc) cores"
echo
echo "| server | 1 conn | 4 conns |"
echo "|---|---|---|"
row() { # row LABEL PROTO CMD...
  local label=$1 proto=$2; shift 2
  start x "$@"
  local a b
  a=$(rps "$proto" "$port" 1); b=$(rps "$proto" "$port" 4)
  stop
  echo "| $label | $a | $b |"
}
row "Python SimpleXMLRPCServer" rpc python3 "$work/server.py"
row "netlab rpc server --mode thread" rpc "$bin" rpc server -q -p 0 --mode thread
row "netlab rpc server --mode poll" rpc "$bin" rpc server -q -p 0 --mode poll
row "tcp-server --mode thread (64 B, the ceiling)" tcp "$bin" tcp-server -q -p 0 --mode thread
row "tcp-server --mode poll (64 B, the ceiling)" tcp "$bin" tcp-server -q -p 0 --mode poll
