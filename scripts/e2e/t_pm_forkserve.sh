#!/usr/bin/env bash
# Process model: servers that accept and fork, preloaded on 10.77.0.2, each serving kernel-side
# clients exactly: socat TCP-LISTEN with fork (20 sequential clients), python's ForkingTCPServer
# (20 sequential clients), and a C prefork server (scripts/e2e/pm_prefork.c: three children blocked
# in accept on the parent's listener) whose 12 clients, four at a time, are served by all three.
source "$(dirname "$0")/lib.sh"
setup pmforkserve
command -v socat >/dev/null || fail "socat is not installed"
build_c pm_prefork

# COUNT kernel-side clients of STACK_IP:PORT, PARALLEL at a time: each sends "hello N\n" and reads
# to EOF; every reply must end with "reply:hello N\n". Prints the replies.
clients() {
  inns timeout 40 python3 - "$STACK_IP" "$1" "$2" "$3" <<'PY'
import socket, sys, threading
ip, port, count, parallel = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
bad, replies = [], []
def one(i):
    try:
        s = socket.create_connection((ip, port), timeout=5)
        s.sendall(b"hello %d\n" % i)
        got = b""
        while True:
            d = s.recv(4096)
            if not d:
                break
            got += d
        s.close()
        if not got.endswith(b"reply:hello %d\n" % i):
            bad.append((i, got))
        replies.append(got.decode().strip())
    except Exception as e:
        bad.append((i, repr(e)))
for start in range(0, count, parallel):
    ts = [threading.Thread(target=one, args=(i,)) for i in range(start, min(start + parallel, count))]
    [t.start() for t in ts]
    [t.join() for t in ts]
print("\n".join(replies))
if bad:
    print("BAD", bad)
    sys.exit(1)
PY
}

onstack -- timeout 50 socat TCP-LISTEN:7000,bind=$STACK_IP,fork,reuseaddr SYSTEM:'read l; echo "reply:$l"' \
  > "$WORK/socat.log" 2>&1 &
server=$!
# Each server is tried even when one before it failed, and the failures are reported together.
failures=()
if ! (wait_port "$STACK_IP" 7000); then failures+=("socat: $(tail -n 2 "$WORK/socat.log")")
elif out=$(clients 7000 20 1); then echo "socat fork: 20 sequential clients served exactly"
else failures+=("socat fork: $(echo "$out" | tail -n 1 | cut -c1-300); socat says: $(grep " E " "$WORK/socat.log" | tail -n 2 || true)"); fi
# Each server ends before the next starts.
killtree "$server"; wait "$server" || true

onstack -- timeout 50 python3 -c "
import socketserver
class H(socketserver.StreamRequestHandler):
    def handle(self):
        self.wfile.write(b'reply:' + self.rfile.readline())
socketserver.ForkingTCPServer.allow_reuse_address = True
socketserver.ForkingTCPServer(('$STACK_IP', 7001), H).serve_forever()" > "$WORK/forking.log" 2>&1 &
server=$!
if ! (wait_port "$STACK_IP" 7001); then failures+=("ForkingTCPServer: $(tail -n 2 "$WORK/forking.log")")
elif out=$(clients 7001 20 1); then echo "ForkingTCPServer: 20 sequential clients served exactly"
else failures+=("ForkingTCPServer: $(echo "$out" | tail -n 1 | cut -c1-300); server says: $(grep Error "$WORK/forking.log" | tail -n 2 || true)"); fi
killtree "$server"; wait "$server" || true

onstack -- timeout 50 "$WORK/pm_prefork" "$STACK_IP" 7002 3 > "$WORK/prefork.log" 2>&1 &
if ! (wait_port "$STACK_IP" 7002); then failures+=("prefork: $(tail -n 2 "$WORK/prefork.log")")
elif out=$(clients 7002 12 4); then
  n=$(echo "$out" | awk '{print $2}' | sort -u | wc -l)
  [ "$n" -eq 3 ] || failures+=("prefork: $n of 3 children accepted: $(echo "$out" | awk '{print $2}' | sort | uniq -c)")
else failures+=("prefork: $(echo "$out" | tail -n 1 | cut -c1-300); server says: $(tail -n 2 "$WORK/prefork.log")"); fi
[ ${#failures[@]} -eq 0 ] || fail "$(printf '\n  %s' "${failures[@]}")"
echo "pm forkserve: socat fork, ForkingTCPServer and a 3-child prefork server serve exactly"
