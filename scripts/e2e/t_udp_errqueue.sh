#!/usr/bin/env bash
# recvmsg(MSG_ERRQUEUE) on a UDP socket whose error queue is empty fails with EAGAIN at once
# (Linux's ip_recv_error), and the datagram waiting in the receive queue stays there for the next
# ordinary receive: a stack socket's used to hand it over as if it were an error message.
source "$(dirname "$0")/lib.sh"
setup udperrq
inns timeout 30 python3 -c "
import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('$KERNEL_IP', 9100))
while True:
    d, a = u.recvfrom(100); u.sendto(d, a)
" &
for _ in $(seq 50); do inns ss -Hlun "src $KERNEL_IP:9100" | grep -q . && break; sleep 0.1; done
out=$(onstack -- timeout 20 python3 -c "
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, 11, 1)  # IP_RECVERR, as programs that read the error queue set it
s.sendto(b'datagram', ('$KERNEL_IP', 9100)); time.sleep(0.5)
for flags in (socket.MSG_ERRQUEUE | socket.MSG_DONTWAIT, socket.MSG_ERRQUEUE):
    try:
        print('errqueue gave', s.recvmsg(100, 1024, flags)[0])
    except BlockingIOError:
        print('errqueue EAGAIN')
s.settimeout(2)
print('then', s.recv(100))
" 2>&1)
echo "$out"
[ "$out" = "errqueue EAGAIN
errqueue EAGAIN
then b'datagram'" ] || fail "MSG_ERRQUEUE on a UDP socket"
echo "udp errqueue: recvmsg(MSG_ERRQUEUE) says EAGAIN and leaves the datagram to the next receive"
