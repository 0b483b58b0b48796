#!/usr/bin/env bash
# A dual-stack UDP socket ([::], as Java's and other dual-stack servers make them) with
# IPV6_RECVPKTINFO gets IPV6_PKTINFO with every datagram, as Linux's udpv6_recvmsg gives it: for one
# from the kernel side (IPv4 over the TAP) the destination IPv4-mapped and the TAP's index, before
# IP_PKTINFO when that is on too; for one from 127.0.0.1 likewise with lo; for one from ::1 the
# address ::1 alone. The stack used to refuse the option (ENOPROTOOPT; set before the socket went to
# the stack, as Java sets it to 0 on every datagram socket, it was dropped with a warning).
# E2E_KERNEL=1 runs it on kernel sockets.
source "$(dirname "$0")/lib.sh"
setup pktinfo6
tapname=tap0
[ -n "$E2E_KERNEL" ] && tapname=veth1
cat > "$WORK/p6.py" <<PY

import ipaddress, socket, struct, sys
IP_PKTINFO = 8
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 0)
s.bind(('::', 7400))
print('IPV6_RECVPKTINFO', s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO))
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
print('IPV6_RECVPKTINFO', s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO))
try:
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, b'\x01')
except OSError as e:
    print('one byte:', e.strerror)
tap = socket.if_nametoindex('$tapname')
def show(tag):
    data, anc, flags, frm = s.recvmsg(100, 1024)
    out = []
    for level, kind, d in anc:
        if (level, kind) == (socket.IPPROTO_IPV6, socket.IPV6_PKTINFO):
            addr, index = ipaddress.IPv6Address(d[:16]), struct.unpack('I', d[16:20])[0]
            addr = '::ffff:%s' % addr.ipv4_mapped if addr.ipv4_mapped else addr
            out.append('IPV6_PKTINFO %s %s' % (addr, 'tap' if index == tap else 'lo' if index == 1 else index))
        elif (level, kind) == (socket.IPPROTO_IP, IP_PKTINFO):
            index = struct.unpack('i', d[:4])[0]
            out.append('IP_PKTINFO %s %s' % (socket.inet_ntoa(d[8:12]), 'tap' if index == tap else 'lo' if index == 1 else index))
        else:
            out.append('%d/%d' % (level, kind))
    print(tag, data.decode(), 'from', frm[0], '|', ', '.join(out))
print('ready', flush=True)
show('tap:')
s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
print('ready', flush=True)
show('tap:')
for to, fam in (('127.0.0.1', socket.AF_INET), ('::1', socket.AF_INET6)):
    c = socket.socket(fam, socket.SOCK_DGRAM)
    c.sendto(b'local', (to, 7400))
    show('loopback:')
PY
onstack -- timeout 30 python3 "$WORK/p6.py" > "$WORK/out" 2>&1 || echo "exit $?" >> "$WORK/out" &
prog=$!
# send N TEXT: once the program said "ready" N times, a datagram TEXT from the kernel side.
send() {
  for _ in $(seq 200); do
    [ "$(grep -c '^ready$' "$WORK/out")" -ge "$1" ] && break
    kill -0 "$prog" 2>/dev/null || break
    sleep 0.1
  done
  [ "$(grep -c '^ready$' "$WORK/out")" -ge "$1" ] || fail "the program did not get ready: $(cat "$WORK/out")"
  inns python3 -c "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'$2', ('$STACK_IP', 7400))"
}
send 1 one
send 2 two
wait "$prog" || fail "the program failed: $(cat "$WORK/out")"
expected="IPV6_RECVPKTINFO 0
IPV6_RECVPKTINFO 1
one byte: Invalid argument
tap: one from ::ffff:$KERNEL_IP | IPV6_PKTINFO ::ffff:$STACK_IP tap
tap: two from ::ffff:$KERNEL_IP | IPV6_PKTINFO ::ffff:$STACK_IP tap, IP_PKTINFO $STACK_IP tap
loopback: local from ::ffff:127.0.0.1 | IPV6_PKTINFO ::ffff:127.0.0.1 lo, IP_PKTINFO 127.0.0.1 lo
loopback: local from ::1 | IPV6_PKTINFO ::1 lo"
out=$(grep -v "^ready$" "$WORK/out")
[ "$out" = "$expected" ] || fail "$(diff <(echo "$expected") <(echo "$out"))"
echo "udp_pktinfo6: IPV6_RECVPKTINFO on a dual-stack UDP socket gives Linux's IPV6_PKTINFO (IPv4-mapped over the TAP and 127.0.0.1, ::1 from IPv6 loopback)"
