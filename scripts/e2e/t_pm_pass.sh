#!/usr/bin/env bash
# Process model: a connected stack socket handed to an unrelated process with SCM_RIGHTS. Process A
# (preloaded) connects to the kernel-side echo peer, exchanges 64 KiB, sends the socket over a UNIX
# socket to process B (preloaded, started separately), closes its copy and exits. B, once A has gone,
# exchanges 1 MiB more on the same connection and closes it. Both exchanges are exact, and the peer
# saw one connection from 10.77.0.2 carrying exactly A's bytes then B's, ended by a FIN.
source "$(dirname "$0")/lib.sh"
setup pmpass
start_pm_peer

cat > "$WORK/b.py" <<'PY'
import os, socket, sys
path, out = sys.argv[1], sys.argv[2]
u = socket.socket(socket.AF_UNIX); u.bind(path); u.listen(1)
u.settimeout(15)
a, _ = u.accept()
a.settimeout(15)
msg, fds, _, _ = socket.recv_fds(a, 16, 1)
assert msg == b"conn" and len(fds) == 1, (msg, fds)
assert a.recv(1) == b"", "A did not close its end"    # A has closed its copy and exited
s = socket.socket(fileno=fds[0])
s.settimeout(10)
assert s.getpeername()[1] == 9000, s.getpeername()
data = os.urandom(1 << 20)
open(out, "wb").write(data)
s.sendall(data)
got = bytearray()
while len(got) < len(data):
    d = s.recv(65536)
    assert d, "EOF before the whole echo"
    got += d
assert bytes(got) == data, "B's echo differs"
s.close()
print("B ok")
PY
cat > "$WORK/a.py" <<'PY'
import os, socket, sys
ip, path, out = sys.argv[1], sys.argv[2], sys.argv[3]
s = socket.create_connection((ip, 9000), timeout=10)
data = os.urandom(64 << 10)
open(out, "wb").write(data)
s.sendall(data)
got = bytearray()
while len(got) < len(data):
    d = s.recv(65536)
    assert d, "EOF before the whole echo"
    got += d
assert bytes(got) == data, "A's echo differs"
u = socket.socket(socket.AF_UNIX); u.connect(path)
socket.send_fds(u, [b"conn"], [s.fileno()])
s.close()
print("A handed over")
PY
onstack -- timeout 30 python3 "$WORK/b.py" "$WORK/hand.sock" "$WORK/part2" > "$WORK/b.out" 2>&1 &
b=$!
for _ in $(seq 50); do [ -S "$WORK/hand.sock" ] && break; sleep 0.1; done
[ -S "$WORK/hand.sock" ] || fail "B did not start: $(cat "$WORK/b.out")"
onstack -- timeout 20 python3 "$WORK/a.py" "$KERNEL_IP" "$WORK/hand.sock" "$WORK/part1" > "$WORK/a.out" 2>&1 \
  || fail "A: $(cat "$WORK/a.out")"
wait "$b" || fail "B: $(cat "$WORK/b.out")"
grep -qx "B ok" "$WORK/b.out" || fail "B: $(cat "$WORK/b.out")"
want=$(cat "$WORK/part1" "$WORK/part2" | sha256sum | cut -d' ' -f1)
for _ in $(seq 20); do grep -q "^END echo " "$WORK/peer.log" && break; sleep 0.1; done
[ "$(grep -c "^OPEN echo $STACK_IP " "$WORK/peer.log")" -eq 1 ] || fail "peer: $(cat "$WORK/peer.log")"
grep -q "^END echo $STACK_IP [0-9]* eof $(((64 << 10) + (1 << 20))) $want " "$WORK/peer.log" \
  || fail "the peer did not get A's bytes then B's then EOF: $(cat "$WORK/peer.log")"
echo "pm pass: a connection handed over SCM_RIGHTS to an unrelated process, finished there exactly"
