#!/usr/bin/env bash
# The fault matrix and a soak of random faults (issue 11), for the README's fault table: every
# test of tests/faults.rs, tests/exactly_once.rs and tests/failover.rs, and the ignored
# `soak_random_faults_lose_nothing`, which injects SOAK_FAULTS (default 100) faults drawn at random
# (seed SOAK_SEED, else the clock; the test prints it) while the application writes, then checks
# that nothing was lost. It runs through scripts/test.sh (the same services, set up the same way),
# without lint; each case prints its verdict (changes checked, lost, duplicated, stale).
#
# Usage: bash scripts/soak.sh            (about 10 minutes on 2 cores)
#        SOAK_FAULTS=20 SOAK_SEED=42 bash scripts/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export SOAK_FAULTS=${SOAK_FAULTS:-100}
TRIBUTARY_SKIP_LINT=1 exec bash scripts/test.sh --run-ignored all --no-capture \
  -E 'binary(faults) | binary(exactly_once) | binary(failover)'
