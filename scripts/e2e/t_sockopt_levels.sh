#!/usr/bin/env bash
# getsockopt at a level neither the socket's protocol's nor IP's says EOPNOTSUPP, as Linux's
# tcp_getsockopt and udp_getsockopt hand it to ip_getsockopt (an unknown option of a known level
# stays ENOPROTOOPT); and a UDP send with MSG_PROBE sends nothing and returns its length (Linux's
# ip_make_skb returns before building the datagram; tracepath probes so). The stack's said
# ENOPROTOOPT for both levels, and sent the probe.
source "$(dirname "$0")/lib.sh"
setup sockoptlv
inns timeout 20 python3 -c "
import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('$KERNEL_IP', 9100)); u.settimeout(3)
try:
    print('peer got', u.recv(100))
except socket.timeout:
    print('peer got nothing')
" > "$WORK/peer" &
for _ in $(seq 50); do inns ss -Hlun "src $KERNEL_IP:9100" | grep -q . && break; sleep 0.1; done
out=$(onstack -- timeout 20 python3 -c "
import errno, socket
def e(f):
    try:
        return repr(f())
    except OSError as x:
        return errno.errorcode[x.errno]
t = socket.socket(); t.bind(('0.0.0.0', 0))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('0.0.0.0', 0))
print('tcp', e(lambda: t.getsockopt(99, 1)), e(lambda: t.getsockopt(socket.IPPROTO_UDP, 1)), e(lambda: t.getsockopt(socket.IPPROTO_TCP, 999)))
print('udp', e(lambda: u.getsockopt(99, 1)), e(lambda: u.getsockopt(socket.IPPROTO_TCP, 1)), e(lambda: u.getsockopt(socket.IPPROTO_IP, 999)))
print('probe', e(lambda: u.sendto(b'probe', 0x10, ('$KERNEL_IP', 9100))))
" 2>&1)
echo "$out"
wait
cat "$WORK/peer"
[ "$out" = "tcp ENOTSUP ENOTSUP ENOPROTOOPT
udp ENOTSUP ENOTSUP ENOPROTOOPT
probe 5" ] || fail "getsockopt levels or MSG_PROBE"
grep -qx "peer got nothing" "$WORK/peer" || fail "MSG_PROBE sent a datagram"
echo "sockopt levels: an unknown level EOPNOTSUPP, MSG_PROBE sends nothing, as on Linux"
