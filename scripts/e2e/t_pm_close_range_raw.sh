#!/usr/bin/env bash
# Process model: syscall(SYS_close_range) over every descriptor above a connected socket
# (scripts/e2e/pm_close_range_raw.c) leaves the shim's own connection to the service, as the libc
# function's interposer does: the socket echoes on and new connections work, as on the kernel.
source "$(dirname "$0")/lib.sh"
setup pmclraw
build_c pm_close_range_raw
start_pm_peer
onstack -- timeout 30 "$WORK/pm_close_range_raw" "$KERNEL_IP" > "$WORK/out" 2>&1 || true
cat "$WORK/out"
grep -qx "PASS close_range raw" "$WORK/out" || fail "the stack did not survive a raw close_range"
echo "pm close_range raw: a raw close_range keeps the shim's connection; sockets work on"
