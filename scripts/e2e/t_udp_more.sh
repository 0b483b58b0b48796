#!/usr/bin/env bash
# UDP sends with MSG_MORE are one datagram, as Linux's udp_sendmsg corks them: the pieces join
# until a send without the flag, to the address of the first; past 65 507 bytes the pending datagram
# is dropped with EMSGSIZE. A stack socket used to send each piece as a datagram of its own.
source "$(dirname "$0")/lib.sh"
setup udpmore
inns timeout 30 python3 -c "
import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('$KERNEL_IP', 9100))
while True:
    d, a = u.recvfrom(65535); u.sendto(b'%d %s' % (len(d), d[:12]), a)
" &
for _ in $(seq 50); do inns ss -Hlun "src $KERNEL_IP:9100" | grep -q . && break; sleep 0.1; done
out=$(onstack -- timeout 20 python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
to = ('$KERNEL_IP', 9100)
print(s.sendto(b'abc', socket.MSG_MORE, to), s.sendmsg([b'de', b'fg'], [], socket.MSG_MORE), s.sendto(b'h', to))
print(s.recv(100))
s.connect(to)
s.send(b'x' * 65000, socket.MSG_MORE)
try:
    s.send(b'y' * 600)
except OSError as e:
    print('EMSGSIZE', e.errno == 90)
s.send(b'after')
print(s.recv(100))
" 2>&1)
echo "$out"
[ "$out" = "3 4 1
b'8 abcdefgh'
EMSGSIZE True
b'5 after'" ] || fail "MSG_MORE on a UDP socket"
echo "udp more: sends with MSG_MORE join into one datagram; EMSGSIZE past 65507 bytes drops it"
