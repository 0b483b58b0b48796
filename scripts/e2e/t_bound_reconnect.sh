#!/usr/bin/env bash
# A client bound to its own port (`ncat -p`, `curl --local-port`) connects again from it to the
# same server while its last connection from there is in TIME-WAIT (it closed first): Linux lets
# the new connection replace the TIME-WAIT when timestamps were on (__inet_check_established for a
# bound socket, tcp_twsk_unique); the stack said EADDRNOTAVAIL for the minute TIME-WAIT lasts.
# And a bind with SO_REUSEADDR onto a port whose TIME-WAIT came from a socket without it is
# EADDRINUSE on Linux (SO_REUSEADDR on both sides, inet_bind_conflict); the stack let it through.
# E2E_KERNEL=1 runs it on kernel sockets.
source "$(dirname "$0")/lib.sh"
setup bound_reconnect
# The server on the kernel side: answers one byte to each connection, then waits for the client
# to close first (so the client's side keeps the TIME-WAIT), and closes.
cat > "$WORK/server.py" <<'PY'
import socket
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(('10.77.0.1', 9300))
l.listen(16)
print('listening', flush=True)
while True:
    c, _ = l.accept()
    c.recv(10)
    c.send(b'y')
    c.recv(10)
    c.close()
PY
inns timeout 60 python3 "$WORK/server.py" > "$WORK/server.out" 2>&1 &
wait_port "$KERNEL_IP" 9300
out=$(onstack -- timeout 30 python3 -c "
import errno, socket, time
def bound(port, reuse):
    s = socket.socket()
    if reuse:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('10.77.0.2', port))
    return s
def once(port, reuse):
    try:
        s = bound(port, reuse)
        s.connect(('10.77.0.1', 9300))
        s.send(b'x')
        got = s.recv(10)
        s.close()
        time.sleep(0.2)
        return got.decode()
    except OSError as e:
        return errno.errorcode[e.errno]
print('reuse both:', once(45320, True), once(45320, True), once(45320, True))
first = once(45321, False)
print('reuse only second:', first, once(45321, True))
")
echo "$out"
expected="reuse both: y y y
reuse only second: y EADDRINUSE"
[ "$out" = "$expected" ] || fail "expected:
$expected"
echo "bound reconnect: three connections from one bound port through its TIME-WAIT, and SO_REUSEADDR needed on both sides, as on Linux"
