#!/usr/bin/env bash
# Throughput, side by side with the kernel: one iperf3 TCP stream for SECONDS (default 5)
#   kernel -> kernel over a veth pair between two namespaces (the kernel's own speed here),
#   stack sending to the kernel over the TAP (iperf3 preloaded with tapstack run),
#   kernel sending to the stack over the TAP (iperf3 -R).
# Needs root and iperf3. Prints a table; not a test (timing belongs in benchmarks, not assertions).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
command -v iperf3 >/dev/null || { echo "bench: iperf3 is needed (apt-get install iperf3)"; exit 1; }
cargo build --release --quiet
bin=target/release/tapstack
a="bench-a-$$" b="bench-b-$$" t="bench-t-$$"
cleanup() {
  for ns in "$a" "$b" "$t"; do bash scripts/netns.sh delete "$ns"; done
}
trap cleanup EXIT

gbits() { python3 -c "import json,sys; print('%.2f' % (json.load(sys.stdin)['end']['sum_received']['bits_per_second'] / 1e9))"; }

# The kernel's own TCP between two namespaces over veth.
ip netns add "$a"; ip netns add "$b"
ip link add "vb$$" netns "$a" type veth peer name "vb$$" netns "$b"
ip -n "$a" addr add 10.77.9.1/24 dev "vb$$"; ip -n "$a" link set "vb$$" up
ip -n "$b" addr add 10.77.9.2/24 dev "vb$$"; ip -n "$b" link set "vb$$" up
ip netns exec "$b" timeout $((secs + 20)) iperf3 -s -1 -B 10.77.9.2 >/dev/null &
sleep 0.5
kernel=$(ip netns exec "$a" iperf3 -J -c 10.77.9.2 -t "$secs" | gbits)

# The stack over the TAP, each way.
bash scripts/netns.sh create "$t"
ip netns exec "$t" timeout $((secs + 20)) iperf3 -s -1 -B 10.77.0.1 >/dev/null &
sleep 0.5
send=$(ip netns exec "$t" "$bin" run -- iperf3 -J -c 10.77.0.1 -t "$secs" | gbits)
ip netns exec "$t" timeout $((secs + 20)) iperf3 -s -1 -B 10.77.0.1 >/dev/null &
sleep 0.5
recv=$(ip netns exec "$t" "$bin" run -- iperf3 -J -c 10.77.0.1 -t "$secs" -R | gbits)

printf '%-44s %8s Gbit/s\n' "kernel TCP over veth (one stream)" "$kernel" \
  "tapstack sending over the TAP (one stream)" "$send" \
  "tapstack receiving over the TAP (one stream)" "$recv"
