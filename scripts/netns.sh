#!/usr/bin/env bash
# The test network: a network namespace holding a TAP device whose kernel side is 10.77.0.1/24.
#
#   scripts/netns.sh create NAME [KERNEL_CIDR]   make namespace NAME with tap0 (default 10.77.0.1/24)
#   scripts/netns.sh reference NAME              the kernel as the reference instead of the stack:
#                                                namespace NAME with veth0 (10.77.0.1/24) facing veth1
#                                                (10.77.0.2/24) in namespace NAME-s, offloads off on
#                                                veth1 so its frames are the segments a wire carries
#   scripts/netns.sh delete NAME                 delete it, and the NAME-s that reference made (and
#                                                everything in them); quiet if absent
#   scripts/netns.sh exec NAME CMD...            run CMD inside it
#
# The stack attaches to tap0 from inside the namespace and takes 10.77.0.2. Nothing is routed out of
# the namespace: it has no other interface but its own loopback. Use a unique NAME per test, so
# parallel runs never collide, and delete it even when the test fails (trap ... EXIT).
set -euo pipefail

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

[ $# -ge 2 ] || usage
cmd=$1 name=$2
shift 2

case "$cmd" in
  create)
    cidr=${1:-10.77.0.1/24}
    ip netns add "$name"
    # From here on, a failure must not leave a half-made namespace behind.
    trap 'ip netns delete "$name" 2>/dev/null || true' ERR
    ip -n "$name" link set lo up
    ip -n "$name" tuntap add dev tap0 mode tap
    ip -n "$name" addr add "$cidr" dev tap0
    ip -n "$name" link set tap0 up
    trap - ERR
    ;;
  reference)
    ip netns add "$name"
    ip netns add "$name-s"
    trap 'ip netns delete "$name" 2>/dev/null || true; ip netns delete "$name-s" 2>/dev/null || true' ERR
    ip -n "$name" link set lo up
    ip -n "$name-s" link set lo up
    ip -n "$name" link add veth0 type veth peer name veth1 netns "$name-s"
    ip -n "$name" addr add 10.77.0.1/24 dev veth0
    ip -n "$name-s" addr add 10.77.0.2/24 dev veth1
    ip netns exec "$name-s" ethtool -K veth1 tso off gso off gro off tx off >/dev/null 2>&1 || true
    ip -n "$name" link set veth0 up
    ip -n "$name-s" link set veth1 up
    trap - ERR
    ;;
  delete)
    # NAME-s too, when `reference` made it (its veth1 says so): one delete undoes one create.
    targets=("$name")
    if ip -n "$name-s" link show veth1 >/dev/null 2>&1; then targets+=("$name-s"); fi
    for n in "${targets[@]}"; do
      ip netns pids "$n" 2>/dev/null | xargs -r kill -TERM 2>/dev/null || true
      ip netns delete "$n" 2>/dev/null || true
    done
    ;;
  exec)
    [ $# -ge 1 ] || usage
    exec ip netns exec "$name" "$@"
    ;;
  *) usage ;;
esac
