#!/usr/bin/env bash
# ApacheBench both ways: a preloaded ab (APR's epoll pollset, many short connections) against a
# kernel-side server, and the kernel's ab against a preloaded server, whose connections end in
# TIME-WAIT on the stack. Every request must succeed, and none wait for a SYN retry (four clients
# stay within python's listen backlog of five).
source "$(dirname "$0")/lib.sh"
setup ab
command -v ab >/dev/null || fail "ab is not installed (apache2-utils)"
start_http_peer
head -c 10000 /dev/urandom > "$WORK/www/page"
onstack -- timeout 60 ab -q -n 1000 -c 4 "http://$KERNEL_IP:8080/page" > "$WORK/ab1.log" 2>&1 \
  || fail "preloaded ab failed: $(tail -5 "$WORK/ab1.log")"
grep -q "^Complete requests: *1000$" "$WORK/ab1.log" || fail "preloaded ab: $(cat "$WORK/ab1.log")"
grep -q "^Failed requests: *0$" "$WORK/ab1.log" || fail "preloaded ab: $(cat "$WORK/ab1.log")"
peer_saw_stack "GET /page"
out_rps=$(awk '/^Requests per second/ {print $4}' "$WORK/ab1.log")

mkdir -p "$WORK/site"
head -c 10000 /dev/urandom > "$WORK/site/page"
(cd "$WORK/site" && exec ip netns exec "$NS" "$BIN" run -- timeout 90 python3 -m http.server 8000 --bind "$STACK_IP") \
  > "$WORK/server.log" 2>&1 &
wait_port "$STACK_IP" 8000
inns timeout 60 ab -q -n 2000 -c 4 "http://$STACK_IP:8000/page" > "$WORK/ab2.log" 2>&1 \
  || fail "kernel ab failed: $(tail -5 "$WORK/ab2.log")"
grep -q "^Complete requests: *2000$" "$WORK/ab2.log" || fail "kernel ab: $(cat "$WORK/ab2.log")"
grep -q "^Failed requests: *0$" "$WORK/ab2.log" || fail "kernel ab: $(cat "$WORK/ab2.log")"
grep -q "^$KERNEL_IP " "$WORK/server.log" || fail "server did not see the kernel's address"
in_rps=$(awk '/^Requests per second/ {print $4}' "$WORK/ab2.log")
longest=$(awk '/100%/ {print $2}' "$WORK/ab2.log")
# A SYN that met a TIME-WAIT connection and waited for a retry would take a second or more.
[ "${longest:-0}" -lt 1000 ] || fail "the slowest of 2000 requests took $longest ms"
echo "ab: 1000 requests out at $out_rps/s, 2000 in at $in_rps/s (slowest $longest ms), none failed"
