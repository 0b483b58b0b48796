#!/usr/bin/env bash
# Process model: a UDP socket's corked datagram (MSG_MORE) neither hangs a child forked while
# another thread sends one, nor a signal handler that sends on the socket while the thread it
# interrupted was in the middle of a send (scripts/e2e/pm_cork.c, against a kernel-side sink).
source "$(dirname "$0")/lib.sh"
setup pmcork
build_c pm_cork
inns timeout 60 python3 -c "
import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('$KERNEL_IP', 7990))
print('ready', flush=True)
while True:
    u.recv(65536)
" > "$WORK/sink.out" 2>&1 &
wait_line "$WORK/sink.out" ready 50 $! "the sink did not start"
onstack -- timeout 40 "$WORK/pm_cork" "$KERNEL_IP" > "$WORK/out" 2>&1 || true
grep -qx "PASS cork" "$WORK/out" || fail "$(cat "$WORK/out")"
echo "pm cork: 40 children forked beside a thread's corked sends sent their own; a signal handler's corked sends beside the main thread's did not hang ($(grep -o '^signal: [0-9]*' "$WORK/out" | cut -d' ' -f2) datagrams)"
