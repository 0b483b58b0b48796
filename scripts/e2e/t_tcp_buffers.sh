#!/usr/bin/env bash
# SO_SNDBUF and SO_RCVBUF of a TCP socket left unset read as Linux's do (sk_sndbuf, sk_rcvbuf):
# tcp_wmem's and tcp_rmem's defaults when fresh, the send buffer tcp_sndbuf_expand gives at
# connect, and both grown by autotuning once a bulk transfer ran (16 MiB sent, 8 MiB received).
# The sizes they grow to differ with the flow; E2E_KERNEL=1 passes the same checks.
source "$(dirname "$0")/lib.sh"
setup tcp_buffers
inns timeout 40 python3 -c "
import socket, threading
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(('$KERNEL_IP', 7900)); l.listen(4)
print('ready', flush=True)
def sink(c):
    while c.recv(1 << 20):
        pass
def source(c):
    c.sendall(b'z' * (8 << 20)); c.close()
c, _ = l.accept(); threading.Thread(target=sink, args=(c,)).start()
c, _ = l.accept(); threading.Thread(target=source, args=(c,)).start()
threading.Event().wait(35)
" > "$WORK/peer.out" 2>&1 &
wait_line "$WORK/peer.out" ready 50 $! "the kernel side did not start"
cat > "$WORK/c.py" <<PY
import socket
g = lambda s: (s.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF), s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
s = socket.socket()
fresh = g(s)
s.connect(('$KERNEL_IP', 7900))
connected = g(s)
s.sendall(b'y' * (16 << 20))
sent = g(s)
r = socket.socket()
r.connect(('$KERNEL_IP', 7900))
n = 0
while True:
    d = r.recv(65536)
    if not d:
        break
    n += len(d)
received = g(r)
print(fresh, connected, sent, received)
assert n == 8 << 20, n
assert fresh == (16384, 131072), fresh
assert connected[1] == 131072 and connected[0] > fresh[0], connected
assert sent[0] > connected[0], ('the send buffer did not grow', sent)
assert received[1] > connected[1], ('the receive buffer did not grow', received)
PY
onstack -- timeout 30 python3 "$WORK/c.py" > "$WORK/c.out" 2>&1 || fail "$(cat "$WORK/c.out")"
echo "tcp buffers: SO_SNDBUF, SO_RCVBUF fresh, connected, after 16 MiB sent, after 8 MiB received: $(cat "$WORK/c.out")"
