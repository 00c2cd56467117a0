#!/usr/bin/env bash
# µs per event of a no-op PYTHON stage: REPLAY,BASE,PYTHON(no-op),JSON against
# REPLAY,BASE,JSON, threads=0 and threads=2 (ulogd-python/benches/python_stage.rs).
# Needs Debian's python3-dev (3.11). EVENTS=n sets the number of replayed packets.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench -p ulogd-python --features python --bench python_stage "$@"
