#!/usr/bin/env bash
# SO_RCVBUF and SO_SNDBUF as Linux's: what getsockopt reports after each size (twice what was
# asked, within net.core's rmem_max/wmem_max and the floors) on UDP and TCP sockets on the stack,
# the FORCE variants past the maximum with CAP_NET_ADMIN and EPERM without it; and what a UDP
# socket's buffer holds: 2000 datagrams sent while the program does not read are all there with
# SO_RCVBUF 4 MB, and fewer with the default. With E2E_KERNEL=1 the same runs on the kernel.
source "$(dirname "$0")/lib.sh"
setup udprcvbuf

cat > "$WORK/sizes.py" <<'PY'
import socket, sys
def sysctl(name):
    return [int(v) for v in open('/proc/sys/net/' + name).read().split()]
rmem_max, wmem_max = sysctl('core/rmem_max')[0], sysctl('core/wmem_max')[0]
def linux(asked, rcv, force=False):
    # The plain options compare as unsigned: -1 asks for the most.
    top = 2**31 // 2 - 1 if force else (rmem_max if rcv else wmem_max)
    asked = max(asked, 0) if force else asked % 2**32
    return max(min(asked, top) * 2, 2304 if rcv else 4608)
bad = []
for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind((sys.argv[1], 0))
    get = lambda o: s.getsockopt(socket.SOL_SOCKET, o)
    start = {socket.SOCK_DGRAM: sysctl('core/rmem_default')[0],
             socket.SOCK_STREAM: sysctl('ipv4/tcp_rmem')[1]}[kind]
    if get(socket.SO_RCVBUF) != start:
        bad.append((kind, 'default SO_RCVBUF', get(socket.SO_RCVBUF), start))
    for asked in (-1, 0, 1, 4000, 100000, 4 << 20, 1 << 30):
        for opt, rcv in ((socket.SO_RCVBUF, True), (socket.SO_SNDBUF, False)):
            s.setsockopt(socket.SOL_SOCKET, opt, asked)
            if get(opt) != linux(asked, rcv):
                bad.append((kind, opt, asked, get(opt), linux(asked, rcv)))
    for opt, rcv in ((33, True), (32, False)):  # SO_RCVBUFFORCE, SO_SNDBUFFORCE
        try:
            s.setsockopt(socket.SOL_SOCKET, opt, 64 << 20)
            got = get(socket.SO_RCVBUF if rcv else socket.SO_SNDBUF)
            print('force', got == linux(64 << 20, rcv, True))
        except OSError as e:
            print('force', e.strerror)
print('sizes', bad or 'as Linux')
PY
out=$(onstack -- timeout 20 python3 "$WORK/sizes.py" "$STACK_IP")
[ "$out" = "force True
force True
force True
force True
sizes as Linux" ] || fail "buffer sizes with CAP_NET_ADMIN: $out"
out=$(onstack -- timeout 20 setpriv --inh-caps=-net_admin --bounding-set=-net_admin python3 "$WORK/sizes.py" "$STACK_IP")
[ "$out" = "force Operation not permitted
force Operation not permitted
force Operation not permitted
force Operation not permitted
sizes as Linux" ] || fail "buffer sizes without CAP_NET_ADMIN: $out"

# The receiver says ready, sleeps until the sender is done, then reads what its buffer kept.
cat > "$WORK/rcv.py" <<'PY'
import os, socket, sys, time
size, port, done = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
if size:
    u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
u.bind(('0.0.0.0', port))
print('ready', flush=True)
for _ in range(300):
    if os.path.exists(done):
        break
    time.sleep(0.1)
time.sleep(0.5)
u.settimeout(0.5)
n = 0
try:
    while True:
        u.recv(2000)
        n += 1
except socket.timeout:
    pass
print('received', n)
PY
burst() {
  local size=$1 port=$2
  rm -f "$WORK/done"
  onstack -- timeout 60 python3 "$WORK/rcv.py" "$size" "$port" "$WORK/done" > "$WORK/rcv.$port" 2>&1 &
  local pid=$!
  wait_line "$WORK/rcv.$port" ready "$pid" 10 "receiver on $port"
  inns timeout 30 python3 -c "
import socket, time
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(2000):
    u.sendto(b'x' * 1000, ('$STACK_IP', $port))
    time.sleep(0.0003)
"
  touch "$WORK/done"
  wait "$pid" || fail "receiver on $port: $(cat "$WORK/rcv.$port")"
  sed -n 's/^received //p' "$WORK/rcv.$port"
}
big=$(burst 4000000 9601)
[ "$big" = 2000 ] || fail "with SO_RCVBUF 4 MB the socket kept $big of 2000 datagrams"
small=$(burst 0 9602)
[ "$small" -gt 0 ] && [ "$small" -lt 2000 ] || fail "with the default buffer the socket kept $small of 2000 datagrams"
echo "udp_rcvbuf: SO_RCVBUF/SO_SNDBUF sizes as Linux's (FORCE with CAP_NET_ADMIN, EPERM without); a 4 MB buffer kept 2000 of 2000 datagrams, the default $small"
