#!/usr/bin/env bash
# A connected UDP socket's error (ECONNREFUSED after an ICMP port unreachable) is held as Linux's
# sk_err: the first of a receive or SO_ERROR reports it, once. SO_ERROR used to say 0 (the error had
# already been queued for the next receive), and that receive reported it later all the same.
# A send reports it too, as Linux's does (sock_alloc_send_skb's sock_error), and that datagram does
# not go: the send after it does, and its port unreachable is the next receive's error. A receive
# reports it before a datagram that came earlier, as Linux's __skb_recv_udp.
source "$(dirname "$0")/lib.sh"
setup udperr
# A peer that answers the first datagram on 9998 with one of its own, then closes its socket: the
# program then has that datagram queued when the port unreachable for its next one comes.
inns timeout 30 python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('$KERNEL_IP', 9998))
s.settimeout(25)
_, a = s.recvfrom(100)
s.sendto(b'hello', a)
s.close()
" &
out=$(onstack -- timeout 20 python3 -c "
import socket, time
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.connect(('$KERNEL_IP', 9999))  # nothing listens: the kernel answers port unreachable
def recv():
    try:
        return c.recv(10, socket.MSG_DONTWAIT)
    except OSError as e:
        return e.errno
def settle():
    time.sleep(0.5)
c.send(b'1'); settle()
print('recv', recv() == 111, 'then', recv() == 11)
c.send(b'2'); settle()
print('SO_ERROR', c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 111, 'then recv', recv() == 11,
      'SO_ERROR', c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))
c.send(b'5'); settle()
def peek():
    try:
        return c.recv(10, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except OSError as e:
        return e.errno
print('peek', peek() == 111, 'then', recv() == 11)
c.setblocking(False)
c.send(b'6'); settle()
print('SO_ERROR', c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 111, 'non-blocking recv', recv() == 11)
c.setblocking(True)
def send(f, *a):
    try:
        return f(*a)
    except OSError as e:
        return -e.errno
c.send(b'7'); settle()
print('send', send(c.send, b'8'), 'then send', send(c.send, b'9'))
settle()
print('recv', recv() == 111, 'then', recv() == 11)
c.send(b'10'); settle()
print('sendmsg', send(c.sendmsg, [b'11']), 'SO_ERROR', c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))
c.send(b'12'); settle()
print('sendto', send(c.sendto, b'13', ('$KERNEL_IP', 9999)), 'then', send(c.sendto, b'14', ('$KERNEL_IP', 9999)))
import select
d = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
d.connect(('$KERNEL_IP', 9998))
d.send(b'ready')
select.select([d], [], [], 5); settle()
d.send(b'x'); settle()
def drecv():
    try:
        return d.recv(10, socket.MSG_DONTWAIT)
    except OSError as e:
        return e.errno
print('with a datagram queued: recv', drecv() == 111, 'then', drecv())
" 2>&1)
echo "$out"
expected="recv True then True
SO_ERROR True then recv True SO_ERROR 0
peek True then True
SO_ERROR True non-blocking recv True
send -111 then send 1
recv True then True
sendmsg -111 SO_ERROR 0
sendto -111 then 2
with a datagram queued: recv True then b'hello'"
[ "$out" = "$expected" ] || fail "UDP error reporting differs from Linux's"
echo "udp error: ECONNREFUSED from a port unreachable is reported once, by a receive, a send or SO_ERROR"
