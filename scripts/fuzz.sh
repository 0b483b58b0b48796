#!/usr/bin/env bash
# Coverage-guided fuzzing: builds every target in fuzz/ with cargo-fuzz (libFuzzer, on stable Rust:
# see fuzz/README.md) and runs each for SECONDS (default 10), one after the other, starting from
# its seeds (captured traffic), its regression inputs and whatever corpus earlier runs left in
# fuzz/corpus/. Prints libFuzzer's executions and coverage per target; exits non-zero if any
# target crashes, panics, times out or runs out of memory (the input is left in fuzz/artifacts/).
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]
#
# FUZZ_TARGET_DIR overrides the build directory (default fuzz/target).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
shift || true

# What the build needs, installed when missing (CI starts from a fresh machine): a C++ compiler
# for libFuzzer itself, and cargo-fuzz.
if ! command -v c++ >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends g++ >/dev/null
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked --version 0.13.2 --quiet
fi

export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$PWD/fuzz/target}
# No sanitizer: ASan needs nightly's -Zsanitizer, and the code under test is safe Rust. Release
# code with debug assertions and overflow checks on, so an arithmetic overflow is a crash.
flags=(--sanitizer none --release --debug-assertions)
cd fuzz
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi
# With no target named, `cargo fuzz build` builds them all.
if [ $# -eq 0 ]; then
  cargo fuzz build "${flags[@]}"
else
  for t in "${targets[@]}"; do cargo fuzz build "${flags[@]}" "$t"; done
fi

mkdir -p logs
summary=()
failed=()
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "seeds/$t" "regressions/$t" "artifacts/$t"
  log="logs/$t.log"
  echo "== $t: ${secs}s"
  set +e
  # Inputs of the stack target are programs of operations, longer than one frame.
  cargo fuzz run "${flags[@]}" "$t" "corpus/$t" "seeds/$t" "regressions/$t" -- \
    -max_total_time="$secs" -max_len=8192 -timeout=20 -rss_limit_mb=2048 \
    -print_final_stats=1 -print_pcs=0 >"$log" 2>&1
  rc=$?
  set -e
  # libFuzzer's closing status line and its totals.
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  echo "   $last"
  summary+=("$(printf '%-14s %s  executions %s (%s/s)' "$t" \
    "$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9a-zA-Z]+' <<<"$last")" "${execs:-?}" "${rate:-?}")")
  if [ $rc -ne 0 ]; then
    failed+=("$t")
    echo "!! $t failed (exit $rc); the end of its log ($PWD/$log):"
    tail -40 "$log"
  fi
done

echo
echo "fuzz summary (${secs}s per target):"
printf '  %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]} (inputs in fuzz/artifacts/)"
  exit 1
fi
echo "no crash in ${#targets[@]} targets"
