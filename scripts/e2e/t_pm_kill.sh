#!/usr/bin/env bash
# Process model: SIGKILL of a preloaded client mid-download. Client B (preloaded) downloads a 16 MiB
# blob from the kernel-side peer, slowly; meanwhile client A (preloaded, another process) reads 1 MiB
# of an endless stream from the peer (A starts first) and is killed with SIGKILL while data is still arriving. The
# peer (which keeps sending and watches for FIN or RST) must see A's connection end within one second
# of the kill, measured on the kernel side; B's download, still running at the kill, finishes exact.
source "$(dirname "$0")/lib.sh"
setup pmkill
start_pm_peer $((16 << 20))

cat > "$WORK/b.py" <<'PY'
import socket, sys, time
ip, out = sys.argv[1], sys.argv[2]
s = socket.create_connection((ip, 9003), timeout=10)
s.sendall(b"BLOB\n")
with open(out, "wb") as f:
    while True:
        d = s.recv(65536)
        if not d:
            break
        f.write(d)
        time.sleep(0.01)      # about 3 s for the whole blob: still running when A is killed
s.close()
print("done %.6f" % time.time())
PY
cat > "$WORK/a.py" <<'PY'
import os, socket, sys, time
ip, info = sys.argv[1], sys.argv[2]
s = socket.create_connection((ip, 9003), timeout=10)
s.sendall(b"INF\n")
n = 0
while n < (1 << 20):
    d = s.recv(65536)
    assert d, "the stream ended"
    n += len(d)
open(info + ".tmp", "w").write("%d %d\n" % (os.getpid(), s.getsockname()[1]))
os.rename(info + ".tmp", info)
time.sleep(30)                # stops reading: the peer's data piles up unread
PY
onstack -- timeout 30 python3 "$WORK/a.py" "$KERNEL_IP" "$WORK/a.info" > "$WORK/a.out" 2>&1 &
for _ in $(seq 100); do [ -s "$WORK/a.info" ] && break; sleep 0.1; done
[ -s "$WORK/a.info" ] || fail "client A did not start its download: $(cat "$WORK/a.out")"
onstack -- timeout 30 python3 "$WORK/b.py" "$KERNEL_IP" "$WORK/b.got" > "$WORK/b.out" 2>&1 &
b=$!
# B has begun (a failure to begin shows below, after A's part).
for _ in $(seq 50); do [ "$(stat -c %s "$WORK/b.got" 2>/dev/null || echo 0)" -gt 0 ] && break; sleep 0.1; done
read -r apid aport < "$WORK/a.info"
grep -q "^OPEN stream $STACK_IP $aport$" "$WORK/peer.log" || fail "peer: $(cat "$WORK/peer.log")"
sleep 0.3
killed=$(date +%s.%N)
kill -KILL "$apid"
for _ in $(seq 30); do grep -q "^END stream $STACK_IP $aport " "$WORK/peer.log" && break; sleep 0.1; done
end=$(grep "^END stream $STACK_IP $aport " "$WORK/peer.log") || fail "the peer did not see A's connection end within 3 s of SIGKILL: $(cat "$WORK/peer.log")"
read -r _ _ _ _ how _ _ at <<< "$end"
took=$(awk -v a="$at" -v k="$killed" 'BEGIN { printf "%.3f", a - k }')
echo "A killed: the peer saw $how after $took s"
[ "$how" = eof ] || [ "$how" = rst ] || fail "A's connection ended with $how"
awk -v t="$took" 'BEGIN { exit !(t < 1.0) }' || fail "the peer saw A's connection end $took s after SIGKILL"
wait "$b" || fail "client B failed: $(cat "$WORK/b.out")"
[ "$(sha256sum < "$WORK/b.got" | cut -d' ' -f1)" = "$(sha256sum < "$WORK/blob" | cut -d' ' -f1)" ] \
  || fail "client B got $(stat -c %s "$WORK/b.got") different bytes"
done_at=$(awk '/^done/ {print $2}' "$WORK/b.out")
awk -v d="$done_at" -v k="$killed" 'BEGIN { exit !(d > k) }' || fail "B had finished before the kill; nothing was shown"
echo "pm kill: SIGKILLed client's connection ended at the peer in $took s ($how); the other client's 16 MiB exact"
