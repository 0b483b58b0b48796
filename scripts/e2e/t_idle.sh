#!/usr/bin/env bash
# A preloaded, idle, blocked program uses no measurable CPU over five seconds.
source "$(dirname "$0")/lib.sh"
setup idle
inns timeout 30 python3 -c "
import socket, time
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(('$KERNEL_IP', 9000)); l.listen(1)
c, a = l.accept(); time.sleep(20)" &
wait_port "$KERNEL_IP" 9000
onstack -- python3 -c "
import socket
s = socket.create_connection(('$KERNEL_IP', 9000))
s.recv(10)" &
client=$!
sleep 1
pid=$(ns_pgrep "create_connection\(\('$KERNEL_IP', 9000" | head -1)
[ -n "$pid" ] || fail "blocked client not found"
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
before=$(ticks "$pid")
sleep 5
after=$(ticks "$pid")
used=$((after - before))
kill "$client" 2>/dev/null || true
# Clock ticks are 10 ms: 5 s of spinning would be 500; allow 2 (20 ms) for timers and noise.
[ "$used" -le 2 ] || fail "idle blocked program used $used ticks of CPU in 5 s"
echo "idle: $used clock ticks of CPU in 5 s while blocked in recv"
