#!/usr/bin/env bash
# Out of memory (scripts/e2e/pm_memory.c): a program that exhausts its own memory keeps its stack
# connections working (the preload's allocations come from its reserve, src/memory.rs) and gets
# ENOMEM, not an abort, for a new socket; a service whose address space is limited refuses new
# connections with ENOMEM once it is full, while every connection it holds delivers its data exact,
# and takes new ones again when memory is back. E2E_KERNEL=1 runs the first half on the kernel's
# sockets (the second needs the stack's service).
source "$(dirname "$0")/lib.sh"
setup memory
build_c pm_memory
start_pm_peer $((1 << 20))

onstack -- timeout 60 "$WORK/pm_memory" self "$KERNEL_IP" > "$WORK/self" 2>&1 || true
cat "$WORK/self"
grep -qx "PASS self" "$WORK/self" || fail "the program short of memory: $(grep FAIL "$WORK/self" || tail -3 "$WORK/self")"
[ -n "$E2E_KERNEL" ] && { echo "memory (kernel): the program short of memory keeps its connections"; exit 0; }

cd "$WORK"
onstack -- timeout 120 "$WORK/pm_memory" service "$KERNEL_IP" "$WORK/blob" 300 > "$WORK/service" 2>&1 & prog=$!
wait_line "$WORK/service" READY "$prog" 30 "the program did not get ready"
svc=$(ns_pgrep "tapstack service" | head -1)
[ -n "$svc" ] || fail "no service process"
vm=$(awk '/^VmSize/ {print $2}' "/proc/$svc/status")
# Room for 8 MiB more than it uses now.
prlimit --pid "$svc" --as=$(( (vm + 8192) * 1024 ))
touch "$WORK/GO"
wait "$prog" || true
cat "$WORK/service"
kill -0 "$svc" 2>/dev/null || fail "the service died"
grep -q "^REFUSED after [0-9]*: ENOMEM" "$WORK/service" || fail "no connection was refused with ENOMEM"
grep -qx "PASS service" "$WORK/service" || fail "$(grep FAIL "$WORK/service" || tail -3 "$WORK/service")"
echo "memory: the program short of memory keeps its connections; the service short of memory refuses new ones with ENOMEM, keeps its own exact, and recovers"
