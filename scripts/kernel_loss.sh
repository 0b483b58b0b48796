#!/bin/bash
# The kernel's own TCP under the loss of tests/tcp_kernel.rs lossy_transfer, to compare with the
# stack: 16 MiB each way between two namespaces of our own joined by a veth (offloads off, so
# frames are MTU-sized as on the TAP), PERCENT% of frames dropped each way by nftables.
#   bash scripts/kernel_loss.sh [PERCENT] [wire|tap] [CONGESTION]
# wire: an ingress drop on each end (wire loss both ways). tap: ingress and egress drops on one
# end, as the test does on tap0 (the egress drop is a local transmit failure to the kernel).
# CONGESTION (default cubic, the stack's default) is set on both sockets with TCP_CONGESTION: the
# namespace's own default is the host's, which on these machines is bbr, a rate-based algorithm
# that barely answers random loss, so comparing it with a loss-based stack would compare the
# algorithms, not the recovery. `bbr` or `reno` measure those instead.
# Prints each side's time and its nstat counters. Needs root, python3, nft, ethtool.
set -eu
P=${1:-5}
MODE=${2:-wire}
CC=${3:-cubic}
A=tskl-a-$$
B=tskl-b-$$
DIR=$(mktemp -d)
cleanup() {
    ip netns del "$A" 2>/dev/null || true
    ip netns del "$B" 2>/dev/null || true
    rm -rf "$DIR"
}
trap cleanup EXIT INT TERM
ip netns add "$A"
ip netns add "$B"
ip -n "$A" link add va type veth peer name vb netns "$B"
ip -n "$A" addr add 10.77.0.1/24 dev va
ip -n "$B" addr add 10.77.0.2/24 dev vb
for ns in "$A" "$B"; do ip -n "$ns" link set lo up; done
ip -n "$A" link set va up
ip -n "$B" link set vb up
ip netns exec "$A" ethtool -K va tso off gso off gro off tx off >/dev/null
ip netns exec "$B" ethtool -K vb tso off gso off gro off tx off >/dev/null
drop="numgen random mod 100 < $P drop"
rules() { # NS DEV EGRESS-RULE
    ip netns exec "$1" nft -f - <<NFT
table netdev loss {
  chain in  { type filter hook ingress device "$2" priority 0; counter $drop; }
  chain out { type filter hook egress  device "$2" priority 0; counter $3; }
}
NFT
}
case $MODE in
wire) rules "$A" va "" && rules "$B" vb "" ;;
tap) rules "$A" va "$drop" ;;
*) echo "mode: wire or tap" >&2; exit 2 ;;
esac
cat >"$DIR/peer.py" <<'PY'
import os, socket, sys, threading, time
N = 16 << 20
if sys.argv[1] == 'server':
    l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, sys.argv[2].encode())
    l.bind(('10.77.0.2', 9100)); l.listen(1); print('READY', flush=True)
    s, _ = l.accept()
else:
    s = socket.socket()
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, sys.argv[2].encode())
    s.connect(('10.77.0.2', 9100))
data = os.urandom(N)
got = [0]
def rx():
    while got[0] < N:
        b = s.recv(1 << 20)
        if not b: break
        got[0] += len(b)
t0 = time.time()
th = threading.Thread(target=rx); th.start()
s.sendall(data)
th.join(timeout=100)
print(sys.argv[1], 'received', got[0], 'in %.3f s' % (time.time() - t0), '(' + sys.argv[2] + ')', flush=True)
s.close()
PY
ip netns exec "$B" timeout 120 python3 "$DIR/peer.py" server "$CC" >"$DIR/server.out" &
for _ in $(seq 50); do grep -q READY "$DIR/server.out" 2>/dev/null && break; sleep 0.1; done
ip netns exec "$A" timeout 120 python3 "$DIR/peer.py" client "$CC"
wait
grep -v READY "$DIR/server.out"
for ns in "$A" "$B"; do
    echo "$ns: $(ip netns exec "$ns" nstat -asz | awk '/^(TcpOutSegs|TcpRetransSegs|TcpExtTCPTimeouts|TcpExtTCPLossProbes|TcpExtTCPSackRecovery|TcpExtTCP[A-Za-z]*Undo|TcpExtTCPLostRetransmit|TcpExtTCPSpuriousRTOs|TcpExtTCPDSACKRecv|TcpExtTCPSACKReorder|TcpExtTCPFastRetrans|TcpExtTCPLossFailures|TcpExtTCPSackFailures|TcpExtTCPDelivered) /{printf "%s %s  ", $1, $2}')"
done
