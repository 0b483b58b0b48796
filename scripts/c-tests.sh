#!/usr/bin/env bash
# Builds the C programs in c-tests/ against include/tapstack.h and libtapstack.so (linked, not
# preloaded) with -Wall -Werror, and runs each against the kernel in its own namespace with a
# kernel-side peer. Prints "N passed, M failed".
set -u
cd "$(dirname "$0")/.."
cargo build --release --quiet || exit 1
out=$(mktemp -d)
passed=0 failed=0
trap 'rm -rf "$out"' EXIT

build() {
  cc -Wall -Werror -O1 -Iinclude -o "$out/$1" "c-tests/$1.c" -Ltarget/release -ltapstack \
    -Wl,-rpath,"$PWD/target/release"
}

# run NAME PEER-COMMAND [CHECK-COMMAND]: the peer runs on the kernel side, in the background.
run() {
  local name=$1 peer=$2 ns="ctest-$1-$$"
  if ! build "$name"; then
    echo "FAIL  $name: does not build"; failed=$((failed + 1)); return
  fi
  bash scripts/netns.sh create "$ns"
  ip netns exec "$ns" timeout 30 bash -c "$peer" > "$out/$name.peer" 2>&1 &
  sleep 0.5
  if ip netns exec "$ns" timeout 30 "$out/$name" > "$out/$name.log" 2>&1 && ${3:-true} "$out"; then
    passed=$((passed + 1)); echo "ok    $(grep PASS "$out/$name.log")"
  else
    failed=$((failed + 1)); echo "FAIL  $name"; sed 's/^/      /' "$out/$name.log" "$out/$name.peer"
  fi
  bash scripts/netns.sh delete "$ns"
  wait 2>/dev/null
}

peer_saw_stack() { grep -q "10.77.0.2" "$1/$2.peer"; }
check_client() { peer_saw_stack "$1" tcp_client; }
check_poll() { peer_saw_stack "$1" poll_mixed; }
# The server's last bytes and FIN may still be on their way when it exits (as with kernel sockets):
# give the peer a moment to report.
check_server() {
  for _ in $(seq 50); do grep -q "echo ok" "$1/tcp_server.peer" && return 0; sleep 0.1; done
  return 1
}

run tcp_client "python3 -c \"
import socket
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(('10.77.0.1', 7000)); l.listen(1)
c, a = l.accept(); print('client', a[0], flush=True)
while True:
    d = c.recv(65536)
    if not d: break
    c.sendall(d)
c.close()\"" check_client

run tcp_server "for i in \$(seq 50); do python3 -c \"
import socket, sys
s = socket.create_connection(('10.77.0.2', 7100), timeout=5)
msg = bytes(range(256)) * 400
s.sendall(msg); s.shutdown(socket.SHUT_WR)
got = b''
while True:
    d = s.recv(65536)
    if not d: break
    got += d
print('echo ok' if got == msg else 'echo differs', flush=True)\" && break; sleep 0.1; done" check_server

run udp "python3 -c \"
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('10.77.0.1', 7200))
while True:
    d, a = s.recvfrom(2048); s.sendto(a[0].encode() + b' ' + d, a)\""

run poll_mixed "python3 -c \"
import socket, time
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(('10.77.0.1', 7300)); l.listen(1)
c, a = l.accept(); print('client', a[0], flush=True)
assert c.recv(2) == b'go'; time.sleep(0.2); c.sendall(b'net'); time.sleep(2)\"" check_poll

echo "c-tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
