#!/usr/bin/env bash
# Process model: a child made by a raw clone(2) without CLONE_VM (as vsftpd makes one per session),
# which the fork handlers never see, is a forked process for the shim, not a vfork child
# (scripts/e2e/pm_clone.c, against the kernel-side echo peer): its inherited and its own stack
# sockets answer getpeername and socket options as stack sockets, and the parent carries on.
source "$(dirname "$0")/lib.sh"
setup pmclone
build_c pm_clone
start_pm_peer
onstack -- timeout 30 "$WORK/pm_clone" "$KERNEL_IP" > "$WORK/out" 2>&1 || true
cat "$WORK/out"
grep -qx "PASS clone" "$WORK/out" || fail "$(grep FAIL "$WORK/out")"
echo "pm clone: a raw clone(2) child's stack sockets answer as stack sockets; the parent carries on"
