#!/usr/bin/env bash
# TCP_QUICKACK 0 on a listener (after listen, as haproxy's tcp-smart-accept sets it) passes to the
# connections it accepts, as Linux's sk_clone_lock copies it: a server on the stack that reads a
# small request and answers 150 ms later acknowledges the request late (by the delayed-ACK timer,
# tens of ms), not at once, and no window update on the read carries the ACK early. Without the
# option the ACK goes at once. getsockopt says 1 on a listener after listen cleared it, 0 once set
# on the listener and on what it accepts. Checked on the wire; E2E_KERNEL=1 runs it on the kernel.
source "$(dirname "$0")/lib.sh"
setup quickack
if [ -n "$E2E_KERNEL" ]; then dev=veth0; else dev=tap0; fi
cat > "$WORK/server.py" <<'PY'
import socket, sys, time
l = socket.socket()
l.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 0)
l.bind((sys.argv[1], 7070))
l.listen(4)
print("after listen", l.getsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK), flush=True)
for quickack in (0, 1):
    l.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, quickack)
    c, _ = l.accept()
    print("accepted", c.getsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK), flush=True)
    c.recv(100)
    time.sleep(0.15)
    c.sendall(b"answer")
    c.recv(100)
    c.close()
PY
inns timeout 20 tcpdump -i "$dev" -nn --immediate-mode -U -w "$WORK/qa.pcap" tcp port 7070 2>/dev/null &
capture=$!
for _ in $(seq 50); do [ -s "$WORK/qa.pcap" ] && break; sleep 0.1; done
onstack -- timeout 20 python3 "$WORK/server.py" "$STACK_IP" > "$WORK/server.out" 2>&1 &
server=$!
for _ in $(seq 100); do grep -q "after listen" "$WORK/server.out" && break; sleep 0.1; done
for _ in 1 2; do
  inns timeout 10 python3 -c "
import socket, sys, time
c = socket.create_connection(('$STACK_IP', 7070))
time.sleep(0.05)
c.sendall(b'request')
assert c.recv(100) == b'answer'
c.close()" || fail "a client failed: $(cat "$WORK/server.out")"
done
wait "$server" || fail "the server failed: $(cat "$WORK/server.out")"
sleep 0.3
kill "$capture" 2>/dev/null || true
wait "$capture" 2>/dev/null || true
want="after listen 1
accepted 0
accepted 1"
[ "$(cat "$WORK/server.out")" = "$want" ] || fail "getsockopt(TCP_QUICKACK): $(cat "$WORK/server.out")"
# Per connection, in order: the request's time and the time of the server's first segment that
# acknowledges it (a bare ACK or the answer).
delays=$(tcpdump -tt -nn -r "$WORK/qa.pcap" 2>/dev/null | awk -v s="$STACK_IP.7070" '
  $5 == s":" && / Flags \[P\.\], seq 1:8,/ { req[$3] = $1 }
  $3 == s && ($5 in sent) == 0 && / ack 8,/ { sent[$5] = 1; c = $5; sub(":", "", c)
    if (c in req) printf "%d ", ($1 - req[c]) * 1000 }')
read -r late early <<< "$delays"
[ -n "${early:-}" ] || fail "two requests and their ACKs not found: '$delays' $(tcpdump -nn -r "$WORK/qa.pcap" 2>/dev/null | head -30)"
[ "$late" -ge 20 ] && [ "$late" -lt 150 ] || fail "with TCP_QUICKACK 0 the request was acknowledged after $late ms, not by the delayed-ACK timer"
[ "$early" -lt 10 ] || fail "with TCP_QUICKACK 1 the request was acknowledged after $early ms, not at once"
echo "quickack: a listener's TCP_QUICKACK 0 reaches its child (request acknowledged after $late ms, by the delayed-ACK timer), 1 gives the ACK at once ($early ms); getsockopt as Linux"
