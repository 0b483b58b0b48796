#!/usr/bin/env bash
# A program that puts a stack socket on descriptor 2 (as inetd-style servers do) and runs with
# trace logging: the stack's own log lines must neither land in the connection nor re-enter the
# stack and hang it. The kernel-side peer receives exactly what the program sent.
source "$(dirname "$0")/lib.sh"
setup stderr
inns timeout 20 python3 -c "
import socket
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(('$KERNEL_IP', 7100)); l.listen(1)
c, a = l.accept(); data = b''
while True:
    d = c.recv(65536)
    if not d: break
    data += d
print('PEER', a[0], repr(data))
" > "$WORK/peer.out" &
wait_port "$KERNEL_IP" 7100
onstack --log trace -- timeout 20 python3 -c "
import os, socket
s = socket.create_connection(('$KERNEL_IP', 7100))
os.dup2(s.fileno(), 2)
s.sendall(b'only this\n')
# Connection attempts log state changes while the stack is locked.
t = socket.socket(); t.settimeout(3)
try:
    t.connect(('$KERNEL_IP', 7199))
except OSError as e:
    print('second connect:', e.strerror)
s.close(); os.close(2)
" > "$WORK/client.out" 2>/dev/null || fail "the client failed: $(cat "$WORK/client.out")"
grep -q "second connect: Connection refused" "$WORK/client.out" || fail "client: $(cat "$WORK/client.out")"
for _ in $(seq 50); do [ -s "$WORK/peer.out" ] && break; sleep 0.1; done
expected="PEER $STACK_IP b'only this\\n'"
[ "$(cat "$WORK/peer.out")" = "$expected" ] || fail "the peer got: $(cat "$WORK/peer.out")"
echo "stderr: a stack socket on descriptor 2 carried only the program's bytes under trace logging"
