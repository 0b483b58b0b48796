#!/usr/bin/env bash
# Process model: the stack service against hostile clients. While a preloaded program holds a
# connection, a program that speaks to the service's control socket directly sends garbage, cut and
# oversized messages, requests naming no socket or a forged one (a pipe, a UNIX socket of its own),
# a flood of requests it never reads the answers to; a process of another user (which a service of
# root's admits, as the kernel serves every user) asks about a socket it holds no descriptor for.
# A door (src/service/client.rs) is sent garbage, a pipe, a stream socket and a socketpair another
# process made: it adopts none of them, and still adopts the sender's own control connection.
# Each gets an error or loses its connection; the service stays up (same pid), the first program's
# connection still echoes, and a new preloaded program works.
source "$(dirname "$0")/lib.sh"
setup pmhostile
start_pm_peer

# The victim: a preloaded program with a live connection, echoing on demand.
cat > "$WORK/victim.py" <<'PY'
import socket, sys, time
s = socket.create_connection((sys.argv[1], 9000), timeout=10)
s.sendall(b'before'); assert s.recv(6) == b'before'
open(sys.argv[2], 'w').write('ready\n')
deadline = time.monotonic() + 40
import os
while time.monotonic() < deadline and not os.path.exists(sys.argv[3]):
    time.sleep(0.05)
s.sendall(b'after'); got = s.recv(5)
print('victim', got.decode(), flush=True)
PY
onstack -- timeout 60 python3 "$WORK/victim.py" "$KERNEL_IP" "$WORK/ready" "$WORK/go" > "$WORK/victim.out" 2>&1 &
victim=$!
for _ in $(seq 100); do [ -s "$WORK/ready" ] && break; sleep 0.1; done
[ -s "$WORK/ready" ] || fail "the victim did not connect: $(cat "$WORK/victim.out")"
svc=$(ns_pgrep "tapstack service" | head -1)
[ -n "$svc" ] || fail "no stack service is running"

# The hostile client speaks the control protocol by hand (src/service/proto.rs): a request is
# seq (u32 LE), quiet (0: answer wanted), target (0: the socket whose descriptor comes along, 3: a
# socketpair the client made, both ends along), call; a reply is seq, errno.
cat > "$WORK/hostile.py" <<'PY'
import errno, os, random, socket, struct, sys
NAME = b'\0tapstack/tap0'
def conn():
    c = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    c.settimeout(5)
    c.connect(NAME)
    return c
def ask(c, payload, fds=()):
    socket.send_fds(c, [payload], list(fds)) if fds else c.send(payload)
    r = c.recv(4096)
    seq, err = struct.unpack_from('<Ii', r)
    return seq, err
TAKE_ERROR = 10
c = conn()
# Garbage of every length: each answered EINVAL, never a crash.
rng = random.Random(7)
for n in range(0, 200):
    seq, err = ask(c, bytes(rng.getrandbits(8) for _ in range(n % 64 + 1)))
    assert err in (errno.EINVAL, 0, errno.EBADF, errno.ENOTSOCK), (n, err)
print('garbage answered')
# Cut short and too long.
assert ask(c, struct.pack('<IB', 1, 0))[1] == errno.EINVAL
assert ask(c, b'\1' * 5000)[1] == errno.EMSGSIZE
# A request about an existing socket with no descriptor, or a forged one: refused.
req = struct.pack('<IBBB', 2, 0, 0, TAKE_ERROR)
assert ask(c, req) == (2, errno.EBADF)
r, w = os.pipe()
assert ask(c, req, [r]) == (2, errno.ENOTSOCK), 'a pipe passed for a socket'
a, b = socket.socketpair()
assert ask(c, req, [a.fileno()]) == (2, errno.ENOTSOCK), 'a socketpair of its own'
# A new socket with more options than allowed.
big = struct.pack('<IBBI', 3, 0, 1, 100000) + bytes(100)
assert ask(c, big)[1] == errno.EINVAL
# "Its own socketpair" that is no pair of a stack socket: two pipe ends, an unnamed pair.
CONNECT_FILLED = 13
given = struct.pack('<IBBI', 4, 0, 3, 0) + struct.pack('<B4sHI', CONNECT_FILLED, bytes([10, 77, 0, 1]), 80, 0)
assert ask(c, given, [r, w]) == (4, errno.EINVAL), 'pipes given for a socketpair'
x, y = socket.socketpair()
assert ask(c, given, [x.fileno(), y.fileno()]) == (4, errno.EINVAL), 'an unnamed pair'
assert ask(c, given, [x.fileno()]) == (4, errno.EBADF), 'one end only'

print('forged requests refused')
# A flood it never reads: the service drops this client rather than block on it.
f = conn()
f.setblocking(False)
sent = 0
for i in range(200000):
    try:
        f.send(struct.pack('<IBBB', i, 0, 0, TAKE_ERROR))
        sent += 1
    except (BlockingIOError, BrokenPipeError, ConnectionResetError):
        break   # full, or already dropped by the service
print('flooded', sent)
f.close()
# The first connection is still served.
assert ask(c, struct.pack('<IBBB', 9, 0, 0, TAKE_ERROR)) == (9, errno.EBADF)
# Doors (src/service/client.rs): a connection whose first message says so brings control
# connections, each a socketpair end of the sender's own making with its credentials; nothing else
# is taken, and the door stays.
DOOR, ADOPT = b'\0\0\0\0\xffdoor', b'adopt'
def through(door, fd):
    cred = struct.pack('iII', os.getpid(), os.geteuid(), os.getegid())
    door.sendmsg([ADOPT], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack('i', fd)),
                           (socket.SOL_SOCKET, socket.SCM_CREDENTIALS, cred)])
def served(end):
    try:
        end.send(struct.pack('<IBBB', 5, 0, 0, TAKE_ERROR))
        return end.recv(4096) == struct.pack('<Ii', 5, errno.EBADF)
    except OSError:
        return False
door = conn()
door.send(DOOR)
# Garbage, a message without its connection, a pipe, a stream socketpair: all dropped.
door.send(b'garbage')
door.send(ADOPT)
through(door, r)
sa, sb = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
through(door, sa.fileno())
# A socketpair another process made (its credentials, not ours): refused.
ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
pid = os.fork()
if pid == 0:
    p1, p2 = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    socket.send_fds(theirs, [b'x'], [p1.fileno(), p2.fileno()])
    os._exit(0)
os.waitpid(pid, 0)
_, (p1, p2), _, _ = socket.recv_fds(ours, 10, 2)
p1, p2 = socket.socket(fileno=p1), socket.socket(fileno=p2)
p2.settimeout(2)
through(door, p1.fileno())
p1.close()
assert not served(p2), "a door adopted another process's socketpair"
# Our own: adopted, and answered as any client.
mine, given = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
mine.settimeout(5)
through(door, given.fileno())
given.close()
assert served(mine), "a door did not adopt its sender's own control connection"
# A control connection that says it is a door once it has asked something: garbage (EINVAL).
assert ask(c, DOOR)[1] == errno.EINVAL
print('doors adopt only their senders own control connections')
print('hostile done')
PY
inns timeout 60 python3 "$WORK/hostile.py" > "$WORK/hostile.out" 2>&1 || fail "hostile client: $(cat "$WORK/hostile.out")"
grep -q "hostile done" "$WORK/hostile.out" || fail "hostile client: $(cat "$WORK/hostile.out")"

# Another user: admitted by this service of root's, but a request that names no socket of its own
# gets EBADF (a program acts only on sockets it holds a descriptor for).
cat > "$WORK/other.py" <<'PY'
import socket, struct
c = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); c.settimeout(5)
c.connect(b'\0tapstack/tap0')
try:
    c.send(struct.pack('<IBBB', 1, 0, 0, 10))
    r = c.recv(4096)
except OSError as e:
    r = b''
print('EBADF' if r == struct.pack('<Ii', 1, 9) else 'answered %r' % r)
PY
# (Debian's python, which any user may run; the script comes on standard input, as $WORK is root's.)
py=/usr/bin/python3; [ -x "$py" ] || py=python3
inns timeout 20 setpriv --reuid=65534 --regid=65534 --clear-groups "$py" - < "$WORK/other.py" > "$WORK/other.out" 2>&1
grep -qx EBADF "$WORK/other.out" || fail "another user's client: $(cat "$WORK/other.out")"

now=$(ns_pgrep "tapstack service" | head -1)
[ "$now" = "$svc" ] || fail "the service changed from pid $svc to ${now:-none}"
touch "$WORK/go"
wait "$victim" || true
grep -qx "victim after" "$WORK/victim.out" || fail "the victim's connection: $(cat "$WORK/victim.out")"
onstack -- timeout 20 python3 -c "
import socket
s = socket.create_connection(('$KERNEL_IP', 9000), timeout=5); s.sendall(b'new'); assert s.recv(3) == b'new'
print('new ok')" > "$WORK/new.out" 2>&1
grep -qx "new ok" "$WORK/new.out" || fail "a new program after the attacks: $(cat "$WORK/new.out")"
echo "pm hostile: garbage, cut/oversized and forged requests refused, a flooding client dropped ($(grep flooded "$WORK/hostile.out" | cut -d' ' -f2) requests), another user kept to its own sockets, a door adopting only its sender's own control connections; the service (pid $svc) and its clients carried on"
