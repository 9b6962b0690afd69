# Shared by the benchmark scripts: a scratch directory, and servers started
# in the background whose ready line gives their port.
# shellcheck shell=bash
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT

start() { # start NAME CMD... : runs a server, waits for its ready line, sets $port
  "${@:2}" >"$work/$1.ready" 2>/dev/null &
  for _ in $(seq 200); do grep -q ready "$work/$1.ready" 2>/dev/null && break; sleep 0.05; done
  port=$(sed -n 's/^server ready on .*:\([0-9]*\)$/\1/p' "$work/$1.ready")
}

stop() { # stops the server started last
  kill %% 2>/dev/null || true
  wait 2>/dev/null || true
}
