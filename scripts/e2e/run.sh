#!/usr/bin/env bash
# Runs every end-to-end test (scripts/e2e/t_*.sh), each in its own namespace, against real programs.
# Prints "N passed, M failed" and exits non-zero if any failed. `run.sh PREFIX` runs only the tests
# whose file name starts with PREFIX (e.g. `E2E_KERNEL=1 scripts/e2e/run.sh t_pm_`).
set -u
cd "$(dirname "$0")/../.."
passed=0 failed=0 names=()
for t in scripts/e2e/"${1:-t_}"*.sh; do
  name=$(basename "$t" .sh)
  if timeout 300 bash "$t" > "/tmp/tapstack-$name.log" 2>&1; then
    passed=$((passed + 1))
    echo "ok    $name: $(grep -v -e "Terminated" -e "^dnsmasq" "/tmp/tapstack-$name.log" | tail -n 1)"
  else
    failed=$((failed + 1)) names+=("$name")
    echo "FAIL  $name"
    sed 's/^/      /' "/tmp/tapstack-$name.log" | tail -n 30
  fi
done
echo "e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
