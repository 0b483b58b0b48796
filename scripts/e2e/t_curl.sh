#!/usr/bin/env bash
# curl through the stack: 32 MiB down and up, exact; a closed port refused at once (the kernel's RST
# in the capture, "Connection refused" from curl); a silent address honouring --connect-timeout.
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

# The refusal is the kernel's RST crossing the TAP, which curl reports as "Connection refused"
# (exit code 7, couldn't connect).
# The stack service may already be running (with the settings of the program that started it), so
# the capture is taken on the kernel side of the TAP.
inns timeout 20 tcpdump -i tap0 --immediate-mode -U -w "$WORK/refused.pcap" "tcp port 1" 2>/dev/null &
capture=$!
for _ in $(seq 50); do [ -s "$WORK/refused.pcap" ] && break; sleep 0.1; done
start=$(date +%s%N)
rc=0
out=$(onstack -- curl -v "http://$KERNEL_IP:1/" 2>&1) || rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
sleep 1; kill "$capture" 2>/dev/null; wait "$capture" 2>/dev/null || true
[ "$rc" -eq 7 ] || fail "closed port: curl exit code $rc, not 7: $out"
echo "$out" | grep -q "Connection refused" || fail "closed port, no 'Connection refused': $out"
[ "$ms" -lt 1500 ] || fail "refusal took ${ms} ms"
refused_ms=$ms
rst=$(tcpdump -nn -r "$WORK/refused.pcap" "src host $KERNEL_IP and src port 1 and dst host $STACK_IP and tcp[tcpflags] & tcp-rst != 0" 2>/dev/null)
[ -n "$rst" ] || fail "no RST from $KERNEL_IP:1 in the capture: $(tcpdump -nn -r "$WORK/refused.pcap" 2>&1)"
syn=$(tcpdump -nn -r "$WORK/refused.pcap" "src host $STACK_IP and dst port 1 and tcp[tcpflags] & tcp-syn != 0" 2>/dev/null)
[ -n "$syn" ] || fail "no SYN from $STACK_IP to port 1 in the capture"

start=$(date +%s%N)
out=$(onstack -- curl -sS --connect-timeout 2 "http://10.77.0.99:80/" 2>&1) && fail "curl to a silent address succeeded"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$ms" -ge 1800 ] && [ "$ms" -lt 4000 ] || fail "--connect-timeout 2 took ${ms} ms: $out"
echo "curl: 32 MiB down and up exact; refused (RST on the wire) in ${refused_ms} ms; --connect-timeout 2 gave up after ${ms} ms"
