#!/usr/bin/env bash
# A non-blocking connect shut down while in SYN-SENT, then connected again to a live peer: the new
# connection's SO_ERROR is 0, as Linux's tcp_connect_init clears the socket's error; the stack's
# kept the ECONNRESET of the first attempt, and an event loop (asyncio, Java NIO) reading SO_ERROR
# once writable took the working connection for a failed one.
source "$(dirname "$0")/lib.sh"
setup reconnshut
start_pm_peer
out=$(onstack -- timeout 20 python3 -c "
import errno, select, socket, time
s = socket.socket(); s.setblocking(False)
s.connect_ex(('10.77.0.99', 5000))
s.shutdown(socket.SHUT_RDWR)
time.sleep(0.2)
print('reconnect', errno.errorcode.get(s.connect_ex(('$KERNEL_IP', 9000)), 0))
print('writable', len(select.select([], [s], [], 3)[1]))
print('SO_ERROR', errno.errorcode.get(s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR), 0))
s.setblocking(True); s.settimeout(2)
s.sendall(b'hi'); print('echo', s.recv(10))
" 2>&1)
echo "$out"
[ "$out" = "reconnect EINPROGRESS
writable 1
SO_ERROR 0
echo b'hi'" ] || fail "SO_ERROR after a connect shut down in SYN-SENT"
echo "reconnect after shutdown: the new connection's SO_ERROR is 0, as on Linux"
