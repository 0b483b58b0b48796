#!/usr/bin/env bash
# Process model: several preloaded programs at once in one namespace. Two preloaded curls download
# from the kernel side in parallel (rate-limited, so they overlap). Then one preloaded shell script
# starts a preloaded server (a python proxy on 10.77.0.2:8000 that fetches each path from the
# kernel-side peer) and runs preloaded clients beside it: each reaches the server at the stack's own
# address and the kernel side directly, and the server reaches the kernel side; all bytes exact.
source "$(dirname "$0")/lib.sh"
setup pmtogether
start_http_peer
head -c $((2 << 20)) /dev/urandom > "$WORK/www/f.bin"
want=$(sha256sum < "$WORK/www/f.bin" | cut -d' ' -f1)
sha() { sha256sum < "$1" | cut -d' ' -f1; }

# Two programs at once: each curl takes about two seconds.
pids=()
for i in 1 2; do
  onstack -- timeout 20 curl -sS --max-time 15 --limit-rate 1M -o "$WORK/par.$i" "http://$KERNEL_IP:8080/f.bin" \
    > "$WORK/par.$i.err" 2>&1 & pids+=($!)
done
for i in 1 2; do
  wait "${pids[$((i - 1))]}" || fail "parallel curl $i failed: $(cat "$WORK/par.$i.err")"
  [ "$(sha "$WORK/par.$i")" = "$want" ] || fail "parallel curl $i got different bytes"
done
[ "$(grep -c "CLIENT $STACK_IP GET /f.bin" "$WORK/peer.log")" -eq 2 ] || fail "peer saw: $(cat "$WORK/peer.log")"
echo "two preloaded curls at once: exact"

cat > "$WORK/proxy.py" <<PY
import http.server, urllib.request
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = urllib.request.urlopen('http://$KERNEL_IP:8080' + self.path, timeout=10).read()
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(('$STACK_IP', 8000), H).serve_forever()
PY
cat > "$WORK/together.sh" <<SH
set -u
timeout 40 python3 "$WORK/proxy.py" > "$WORK/proxy.log" 2>&1 &
for _ in \$(seq 50); do curl -s --max-time 1 -o /dev/null "http://$STACK_IP:8000/f.bin" && break; sleep 0.2; done
for i in 1 2 3; do
  timeout 15 curl -sS --max-time 10 -o "$WORK/via.\$i" "http://$STACK_IP:8000/f.bin" || echo "client \$i via the server failed"
  timeout 15 curl -sS --max-time 10 -o "$WORK/direct.\$i" "http://$KERNEL_IP:8080/f.bin" || echo "client \$i direct failed"
done
echo done
SH
# (Output goes through a file, not $(…): a stack service that lingers must not hold the test up.)
onstack -- timeout 50 bash "$WORK/together.sh" > "$WORK/together.out" 2>&1 || fail "script: $(cat "$WORK/together.out")"
out=$(cat "$WORK/together.out")
[ "$(echo "$out" | tail -n 1)" = done ] || fail "script: $out"
echo "$out" | grep -q failed && fail "script: $out; server: $(tail -n 3 "$WORK/proxy.log")"
for i in 1 2 3; do
  [ "$(sha "$WORK/via.$i")" = "$want" ] || fail "client $i via the preloaded server got different bytes"
  [ "$(sha "$WORK/direct.$i")" = "$want" ] || fail "client $i direct got different bytes"
done
# The kernel side also reaches the preloaded server while it runs.
inns timeout 15 curl -sS --max-time 10 -o "$WORK/kernel.got" "http://$STACK_IP:8000/f.bin" || fail "kernel client of the preloaded server failed"
[ "$(sha "$WORK/kernel.got")" = "$want" ] || fail "kernel client of the preloaded server got different bytes"
# Every fetch from the peer came from the stack: 2 earlier + 3 direct + at least 4 by the server.
n=$(grep -c "CLIENT $STACK_IP GET /f.bin" "$WORK/peer.log")
[ "$n" -ge 9 ] || fail "peer saw $n fetches from $STACK_IP: $(cat "$WORK/peer.log")"
echo "pm together: two preloaded curls at once, and a preloaded server with preloaded clients in one script, exact"
