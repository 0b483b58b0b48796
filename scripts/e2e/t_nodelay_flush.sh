#!/usr/bin/env bash
# Setting TCP_NODELAY sends what a cork holds at once (tcp(7): "setting this option forces an
# explicit flush of pending output", Linux's __tcp_sock_set_nodelay pushing with TCP_NAGLE_PUSH);
# the stack's waited for the persist timer, about 200 ms.
source "$(dirname "$0")/lib.sh"
setup nodelayfl
inns timeout 20 python3 -c "
import socket
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(('$KERNEL_IP', 9700)); l.listen(1)
c, _ = l.accept()
while True:
    d = c.recv(100)
    if not d:
        break
    c.sendall(d)
" &
wait_port "$KERNEL_IP" 9700
out=$(onstack -- timeout 20 python3 -c "
import socket, time
s = socket.create_connection(('$KERNEL_IP', 9700))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
s.send(b'ab')
time.sleep(0.05)
t0 = time.time()
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
got = s.recv(100)
took = time.time() - t0
print(got, 'at once' if took < 0.1 else 'after %.2f s' % took)
" 2>&1)
echo "$out"
[ "$out" = "b'ab' at once" ] || fail "TCP_NODELAY did not flush the corked data"
echo "nodelay flush: TCP_NODELAY sends what the cork holds at once"
