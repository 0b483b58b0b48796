#!/usr/bin/env bash
# A blocking connect that fails after its socket's number went to another connection or file
# (scripts/e2e/pm_close_connecting.c) leaves that number alone, as on Linux: the shim put a fresh
# kernel socket at it, and the program's new connection or its file was gone.
source "$(dirname "$0")/lib.sh"
setup closeconn
build_c pm_close_connecting
start_pm_peer
onstack -- timeout 30 "$WORK/pm_close_connecting" "$KERNEL_IP" "$WORK/marker" > "$WORK/out" 2>&1 || true
cat "$WORK/out"
grep -qx "PASS close connecting" "$WORK/out" || fail "a failed connect took a number back"
echo "close connecting: a failed connect leaves its old number to the connection or file there now"
