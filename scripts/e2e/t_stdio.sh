#!/usr/bin/env bash
# stdio on stack sockets: a C program (scripts/e2e/stdio.c) fdopens a connection to a kernel-side
# echo, writes with fprintf and reads back with fgets, and fcloses it. glibc's stdio uses internal
# entry points no preload can take over: this works because a stack socket's descriptor is a real
# kernel socket (one end of a socketpair the stack service holds).
source "$(dirname "$0")/lib.sh"
setup stdio
build_c stdio
inns timeout 30 socat TCP4-LISTEN:7300,bind="$KERNEL_IP",reuseaddr,fork EXEC:cat &
wait_port "$KERNEL_IP" 7300
onstack -- timeout 20 "$WORK/stdio" > "$WORK/out" 2>&1 || fail "$(cat "$WORK/out")"
grep -q "^PASS stdio$" "$WORK/out" || fail "$(cat "$WORK/out")"
echo "stdio: $(head -1 "$WORK/out"); fclose releases the socket"
