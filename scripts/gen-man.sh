#!/usr/bin/env bash
# Regenerates man/*.1 from the clap definition (the test man_pages_match_the_cli
# then checks that they match the CLI).
set -euo pipefail
cd "$(dirname "$0")/.."
NETLAB_WRITE_MAN=1 cargo test --quiet --bin netlab man_pages_match_the_cli
ls man
