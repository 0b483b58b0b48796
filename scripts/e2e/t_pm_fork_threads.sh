#!/usr/bin/env bash
# Process model: fork() while other threads take new sockets to the stack (scripts/e2e/
# pm_fork_threads.c) finishes, as on the kernel: the fork handler takes each socket's lock before
# the shim's table, the order of a socket's first call (the other order hung two runs in three).
source "$(dirname "$0")/lib.sh"
setup pmforkth
build_c pm_fork_threads
start_pm_peer
onstack -- timeout 30 "$WORK/pm_fork_threads" "$KERNEL_IP" 500 > "$WORK/out" 2>&1 || true
cat "$WORK/out"
grep -qx "PASS fork threads" "$WORK/out" || fail "fork beside threads making sockets did not finish"
echo "pm fork threads: 500 forks beside three threads taking sockets to the stack"
