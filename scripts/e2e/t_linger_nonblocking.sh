#!/usr/bin/env bash
# SO_LINGER with a time holds close() on a non-blocking socket too, as Linux's inet_release does
# for any socket (only an exiting process's close does not wait): with data the peer does not read,
# the close returns when the time is up. The stack's returned at once for a non-blocking socket.
source "$(dirname "$0")/lib.sh"
setup lingernb
inns timeout 20 python3 -c "
import socket, time
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
l.bind(('$KERNEL_IP', 9500)); l.listen(1)
c, _ = l.accept(); time.sleep(5)
" &
wait_port "$KERNEL_IP" 9500
out=$(onstack -- timeout 20 python3 -c "
import socket, struct, time
s = socket.create_connection(('$KERNEL_IP', 9500)); s.setblocking(False)
try:
    while True:
        s.send(b'x' * 65536)
except BlockingIOError:
    pass
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 1))
t0 = time.time(); s.close(); took = time.time() - t0
print('close waited' if 0.8 < took < 3 else 'close returned after %.2f s' % took)
" 2>&1)
echo "$out"
[ "$out" = "close waited" ] || fail "SO_LINGER on a non-blocking socket"
echo "linger nonblocking: close waits out SO_LINGER's time on a non-blocking socket, as on Linux"
