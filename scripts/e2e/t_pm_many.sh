#!/usr/bin/env bash
# Process model: 50 preloaded client processes at once, each opening 20 connections to the
# kernel-side echo peer and exchanging 16 KiB on each: every exchange exact, and the peer saw all
# 1000 connections from 10.77.0.2 carry 16 KiB and end with a FIN.
source "$(dirname "$0")/lib.sh"
setup pmmany
start_pm_peer $((64 << 10))
cat > "$WORK/client.py" <<'PY'
import os, socket, sys
ip = sys.argv[1]
conns = [socket.create_connection((ip, 9000), timeout=20) for _ in range(20)]
data = [os.urandom(16 << 10) for _ in conns]
for c, d in zip(conns, data):
    c.sendall(d)
for c, d in zip(conns, data):
    got = bytearray()
    while len(got) < len(d):
        r = c.recv(65536)
        assert r, "EOF before the whole echo"
        got += r
    assert bytes(got) == d, "an echo differs"
for c in conns:
    c.close()
print("ok")
PY
pids=()
for i in $(seq 50); do
  onstack -- timeout 45 python3 "$WORK/client.py" "$KERNEL_IP" > "$WORK/c.$i.out" 2>&1 & pids+=($!)
done
bad=0
for i in $(seq 50); do
  wait "${pids[$((i - 1))]}" && grep -qx ok "$WORK/c.$i.out" || { bad=$((bad + 1)); last=$i; }
done
[ "$bad" -eq 0 ] || fail "$bad of 50 clients failed; client $last said: $(tail -n 3 "$WORK/c.$last.out")"
for _ in $(seq 30); do
  [ "$(grep -c "^END echo $STACK_IP [0-9]* eof $((16 << 10)) " "$WORK/peer.log")" -eq 1000 ] && break
  sleep 0.1
done
n=$(grep -c "^END echo $STACK_IP [0-9]* eof $((16 << 10)) " "$WORK/peer.log" || true)
[ "$n" -eq 1000 ] || fail "the peer saw $n of 1000 connections carry 16 KiB and end with a FIN: $(grep -v "eof $((16 << 10))" "$WORK/peer.log" | grep END | head -3)"
echo "pm many: 50 preloaded processes x 20 connections, 1000 exchanges exact"
