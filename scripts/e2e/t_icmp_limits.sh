#!/usr/bin/env bash
# ICMP as Linux sends it, seen from the kernel's side of the link: 100 datagrams to closed ports
# at once draw 6 port unreachables (the per-destination limit of inet_peer_xrlim_allow: a burst of
# 6, then one per icmp_ratelimit; the stack answered 50, its host-wide burst), each with TOS 0xd0
# for a datagram's 0x10 (__icmp_send: the TOS field under precedence internetwork control); an
# echo reply carries the request's TOS (icmp_reply); and a broadcast a program on the stack sends
# reaches the stack's own socket bound to that port (ip_mc_output loops it back) as well as the wire.
source "$(dirname "$0")/lib.sh"
setup icmplim
# A program on the stack, so that the stack is there to answer (a TCP listener it holds open).
onstack -- timeout 30 python3 -c "
import socket, time
l = socket.socket(); l.bind(('0.0.0.0', 7400)); l.listen(1); time.sleep(25)
" &
wait_port "$STACK_IP" 7400
out=$(inns timeout 20 python3 -c "
import socket, time
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP); raw.settimeout(0.2)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0x10)
u.sendto(b'warm', ('$STACK_IP', 39999))  # the neighbour learnt first; this one counts too
time.sleep(0.3)
for i in range(99):
    u.sendto(b'x', ('$STACK_IP', 40000 + i))
unreach, tos = 0, set()
end = time.time() + 1.0
while time.time() < end:
    try:
        p, a = raw.recvfrom(2000)
    except socket.timeout:
        continue
    if a[0] == '$STACK_IP' and p[20] == 3 and p[21] == 3:
        unreach += 1; tos.add(p[1])
print('unreachables', unreach, 'tos', sorted(hex(t) for t in tos))
ping = bytes([8, 0, 0, 0, 0x12, 0x34, 0, 1]) + b'tos'
s = sum(int.from_bytes(ping[i:i+2], 'big') for i in range(0, len(ping) - 1, 2)) + (ping[-1] << 8)
s = (s >> 16) + (s & 0xffff); s += s >> 16
ping = ping[:2] + (~s & 0xffff).to_bytes(2, 'big') + ping[4:]
raw.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0x2b)
time.sleep(1.2)
raw.sendto(ping, ('$STACK_IP', 0))
end = time.time() + 2
while time.time() < end:
    try:
        p, a = raw.recvfrom(2000)
    except socket.timeout:
        continue
    if a[0] == '$STACK_IP' and p[20] == 0:
        print('echo reply tos', hex(p[1])); break
" 2>&1)
echo "$out"
[ "$out" = "unreachables 6 tos ['0xd0']
echo reply tos 0x2b" ] || fail "ICMP limits or TOS"
# The stack routes through 10.77.0.1 by default; so does the kernel's side here (255.255.255.255
# has no route without one).
[ -z "$E2E_KERNEL" ] || ip -n "$NS-s" route add default via "$KERNEL_IP"
got=$(onstack -- timeout 20 python3 -c "
import socket
a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); a.bind(('0.0.0.0', 7303)); a.settimeout(2)
b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); b.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
for to in ('10.77.0.255', '255.255.255.255'):
    b.sendto(to.encode(), (to, 7303))
    try:
        print('got', a.recvfrom(100)[0].decode())
    except socket.timeout:
        print('nothing for', to)
" 2>&1)
echo "$got"
[ "$got" = "got 10.77.0.255
got 255.255.255.255" ] || fail "a broadcast did not loop back to our own socket"
echo "icmp limits: 6 unreachables of 100 with Linux's TOS, the echo reply's TOS, broadcasts looped back"
