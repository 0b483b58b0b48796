#!/usr/bin/env bash
# A server that shuts its writing and closes at once, with data of the peer's still unread, as
# dnsmasq does after its 100th query on a TCP connection (shutdown(SHUT_RDWR); close()): Linux's
# shutdown sends the FIN then and there, and the close's RST (unread data) comes after it, so the
# peer reads the answer, then end of file. The stack met the socketpair's end of file only after
# the close and took it for a close alone: a RST, no FIN, and the peer's read said ECONNRESET.
# The close's RST still follows (the peer's send then fails with EPIPE). A close with no shutdown
# before is a RST alone on both. The listener's own SHUT_WR changes nothing. E2E_KERNEL=1 runs it on kernel sockets.
source "$(dirname "$0")/lib.sh"
setup shutclose
cat > "$WORK/server.py" <<'PY'
import socket, struct, time
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(('10.77.0.2', 7000))
l.listen(5)
# A listener's writing shut changes nothing (inet_shutdown in LISTEN): it goes on accepting.
l.shutdown(socket.SHUT_WR)
print('listening', flush=True)
for mode in ['wr', 'rdwr', 'linger0 wr', 'close']:
    c, _ = l.accept()
    c.recv(10)  # the rest of the peer's 100 bytes stays unread
    c.sendall(b'reply')
    if mode.startswith('linger0'):
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    if mode.endswith('rdwr'):
        c.shutdown(socket.SHUT_RDWR)
    elif mode.endswith('wr'):
        c.shutdown(socket.SHUT_WR)
    c.close()
time.sleep(1)
PY
onstack -- timeout 60 python3 "$WORK/server.py" > "$WORK/server.out" 2>&1 &
wait_line "$WORK/server.out" listening $! 10 "the server did not start"
out=$(inns timeout 40 python3 -c "
import socket, time
for mode in ['wr', 'rdwr', 'linger0 wr', 'close']:
    t = socket.create_connection(('10.77.0.2', 7000), timeout=5)
    t.sendall(b'x' * 100)
    time.sleep(0.5)
    got = []
    try:
        got.append(repr(t.recv(100)))
        got.append(repr(t.recv(100)))
        # The RST that the unread data brings has come after the FIN: a send fails.
        time.sleep(0.3)
        t.send(b'z')
        got.append('sent')
    except OSError as e:
        got.append(type(e).__name__)
    print(mode + ':', ' '.join(got))
    t.close()
")
echo "$out"
expected="wr: b'reply' b'' BrokenPipeError
rdwr: b'reply' b'' BrokenPipeError
linger0 wr: b'reply' b'' BrokenPipeError
close: b'reply' ConnectionResetError"
[ "$out" = "$expected" ] || fail "expected:
$expected"
echo "shutdown then close: the FIN before the RST, the peer reads its end of file, as on Linux"
