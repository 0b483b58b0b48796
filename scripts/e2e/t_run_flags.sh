#!/usr/bin/env bash
# `tapstack run` takes its settings as flags: another address and MAC on the same TAP, an explicit
# gateway and interface, a pcap and a log level. The kernel-side peer must see the new address, and
# the capture the exchange sent from the new MAC.
source "$(dirname "$0")/lib.sh"
setup runflags
start_http_peer
echo "flags" > "$WORK/www/page"
onstack --iface tap0 --addr 10.77.0.9/24 --gateway "$KERNEL_IP" --mac 02:00:00:aa:bb:cc \
  --pcap "$WORK/run.pcap" --log info -- curl -sS --max-time 10 -o "$WORK/got" "http://$KERNEL_IP:8080/page" \
  2> "$WORK/run.err" || fail "curl failed: $(cat "$WORK/run.err")"
cmp -s "$WORK/got" "$WORK/www/page" || fail "curl got other bytes"
grep -q "CLIENT 10.77.0.9 GET /page" "$WORK/peer.log" || fail "the peer saw: $(cat "$WORK/peer.log")"
n=$(tcpdump -e -n -r "$WORK/run.pcap" "ether src 02:00:00:aa:bb:cc and src 10.77.0.9 and tcp port 8080" 2>/dev/null | wc -l)
[ "$n" -ge 3 ] || fail "the capture holds $n of our frames from that MAC and address"
bad=$(onstack --addr 10.77.0.300/24 -- true 2>&1 || true)
echo "$bad" | grep -q -- "--addr" || fail "a bad --addr was not reported: $bad"
echo "run flags: --iface --addr --gateway --mac --pcap applied ($n frames from the new MAC and address), --log taken; a bad --addr is refused"
