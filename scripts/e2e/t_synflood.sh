#!/usr/bin/env bash
# A SYN flood against a preloaded server: hping3 on the kernel side of the TAP sends 200 000 SYNs
# from a spoofed address inside the test subnet (10.77.0.9, which nobody answers for) with changing
# source ports, while a kernel-side client downloads a file from the server, exact. The listener's
# SYN queue fills at once; SYN cookies (RFC 4987 §3.6) let the real client in during the flood.
source "$(dirname "$0")/lib.sh"
setup synflood
command -v hping3 >/dev/null || fail "hping3 is not installed"
mkdir -p "$WORK/www"
head -c $((8 << 20)) /dev/urandom > "$WORK/www/blob"
# The stack in the foreground, so its counters can be read when it stops.
inns "$BIN" up > "$WORK/up.log" 2>&1 &
up=$!
# A small backlog, so the flood fills the SYN queue (2 × backlog, at least 16) at once.
onstack -- python3 -c "
import http.server, functools, socketserver
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    request_queue_size = 4
    daemon_threads = True
h = functools.partial(http.server.SimpleHTTPRequestHandler, directory='$WORK/www')
S(('$STACK_IP', 8080), h).serve_forever()" > "$WORK/server.log" 2>&1 &
server=$!
wait_port "$STACK_IP" 8080

# The flood: bounded in count (200 000) and rate (-i u20: at most 50 000 a second, so 4 s or more).
inns timeout 60 hping3 -q -S -a 10.77.0.9 -p 8080 -i u20 -c 200000 "$STACK_IP" > "$WORK/hping.log" 2>&1 &
flood=$!
sleep 1
kill -0 "$flood" 2>/dev/null || fail "hping3 ended early: $(cat "$WORK/hping.log")"
# The download, during the flood (curl retries its SYN as the kernel does; 30 s at most).
start=$SECONDS
inns timeout 30 curl -sS --max-time 30 -o "$WORK/got" "http://$STACK_IP:8080/blob" \
  || fail "the download failed during the flood"
took=$((SECONDS - start))
# Without cookies the client only gets in once the flood is over.
kill -0 "$flood" 2>/dev/null || fail "the download ended after the flood (in ${took}s), not during it"
cmp -s "$WORK/www/blob" "$WORK/got" || fail "the download differs"
wait "$flood" || true
killtree "$server"
killtree "$up" TERM
for _ in $(seq 50); do grep -q '^counters' "$WORK/up.log" && break; sleep 0.1; done
counters=$(grep '^counters' "$WORK/up.log" || true)
sent=$(sed -n 's/.*syncookies sent \([0-9]*\).*/\1/p' <<<"$counters")
recv=$(sed -n 's/.*syncookies sent [0-9]* recv \([0-9]*\).*/\1/p' <<<"$counters")
[ "${sent:-0}" -gt 0 ] || fail "no SYN cookie was sent: $(tail -5 "$WORK/up.log")"
[ "${recv:-0}" -ge 1 ] || fail "the client did not come in on a cookie: $counters"
echo "synflood: 8 MiB downloaded exact in ${took}s during a 200 000-SYN flood; cookies sent $sent, returned $recv"
