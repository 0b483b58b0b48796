#!/usr/bin/env bash
# Process model: descriptors of one stack socket, with a C program (scripts/e2e/pm_fds.c) against
# the kernel-side echo peer: dup, dup2, dup3, fcntl F_DUPFD and F_DUPFD_CLOEXEC give working
# descriptors of the same connection; it ends (the peer sees the FIN) only when the last descriptor
# in every process is closed (the last one in a forked child); close_range and closefrom close stack
# sockets.
source "$(dirname "$0")/lib.sh"
setup pmdup
build_c pm_fds
start_pm_peer
failures=()
for part in dups range; do
  onstack -- timeout 20 "$WORK/pm_fds" "$KERNEL_IP" "$part" > "$WORK/$part.out" 2>&1 || true
  cat "$WORK/$part.out"
  grep -qx "PASS $part" "$WORK/$part.out" || failures+=("$part: $(grep FAIL "$WORK/$part.out")")
done
[ ${#failures[@]} -eq 0 ] || fail "$(printf '\n  %s' "${failures[@]}")"
echo "pm dup: dup/dup2/dup3/F_DUPFD(_CLOEXEC) share the connection; it ends at the last close; close_range and closefrom close it"
