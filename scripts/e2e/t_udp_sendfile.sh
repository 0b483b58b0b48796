#!/usr/bin/env bash
# sendfile(2) and splice(2) into a UDP socket the stack holds: the file's or the pipe's bytes go as
# one datagram to the socket's peer, as on Linux (an unconnected socket's EDESTADDRREQ, the file
# left where it was). (A splice out of one is refused with EINVAL, see the README.) The
# kernel's own calls on the socketpair under the socket took the file's first bytes for the
# stack's datagram header (sent elsewhere, or lost) and handed the header over as data.
source "$(dirname "$0")/lib.sh"
setup udpsendfile
inns timeout 30 python3 -c "
import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('$KERNEL_IP', 9100))
while True:
    d, a = u.recvfrom(2000); u.sendto(b'got ' + d, a)
" &
for _ in $(seq 50); do inns ss -Hlun "src $KERNEL_IP:9100" | grep -q . && break; sleep 0.1; done
printf '\001\000\047\032\012\115\000\001PAYLOAD' > "$WORK/file"
out=$(onstack -- timeout 20 python3 -c "
import os, socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
s.connect(('$KERNEL_IP', 9100))
f = open('$WORK/file', 'rb')
print('sendfile', os.sendfile(s.fileno(), f.fileno(), 0, 100))
print('whole file' if s.recv(100) == b'got ' + open('$WORK/file', 'rb').read() else 'other bytes')
r, w = os.pipe()
os.write(w, b'from a pipe')
print('splice in', os.splice(r, s.fileno(), 100))
print(s.recv(100))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    f.seek(0); os.sendfile(u.fileno(), f.fileno(), None, 100)
except OSError as e:
    print('unconnected', e.strerror, 'offset kept', f.tell())
" 2>&1)
echo "$out"
[ "$out" = "sendfile 15
whole file
splice in 11
b'got from a pipe'
unconnected Destination address required offset kept 0" ] || fail "sendfile or splice on a UDP socket"
echo "udp sendfile: sendfile and splice move whole datagrams to and from the socket's peer"
