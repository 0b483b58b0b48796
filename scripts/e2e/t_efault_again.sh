#!/usr/bin/env bash
# The shim stops checking a receive loop's address and length once it found them writable
# (src/posix/user.rs); a program that unmaps them, takes write access away or moves them (mremap),
# and passes them
# again still gets EFAULT, as from the kernel, not a fault inside the shim (scripts/e2e/
# efault_again.c). E2E_KERNEL=1 runs it on kernel sockets.
source "$(dirname "$0")/lib.sh"
setup efault_again
build_c efault_again
out=$(onstack -- timeout 20 "$WORK/efault_again" "$STACK_IP") || fail "exit $?: $out"
echo "$out"
expected="first: received
again: received
unmapped and mapped with no access: Bad address
writable again: received
read-only: Bad address
writable again: received
moved away by mremap: Bad address"
[ "$out" = "$expected" ] || fail "expected:
$expected"
echo "efault again: remembered checks forgotten when the mapping changes, EFAULT as from the kernel"
