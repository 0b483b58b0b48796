#!/usr/bin/env bash
# TCP urgent data (MSG_OOB), which the stack does not build, keeps every byte in line: a program on
# the stack sends "ab", then "!" with MSG_OOB, then "cd", and a kernel-side peer reading with
# SO_OOBINLINE gets "ab!cd", as from Linux (the byte was lost before: it went on the socketpair as
# the UNIX socket's own out-of-band byte, which the service's reads skip). Then the kernel peer
# sends "xy", "!" with MSG_OOB, "z", and the program, with SO_OOBINLINE, reads "xy!z" in order.
source "$(dirname "$0")/lib.sh"
setup oob
inns timeout 30 python3 - "$KERNEL_IP" > "$WORK/peer.out" 2>&1 <<'PY' &
import socket, sys, time
L = socket.socket(); L.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); L.bind((sys.argv[1], 7400)); L.listen()
print("ready", flush=True)
c, _ = L.accept(); c.setsockopt(socket.SOL_SOCKET, socket.SO_OOBINLINE, 1)
got = b""
while True:
    d = c.recv(100)
    if not d: break
    got += d
print("PEER GOT", got.decode(), flush=True); c.close()
c, _ = L.accept()
c.send(b"xy"); time.sleep(0.1); c.send(b"!", socket.MSG_OOB); time.sleep(0.1); c.send(b"z"); c.close()
PY
peer=$!
wait_line "$WORK/peer.out" ready "$peer" 10 "the peer did not start"
onstack -- timeout 20 python3 - "$KERNEL_IP" > "$WORK/prog.out" 2>&1 <<'PY' || true
import socket, sys, time
s = socket.create_connection((sys.argv[1], 7400))
s.send(b"ab"); time.sleep(0.1); s.send(b"!", socket.MSG_OOB); time.sleep(0.1); s.send(b"cd"); s.close()
s = socket.create_connection((sys.argv[1], 7400)); s.setsockopt(socket.SOL_SOCKET, socket.SO_OOBINLINE, 1)
got = b""
while True:
    d = s.recv(100)
    if not d: break
    got += d
print("PROGRAM GOT", got.decode(), flush=True)
PY
wait "$peer" || true
cat "$WORK/peer.out" "$WORK/prog.out"
grep -qx "PEER GOT ab!cd" "$WORK/peer.out" || fail "the peer did not read ab!cd in line"
grep -qx "PROGRAM GOT xy!z" "$WORK/prog.out" || fail "the program did not read xy!z in line"
echo "oob: a MSG_OOB byte sent from the stack arrives in line (ab!cd); one received is read in line (xy!z)"
