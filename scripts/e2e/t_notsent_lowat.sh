#!/usr/bin/env bash
# The host's net.ipv4.tcp_notsent_lowat (TCP_NOTSENT_LOWAT for every socket that sets none), as
# Linux applies it: to a peer that reads nothing, a socket with a 1 MiB send buffer stops taking
# data with little of it unsent, getsockopt still says 0 (the socket's own, unset), and it polls
# writable again once the peer reads (without a mark it would hold up to its send buffer). The
# socket option itself is sockapi_conform's case. Runs on the kernel too (E2E_KERNEL=1).
source "$(dirname "$0")/lib.sh"
setup notsent
cat > "$WORK/peer.py" <<'PY'
import socket, sys, threading
ip = sys.argv[1]
go = threading.Event()
def listen(port):
    l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((ip, port)); l.listen(8); l.settimeout(30)
    return l
hold, release = listen(9500), listen(9501)
def drain(c):
    go.wait(30)
    c.settimeout(10)
    try:
        while c.recv(1 << 16): pass
    except OSError: pass
def releaser():
    while True:
        c, _ = release.accept(); go.set(); c.close()
threading.Thread(target=releaser, daemon=True).start()
while True:
    c, _ = hold.accept()
    threading.Thread(target=drain, args=(c,), daemon=True).start()
PY
inns timeout 60 python3 "$WORK/peer.py" "$KERNEL_IP" > "$WORK/peer.log" 2>&1 &
wait_port "$KERNEL_IP" 9500
wait_port "$KERNEL_IP" 9501
cat > "$WORK/prog.py" <<'PY'
import fcntl, select, socket, struct, sys, termios, time
ip = sys.argv[1]
def unsent_at_stall():
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    s.connect((ip, 9500)); s.setblocking(False)
    end = time.monotonic() + 5
    while time.monotonic() < end:
        try:
            while True: s.send(b'x' * 4096)
        except BlockingIOError: pass
        p = select.poll(); p.register(s, select.POLLOUT)
        if not p.poll(500): break
    q = struct.unpack('i', fcntl.ioctl(s.fileno(), termios.TIOCOUTQ, b'\0' * 4))[0]
    return s, q
s, q = unsent_at_stall()
print('option', s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT),
      'unsent at the stall under 96 KiB:', q < 96 * 1024, flush=True)
socket.create_connection((ip, 9501)).close()
p = select.poll(); p.register(s, select.POLLOUT)
print('the peer reads: writable', bool(p.poll(5000)), flush=True)
PY
if [ -n "$E2E_KERNEL" ]; then where="$NS-s"; else where="$NS"; fi
ip netns exec "$where" sysctl -qw net.ipv4.tcp_notsent_lowat=16384
out=$(onstack -- timeout 30 python3 "$WORK/prog.py" "$KERNEL_IP" 2>&1)
echo "$out"
expected="option 0 unsent at the stall under 96 KiB: True
the peer reads: writable True"
[ "$out" = "$expected" ] || fail "tcp_notsent_lowat is not applied as Linux applies it"
echo "notsent lowat: the host's tcp_notsent_lowat bounds what a socket holds unsent, as on Linux"
