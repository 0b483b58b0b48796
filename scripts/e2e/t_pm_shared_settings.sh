#!/usr/bin/env bash
# A UDP socket shared by two processes (a fork) is one socket: what one process does to it holds
# for the other. The shim keeps a process's copy of the association and SO_BROADCAST, for its
# sends' checks; a child that connected the socket, or set SO_BROADCAST, left its parent's copy as
# it was, and the parent's send said EDESTADDRREQ, its broadcast EACCES, where Linux sends both.
# A refusal now asks the service again first. E2E_KERNEL=1 runs it on kernel sockets.
source "$(dirname "$0")/lib.sh"
setup pm_shared
inns timeout 30 python3 -c "
import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
u.bind(('0.0.0.0', 9301))
print('ready', flush=True)
got = []
while len(got) < 2:
    got.append(u.recv(100).decode())
print('heard', ' '.join(sorted(got)), flush=True)
" > "$WORK/peer.out" 2>&1 &
peer=$!
wait_line "$WORK/peer.out" ready $peer 10 "the peer did not start"
out=$(onstack -- timeout 20 python3 -c "
import os, socket
def in_child(f):
    pid = os.fork()
    if pid == 0:
        f()
        os._exit(0)
    os.waitpid(pid, 0)
def attempt(f):
    try:
        f()
        return 'ok'
    except OSError as e:
        return type(e).__name__ + ' ' + str(e.errno)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(('0.0.0.0', 0))
in_child(lambda: u.connect(('$KERNEL_IP', 9301)))
a = attempt(lambda: u.send(b'connected'))
b2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
b2.bind(('0.0.0.0', 0))
in_child(lambda: b2.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1))
b = attempt(lambda: b2.sendto(b'broadcast', ('10.77.0.255', 9301)))
print('connected in the child: parent send', a + '; SO_BROADCAST in the child: parent broadcast', b)
")
wait "$peer" || true
echo "$out"
cat "$WORK/peer.out" | grep heard
[ "$out" = "connected in the child: parent send ok; SO_BROADCAST in the child: parent broadcast ok" ] \
  || fail "the parent's sends were refused"
grep -qx "heard broadcast connected" "$WORK/peer.out" || fail "the peer: $(cat "$WORK/peer.out")"
echo "shared settings: a socket connected, or given SO_BROADCAST, by a forked child sends so in its parent, as on Linux"
