#!/usr/bin/env bash
# The fault matrix and a soak of random faults (issue 11), for the README's fault table: every
# test of tests/matrix.rs, tests/cluster_matrix.rs, tests/faults.rs, tests/exactly_once.rs, tests/exactly_once_lanes.rs and tests/failover.rs, with
# `soak_random_faults_lose_nothing` injecting SOAK_FAULTS (default here 100; 20 in the test suite)
# faults drawn at random (SOAK_SEED, default here `random`: the clock's, printed by the test) while
# the application writes, then checking that nothing was lost. It runs through scripts/test.sh (the same services, set up the same way),
# without lint; each case prints its verdict (changes checked, lost, duplicated, stale).
#
# Usage: bash scripts/soak.sh            (about 10 minutes on 2 cores)
#        SOAK_FAULTS=20 SOAK_SEED=42 bash scripts/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export SOAK_FAULTS=${SOAK_FAULTS:-100}
export SOAK_SEED=${SOAK_SEED:-random}
TRIBUTARY_SKIP_LINT=1 exec bash scripts/test.sh --no-capture --run-ignored all \
  -E 'binary(matrix) | binary(cluster_matrix) | binary(faults) | binary(exactly_once) | binary(exactly_once_lanes) | binary(failover)'
