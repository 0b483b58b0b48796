#!/usr/bin/env bash
# curl through the stack: 32 MiB down and up, exact; a closed port refused at once; a silent
# address honouring --connect-timeout.
source "$(dirname "$0")/lib.sh"
setup curl
start_http_peer
head -c $((32 << 20)) /dev/urandom > "$WORK/www/down.bin"
head -c $((32 << 20)) /dev/urandom > "$WORK/up.bin"

onstack -- curl -sS --fail -o "$WORK/got.bin" "http://$KERNEL_IP:8080/down.bin"
cmp "$WORK/got.bin" "$WORK/www/down.bin" || fail "download differs"
peer_saw_stack "GET /down.bin $((32 << 20))"

onstack -- curl -sS --fail -T "$WORK/up.bin" "http://$KERNEL_IP:8080/up.bin"
cmp "$WORK/up.bin" "$WORK/www/up.bin" || fail "upload differs"
peer_saw_stack "PUT /up.bin $((32 << 20))"

start=$(date +%s%N)
out=$(onstack -- curl -sS "http://$KERNEL_IP:1/" 2>&1) && fail "curl to a closed port succeeded"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "$out" | grep -qi "connection refused\|couldn't connect" || fail "closed port: $out"
[ "$ms" -lt 1500 ] || fail "refusal took ${ms} ms"
refused_ms=$ms

start=$(date +%s%N)
out=$(onstack -- curl -sS --connect-timeout 2 "http://10.77.0.99:80/" 2>&1) && fail "curl to a silent address succeeded"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$ms" -ge 1800 ] && [ "$ms" -lt 4000 ] || fail "--connect-timeout 2 took ${ms} ms: $out"
echo "curl: 32 MiB down and up exact; refused in ${refused_ms} ms; --connect-timeout 2 gave up after ${ms} ms"
