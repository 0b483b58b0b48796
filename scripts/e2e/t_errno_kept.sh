#!/usr/bin/env bash
# A successful call leaves errno as it was, as Linux's do (scripts/e2e/errno_kept.c): the first
# program on the stack, which starts the service (the shim finds no service by its name first),
# makes TCP and UDP calls that all succeed and must find errno untouched after each. iperf3's
# server printed "unable to receive parameters from client: Connection refused" for a client that
# closed at once, the refusal being the shim's own look for a service. E2E_KERNEL=1 runs it on
# kernel sockets.
source "$(dirname "$0")/lib.sh"
setup errno_kept
build_c errno_kept
# The kernel side: a TCP echo on 7782 that, each time a connection ends, connects to the stack's
# 7781, sends a line and reads the answer; a UDP echo on 7782.
inns timeout 30 python3 -c "
import socket, threading
def udp():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('$KERNEL_IP', 7782))
    while True:
        d, a = u.recvfrom(100); u.sendto(d, a)
threading.Thread(target=udp, daemon=True).start()
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(('$KERNEL_IP', 7782)); l.listen(4)
while True:
    c, _ = l.accept()
    while True:
        d = c.recv(100)
        if not d: break
        c.sendall(d)
    c.close()
    b = socket.create_connection(('$STACK_IP', 7781), timeout=5)
    b.sendall(b'world\n'); b.recv(100); b.close()
" &
wait_port "$KERNEL_IP" 7782
out=$(onstack -- timeout 20 "$WORK/errno_kept" "$STACK_IP" "$KERNEL_IP" 7782) || fail "exit $?: $out"
[ "$out" = "errno kept" ] || fail "$out"
echo "errno kept: socket calls that succeed leave errno alone, from the service's start on"
