#!/usr/bin/env bash
# Process model: 200 threads connecting at once under RLIMIT_NOFILE 256 (scripts/e2e/
# pm_threads_limit.c): some may be refused with EMFILE (a thread on the stack holds a control
# connection too), but every connection made carries its own thread's bytes. The shim freed a
# socket's number for the service's answer in a full table, another thread took it, and
# descriptors crossed: writes said EBADF, echoes came back on other threads' connections.
source "$(dirname "$0")/lib.sh"
setup pmthlim
build_c pm_threads_limit
start_pm_peer
for round in 1 2 3; do
  onstack -- timeout 30 "$WORK/pm_threads_limit" "$KERNEL_IP" 256 200 > "$WORK/out" 2>&1 || true
  cat "$WORK/out"
  grep -qx "PASS threads limit" "$WORK/out" || fail "round $round: connections crossed at the descriptor limit"
done
echo "pm threads limit: 200 threads at RLIMIT_NOFILE 256, each connection its own thread's, three rounds"
