#!/usr/bin/env bash
# Signals and blocking calls under the preload, with a C program (scripts/e2e/signals.c): the masks
# of ppoll, pselect and epoll_pwait(2) are set atomically with the sleep; blocking socket calls are
# restarted after an SA_RESTART handler (EINTR without one, or with a socket timeout; a send that
# sent a part returns it), and poll and epoll_wait never are.
source "$(dirname "$0")/lib.sh"
setup signals
build_c signals

out=$(onstack -- timeout 30 "$WORK/signals" masks 2>&1) || fail "masks: $out"
echo "$out" | grep -q "PASS masks" || fail "masks: $out"

# The peer of the restart part: on each connection to 9100, a second after the command byte, 'r'
# sends "late" back, 'a' connects to the stack's listener on 9101, 's' reads nothing (with a small
# receive buffer, so a big send blocks).
inns timeout 60 python3 -c "
import socket, threading, time
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
l.bind(('$KERNEL_IP', 9100)); l.listen(8)
def serve(c):
    cmd = c.recv(1); time.sleep(1)
    if cmd == b'r':
        c.sendall(b'late')
    elif cmd == b'a':
        k = socket.create_connection(('$STACK_IP', 9101), timeout=5); time.sleep(2); k.close()
    time.sleep(2); c.close()
while True:
    c, a = l.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()" &
for _ in $(seq 100); do inns ss -Hltn "src $KERNEL_IP:9100" | grep -q . && break; sleep 0.1; done
out=$(onstack -- timeout 30 "$WORK/signals" restart 2>&1) || fail "restart: $out"
echo "$out" | grep -q "PASS restart" || fail "restart: $out"
echo "$out"

echo "signals: masks of ppoll, pselect, epoll_pwait(2) are atomic; SA_RESTART restarts recv and accept"
