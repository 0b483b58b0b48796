#!/usr/bin/env bash
# Process model: a stack socket used under a seccomp filter that the program installed on itself,
# as OpenSSH's sshd does in its pre-authentication child (scripts/e2e/pm_seccomp.c, against the
# kernel-side echo peer): the filter allows only the child's own calls and kills it for any other,
# so the shim must add none to its reads and writes (no sendto standing for a write, no poll or
# fcntl before a read). read/write, readv/writev, recv/send and a waiting read all pass, and the
# parent's connection carries on after.
source "$(dirname "$0")/lib.sh"
setup pmsec
build_c pm_seccomp
start_pm_peer
onstack -- timeout 30 "$WORK/pm_seccomp" "$KERNEL_IP" > "$WORK/out" 2>&1 || true
cat "$WORK/out"
grep -qx "PASS seccomp" "$WORK/out" || fail "$(grep FAIL "$WORK/out")"
echo "pm seccomp: a sandboxed child's read/write, readv/writev, recv/send on a stack socket make only its own calls"
