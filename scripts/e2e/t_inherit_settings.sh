#!/usr/bin/env bash
# Sockets inherited over exec keep what the process before gave them (scripts/e2e/
# inherit_settings.py): a connected UDP socket sends without an address, SO_BROADCAST and
# IP_PMTUDISC_DO hold for its sends, TCP_INQ and SO_RCVLOWAT for a TCP socket's reads. The shim keeps these per
# process; a socket it did not make learns them from the service before its first call that needs
# them (before, the connected socket's send said EDESTADDRREQ, the broadcast EACCES, and the
# datagram over the MTU went, a read below the mark said EAGAIN). Runs on the kernel too (E2E_KERNEL=1): the same line.
source "$(dirname "$0")/lib.sh"
setup inherit
inns timeout 40 python3 -c "
import socket, threading
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('$KERNEL_IP', 7991))
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(('$KERNEL_IP', 7993)); l.listen(4)
print('ready', flush=True)
c, _ = l.accept(); c.sendall(b'hello')
d, _ = l.accept(); d.sendall(b'below')
import time
for _ in range(200):
    if 'listening' in open('$WORK/out').read():
        break
    time.sleep(0.05)
e = socket.create_connection(('$STACK_IP', 7994), timeout=10); e.sendall(b'below'); c.recv(1)
" > "$WORK/peer.out" 2>&1 &
wait_line "$WORK/peer.out" ready 50 $! "the peers did not start"
: > "$WORK/out"
onstack -- timeout 30 python3 "$ROOT/scripts/e2e/inherit_settings.py" "$KERNEL_IP" >> "$WORK/out" 2>&1 || true
sed -i '/^listening$/d' "$WORK/out"
want="child: send ok; broadcast ok; DO 3000 EMSGSIZE; tcp b'hello' inq True; below the mark b'below'; 8 threads ['ok']; accepted below the mark b'below'"
[ "$(cat "$WORK/out")" = "$want" ] || fail "got: $(cat "$WORK/out")"
echo "inherit settings: over exec, a connected UDP socket sent (from 8 threads at once too), SO_BROADCAST and IP_PMTUDISC_DO held, TCP_INQ gave its control message, a non-blocking read below SO_RCVLOWAT the bytes there, on an accepted connection too"
