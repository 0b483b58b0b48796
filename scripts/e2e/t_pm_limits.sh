#!/usr/bin/env bash
# Process model: a program out of descriptors (scripts/e2e/pm_limits.c). Under RLIMIT_NOFILE, every
# call that needs a new descriptor on a stack socket (socket, socketpair, dup, F_DUPFD, accept,
# accept4) fails with EMFILE as on the kernel, and calls that need none (dup2, bind, listen, connect)
# work; a connection that arrives meanwhile waits in the listen queue through failed accepts and is
# accepted whole once a descriptor is closed; the program carries on. E2E_KERNEL=1 runs it on the
# kernel's sockets.
source "$(dirname "$0")/lib.sh"
setup pmlimits
build_c pm_limits
start_pm_peer $((64 << 10))
port=9100
onstack -- timeout 30 "$WORK/pm_limits" "$KERNEL_IP" "$port" > "$WORK/out" 2>&1 & prog=$!
wait_line "$WORK/out" FULL "$prog" 20 "the program did not reach its limit"
# A client on the kernel side: its line must be read by the program once it can accept.
inns timeout 20 python3 -c '
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=15)
s.sendall(b"ping\n")
print("client got", s.makefile().readline().strip())
' "$STACK_IP" "$port" > "$WORK/client" 2>&1 || true
wait "$prog" || true
cat "$WORK/out"
grep -qx "PASS limits" "$WORK/out" || fail "$(grep FAIL "$WORK/out")"
grep -qx "client got pong" "$WORK/client" || fail "the client: $(cat "$WORK/client")"
echo "pm limits: EMFILE as the kernel gives it, the queued connection kept, the program carries on"
