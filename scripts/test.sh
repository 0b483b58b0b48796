#!/usr/bin/env bash
# Every test: unit tests, simulations, the tests against the Linux kernel over a real TAP (each in its
# own network namespace), and end-to-end runs of real programs (curl, wget, python, servers) through
# the preloaded library. Needs root, and the tools that .ci/run installs.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --all-targets
# Release mode: the simulations push megabytes through thousands of seeded runs.
cargo test --release --all-targets -- --test-threads="${TEST_THREADS:-2}"
bash scripts/c-tests.sh
# The socket API and TCP on the wire beside the Linux kernel, call by call and frame by frame.
bash scripts/sockapi_conform.sh
bash scripts/conformance/run.sh --both
bash scripts/e2e/run.sh
