#!/usr/bin/env bash
# Raw-frame TCP conformance, packetdrill-like: each case (cases.py) plays a fake peer at 10.77.0.9 on
# the kernel side of the link, drives a program's socket calls through an agent (agent.py), and
# checks what the side under test sends against what Linux sends.
#
#   scripts/conformance/run.sh [--kernel|--stack|--both] [CASE...]    (default --both, every case)
#
# --stack: the agent runs under `tapstack run` in a fresh namespace, the peer on tap0.
# --kernel: the agent runs on the kernel's own sockets in a second namespace ($NS-s, 10.77.0.2)
# behind a veth whose peer veth0 (10.77.0.1) carries the peer: the reference every case must pass.
# One line per case and target: PASS, or FAIL and the first difference (the frame seen and the one
# expected). A case listed in scripts/conformance/known (with why) may fail on the stack: KNOWN.
# Exits non-zero if any other case fails on either target. Needs root. TAPSTACK_BIN=PATH picks
# another build; each run's captures (one pcap per case and target, as the peer saw the link) and
# agent logs stay in the directory printed at the end.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The kernel's veth must send real segments (offloads off), or its frames are not what a wire carries.
command -v ethtool >/dev/null || { echo "conformance: ethtool is needed" >&2; exit 1; }
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${TAPSTACK_BIN:-$ROOT/target/release/tapstack}

targets="kernel stack"
case "${1:-}" in
  --kernel) targets=kernel; shift ;;
  --stack) targets=stack; shift ;;
  --both) shift ;;
  -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
cases=("$@")
[ ${#cases[@]} -gt 0 ] || read -ra cases <<< "$(python3 "$HERE/conform.py" --list)"
[[ " $targets " != *" stack "* ]] || [ -x "$BIN" ] || { echo "no $BIN: cargo build --release first" >&2; exit 2; }

OUT=$(mktemp -d /tmp/conformance.XXXXXX)
NS=""
n=0

# Deletes the namespaces of the current case (everything started in them goes with them).
teardown() {
  [ -n "$NS" ] || return 0
  bash "$ROOT/scripts/netns.sh" delete "$NS-s"
  bash "$ROOT/scripts/netns.sh" delete "$NS"
  NS=""
}
trap teardown EXIT
trap 'exit 130' INT TERM

# A namespace for one case: tap0 for the stack; for the kernel, veth0 (10.77.0.1) facing veth1
# (10.77.0.2) in $NS-s. Offloads off on veth1, so the kernel's frames reach the peer as real
# segments (no 64 KiB GSO super-frames, complete checksums).
mkns() {
  n=$((n + 1))
  NS="conf-$$-$n"
  if [ "$1" = stack ]; then
    bash "$ROOT/scripts/netns.sh" create "$NS"
    IFACE=tap0
  else
    bash "$ROOT/scripts/netns.sh" reference "$NS"
    IFACE=veth0
  fi
  # IPv6 has nothing to do here, and its neighbour discovery would only add frames to skip.
  ip netns exec "$NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 || true
}

failed=0
for c in "${cases[@]}"; do
  for tgt in $targets; do
    mkns "$tgt"
    # Bounded: a case's every wait is 2 s at most; 30 s for the whole is far beyond a sane case.
    res=$(ip netns exec "$NS" timeout 30 python3 "$HERE/conform.py" --target "$tgt" --iface "$IFACE" \
      --agent-ns "$NS-s" --bin "$BIN" --out "$OUT" "$c" 2>"$OUT/$c-$tgt.runner.log") || true
    [ -n "$res" ] || res="FAIL the runner died: $(tail -1 "$OUT/$c-$tgt.runner.log")"
    why=$(sed -n "s/^$c //p" "$HERE/known" 2>/dev/null | head -1)
    if [[ "$res" != PASS* && "$tgt" == stack && -n "$why" ]]; then
      res="KNOWN ($why): ${res#FAIL }"
    elif [[ "$res" == PASS* && "$tgt" == stack && -n "$why" ]]; then
      res="PASS (now matches Linux: take it out of scripts/conformance/known)"
    fi
    printf '%-30s %-7s %s\n' "$c" "$tgt" "$res"
    [[ "$res" == PASS* || "$res" == KNOWN* ]] || failed=1
    teardown
  done
done
echo "captures and logs: $OUT"
exit $failed
