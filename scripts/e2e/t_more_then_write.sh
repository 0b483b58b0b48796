#!/usr/bin/env bash
# A send with MSG_MORE, then the rest with write(2), writev(2), sendfile(2) or splice(2): Linux
# pushes at the end of any send without MSG_MORE, so each answer comes at once; the stack held the
# partial segment until its persist timer (about 200 ms a round), as only send/sendmsg ended a run.
source "$(dirname "$0")/lib.sh"
setup morewrite
inns timeout 30 python3 -c "
import socket
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(('$KERNEL_IP', 9600)); l.listen(1)
c, _ = l.accept()
while True:
    got = b''
    while len(got) < 600:
        d = c.recv(600 - len(got))
        if not d:
            raise SystemExit
        got += d
    c.sendall(b'k')
" &
wait_port "$KERNEL_IP" 9600
head -c 500 /dev/zero > "$WORK/body"
out=$(onstack -- timeout 20 python3 -c "
import os, socket, time
s = socket.create_connection(('$KERNEL_IP', 9600))
f = open('$WORK/body', 'rb')
r, w = os.pipe()
ways = {
    'write': lambda: os.write(s.fileno(), b'b' * 500),
    'writev': lambda: os.writev(s.fileno(), [b'b' * 200, b'b' * 300]),
    'sendfile': lambda: os.sendfile(s.fileno(), f.fileno(), 0, 500),
    'splice': lambda: (os.write(w, b'b' * 500), os.splice(r, s.fileno(), 500)),
}
for name, rest in ways.items():
    t0 = time.time()
    for _ in range(5):
        s.send(b'h' * 100, socket.MSG_MORE)
        rest()
        assert s.recv(1) == b'k'
    took = time.time() - t0
    print(name, 'at once' if took < 0.4 else 'took %.2f s' % took)
" 2>&1)
echo "$out"
[ "$out" = "write at once
writev at once
sendfile at once
splice at once" ] || fail "the rest of a MSG_MORE run waited"
echo "more then write: write, writev, sendfile and splice end a MSG_MORE run as Linux's sends do"
