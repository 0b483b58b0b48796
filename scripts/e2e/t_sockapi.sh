#!/usr/bin/env bash
# The socket API as a program sees it through the preload: options (with Linux's errno, and TOS/TTL
# checked on the wire), fcntl/ioctl, dup, poll, select and epoll (level, edge, one-shot, RDHUP) over
# a mix of stack sockets and kernel pipes; every kernel-side peer must see 10.77.0.2.
source "$(dirname "$0")/lib.sh"
setup sockapi
inns timeout 60 python3 -c "
import socket, threading, time
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(('$KERNEL_IP', 9000)); l.listen(8)
def serve(c):
    while True:
        d = c.recv(65536)
        if not d: break
        if d == b'close':
            c.close(); return
        time.sleep(0.2); c.sendall(d)
    c.close()
while True:
    c, a = l.accept(); open('$WORK/echo.log', 'a').write(a[0] + '\n')
    threading.Thread(target=serve, args=(c,), daemon=True).start()" &
# A peer on 9002 that accepts and never reads, with a tiny receive buffer: sends to it block.
inns timeout 60 python3 -c "
import socket, time
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
l.bind(('$KERNEL_IP', 9002)); l.listen(4); cs = []
while True:
    c, a = l.accept(); cs.append(c); print(a[0], flush=True)" > "$WORK/stuck.log" &
# A slow reader on 9001 with a tiny receive buffer: waits a second, then reads everything and
# reports how much.
inns timeout 60 python3 -c "
import socket, time
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
l.bind(('$KERNEL_IP', 9001)); l.listen(1)
c, a = l.accept(); print(a[0], flush=True); time.sleep(1); n = 0
while True:
    d = c.recv(65536)
    if not d: break
    n += len(d)
print(n, flush=True)" > "$WORK/slow.log" &
# A kernel-side UDP receiver on every address (broadcasts included) that logs each sender.
inns timeout 60 python3 -c "
import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('0.0.0.0', 9009))
while True:
    d, a = u.recvfrom(100); print(a[0], d.decode(), flush=True)" > "$WORK/udp.log" &
for _ in $(seq 100); do inns ss -Hltn "src $KERNEL_IP:9000" | grep -q . && break; sleep 0.1; done
for _ in $(seq 100); do inns ss -Hltn "src $KERNEL_IP:9001" | grep -q . && break; sleep 0.1; done
for _ in $(seq 100); do inns ss -Hltn "src $KERNEL_IP:9002" | grep -q . && break; sleep 0.1; done

onstack --pcap "$WORK/sockapi.pcap" -- python3 - <<PY
import errno, fcntl, os, select, socket, struct, termios, time

def expect_errno(code, f):
    try:
        f()
    except OSError as e:
        assert e.errno == code, (errno.errorcode.get(e.errno), errno.errorcode[code])
        return
    raise AssertionError('no error, expected ' + errno.errorcode[code])

s = socket.socket()
# Options before connecting are kept and reported back.
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 30)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 100000)
assert s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
assert s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 30
assert s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) == 200000   # doubled, as Linux
assert s.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE) == socket.SOCK_STREAM
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, b'bbr')      # harmless: accepted, logged
expect_errno(errno.ENOENT, lambda: s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, b'nosuch'))
expect_errno(errno.EPROTO, lambda: s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, b'\0' * 8))
expect_errno(errno.EINVAL, lambda: s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 0))
expect_errno(errno.ENOTCONN, lambda: s.getpeername())
expect_errno(errno.EPIPE, lambda: s.send(b'x'))

# setblocking(False) (ioctl FIONBIO) on a socket not yet attached reaches its kernel placeholder
# too: a loopback connect, which the kernel makes, is nonblocking as asked.
lo = socket.socket(); lo.bind(('127.0.0.1', 0)); lo.listen(1)
k = socket.socket(); k.setblocking(False)
expect_errno(errno.EINPROGRESS, lambda: k.connect(lo.getsockname()))
kc, _ = lo.accept()
select.select([], [k], [], 5)
expect_errno(errno.EAGAIN, lambda: k.recv(10))
k.close(); kc.close(); lo.close()

# Nonblocking connect: EINPROGRESS, then writable, then SO_ERROR 0.
s.setblocking(False)
expect_errno(errno.EINPROGRESS, lambda: s.connect(('$KERNEL_IP', 9000)))
_, w, _ = select.select([], [s], [], 5)
assert w == [s]
assert s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
assert s.getpeername() == ('$KERNEL_IP', 9000)
assert s.getsockname()[0] == '$STACK_IP'
assert fcntl.fcntl(s, fcntl.F_GETFL) & os.O_NONBLOCK
expect_errno(errno.EAGAIN, lambda: s.recv(10))

# dup2/dup3 from a descriptor that is not open fail with EBADF and leave the target socket alone.
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
bad = os.open('/dev/null', os.O_RDONLY); os.close(bad)
expect_errno(errno.EBADF, lambda: os.dup2(bad, s.fileno()))
assert libc.dup3(bad, s.fileno(), os.O_CLOEXEC) == -1 and ctypes.get_errno() == errno.EBADF
assert libc.dup3(bad, s.fileno(), 1) == -1 and ctypes.get_errno() == errno.EINVAL
assert s.getpeername() == ('$KERNEL_IP', 9000)

# getsockopt with a short buffer truncates as Linux does: an int option gets its first bytes, an
# IP-level one its value as one byte; a negative length is EINVAL.
def getopt_raw(fd, level, name, n):
    buf = ctypes.create_string_buffer(b'\xee' * 16); ln = ctypes.c_int32(n)
    r = libc.getsockopt(fd, level, name, buf, ctypes.byref(ln))
    return (r, ctypes.get_errno()) if r else (ln.value, buf.raw[:ln.value])
rcvbuf = s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
assert getopt_raw(s.fileno(), socket.SOL_SOCKET, socket.SO_RCVBUF, 2) == (2, struct.pack('i', rcvbuf)[:2])
assert getopt_raw(s.fileno(), socket.SOL_SOCKET, socket.SO_RCVBUF, 0) == (0, b'')
assert getopt_raw(s.fileno(), socket.SOL_SOCKET, socket.SO_RCVBUF, 8) == (4, struct.pack('i', rcvbuf))
assert getopt_raw(s.fileno(), socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1) == (1, bytes([30]))
assert getopt_raw(s.fileno(), socket.IPPROTO_IP, socket.IP_TTL, 2) == (1, bytes([64]))
assert getopt_raw(s.fileno(), socket.SOL_SOCKET, socket.SO_RCVBUF, -1) == (-1, errno.EINVAL)

# select with nfds above FD_SETSIZE, as the kernel takes it: bits beyond the descriptor table
# (FDSize) are ignored and left as they were.
fdsize = int(open('/proc/self/status').read().split('FDSize:')[1].split()[0])
nbits = max(fdsize + 256, 8192)
big_r = ctypes.create_string_buffer(nbits // 8); big_w = ctypes.create_string_buffer(nbits // 8)
def setbit(b, fd): b[fd // 8] = bytes([b.raw[fd // 8] | 1 << (fd % 8)])
setbit(big_w, s.fileno()); setbit(big_r, fdsize + 100)
tv = ctypes.create_string_buffer(struct.pack('ll', 2, 0))
n = libc.select(nbits, big_r, big_w, None, tv)
assert n == 1 and big_w.raw[s.fileno() // 8] & 1 << (s.fileno() % 8), (n, ctypes.get_errno())
assert big_r.raw[(fdsize + 100) // 8] != 0, 'a bit beyond the table was touched'

# TCP_INFO comes from the connection's own figures.
info = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
state, snd_mss = info[0], struct.unpack_from('I', info, 16)[0]
assert state == 1 and snd_mss in (1448, 1460), (state, snd_mss)

# poll and select over a stack socket and a pipe, with timeouts.
r, wp = os.pipe()
p = select.poll()
p.register(s, select.POLLIN)
p.register(r, select.POLLIN)
t = time.monotonic(); assert p.poll(300) == []; dt = time.monotonic() - t
assert 0.28 < dt < 0.6, dt
os.write(wp, b'x')
assert p.poll(1000) == [(r, select.POLLIN)]
os.read(r, 1)
s.send(b'hello')                      # the server echoes after 0.2 s
assert select.select([s, r], [], [], 2)[0] == [s]
n = struct.unpack('i', fcntl.ioctl(s, termios.FIONREAD, b'\0\0\0\0'))[0]
assert n == 5, n
assert s.recv(100) == b'hello'

# epoll: level-triggered, edge-triggered, one-shot, on a dup of the socket.
d = os.dup(s.fileno())
ep = select.epoll()
ep.register(d, select.EPOLLIN | select.EPOLLET)
ep.register(r, select.EPOLLIN)
assert ep.poll(0.3) == []
s.send(b'edge')
ev = ep.poll(2); assert ev == [(d, select.EPOLLIN)], ev
assert ep.poll(0.3) == [], 'edge-triggered: no second report without new data'
assert s.recv(100) == b'edge'
ep.modify(d, select.EPOLLIN | select.EPOLLONESHOT)
s.send(b'once')
assert ep.poll(2) == [(d, select.EPOLLIN)]
assert ep.poll(0.3) == [], 'one-shot: disarmed after one report'
assert s.recv(100) == b'once'
os.write(wp, b'y')
assert ep.poll(1) == [(r, select.EPOLLIN)]
os.read(r, 1)
os.close(d)

# The peer closes: EPOLLRDHUP and end of file.
s2 = socket.create_connection(('$KERNEL_IP', 9000), timeout=5)
ep.register(s2, select.EPOLLIN | select.EPOLLRDHUP)
s2.send(b'close')
ev = ep.poll(3)
assert ev and ev[0][0] == s2.fileno() and ev[0][1] & select.EPOLLRDHUP, ev
assert s2.recv(10) == b''

# UDP: a TCP option is ENOPROTOOPT to set and EOPNOTSUPP to get, as on Linux. SO_BROADCAST is kept
# and decides: a broadcast destination without it is EACCES, with it the datagram goes out.
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.connect(('$KERNEL_IP', 9009))
expect_errno(errno.ENOPROTOOPT, lambda: u.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1))
expect_errno(errno.EOPNOTSUPP, lambda: u.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
u.send(b'unicast')
b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
assert b.getsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST) == 0
for dst in ('255.255.255.255', '10.77.0.255'):
    expect_errno(errno.EACCES, lambda: b.sendto(b'refused', (dst, 9009)))
expect_errno(errno.EACCES, lambda: b.connect(('10.77.0.255', 9009)))
b.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 5)
assert b.getsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST) == 1
assert b.sendto(b'limited', ('255.255.255.255', 9009)) == 7
assert b.sendto(b'directed', ('10.77.0.255', 9009)) == 8
b.close(); u.close()

# A stack socket closed behind the shim's back (fclose of an fdopen'ed stream closes inside libc)
# leaves a record of its number; socketpair and epoll_create, which the kernel may give that number,
# must not inherit it.
def closed_behind_our_back(fd):
    libc.fdopen.restype = ctypes.c_void_p
    libc.fclose.argtypes = [ctypes.c_void_p]
    assert libc.fclose(libc.fdopen(fd, b'r+')) == 0
s4 = socket.create_connection(('$KERNEL_IP', 9000), timeout=5)
n4 = s4.detach(); closed_behind_our_back(n4)
a, b = socket.socketpair()
assert n4 in (a.fileno(), b.fileno()), (n4, a.fileno(), b.fileno())
a.settimeout(2); b.settimeout(2)
a.sendall(b'pair'); assert b.recv(10) == b'pair'
b.sendall(b'back'); assert a.recv(10) == b'back'
a.close(); b.close()
s5 = socket.create_connection(('$KERNEL_IP', 9000), timeout=5)
ep5 = select.epoll(); ep5.register(s5, select.EPOLLOUT)
assert ep5.poll(1) == [(s5.fileno(), select.EPOLLOUT)]
n5 = ep5.fileno(); closed_behind_our_back(n5)
ep6 = select.epoll()
assert ep6.fileno() == n5, (ep6.fileno(), n5)
assert ep6.poll(0.2) == [], 'a new epoll instance reported the old one\'s socket'
ep6.close()
try:
    ep5.close()   # its number is long gone
except OSError:
    pass
s5.close()

# SO_DOMAIN, SO_REUSEPORT (reported back; the bind still works).
r6 = socket.socket()
assert r6.getsockopt(socket.SOL_SOCKET, socket.SO_DOMAIN) == socket.AF_INET
assert r6.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 0
r6.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
assert r6.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
r6.bind(('$STACK_IP', 0)); assert r6.getsockname()[0] == '$STACK_IP'
assert r6.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
r6.close()

# IP_TOS and IP_TTL set before connecting are on the wire from the SYN on (checked in the capture);
# on UDP too.
t6 = socket.socket()
t6.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0x28)
t6.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 33)
t6.connect(('$KERNEL_IP', 9000))
assert t6.getsockopt(socket.IPPROTO_IP, socket.IP_TOS) == 0x28
assert t6.getsockopt(socket.IPPROTO_IP, socket.IP_TTL) == 33
t6.sendall(b'tos'); t6.settimeout(5); assert t6.recv(10) == b'tos'
t6.close()
u6 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u6.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0x10)
u6.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 17)
u6.sendto(b'ttl', ('$KERNEL_IP', 9009)); u6.close()

# SO_RCVTIMEO and SO_SNDTIMEO set with a struct timeval (not python's own timeout) fire on time.
tv = lambda secs: struct.pack('ll', int(secs), int(secs % 1 * 1e6))
r7 = socket.create_connection(('$KERNEL_IP', 9000)); r7.settimeout(None)
r7.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv(0.7))
assert r7.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16) == tv(0.7)
t = time.monotonic(); expect_errno(errno.EAGAIN, lambda: r7.recv(10)); dt = time.monotonic() - t
assert 0.65 < dt < 1.2, 'SO_RCVTIMEO 0.7 s fired after %.2f s' % dt
rcv_dt = dt
r7.close()
w7 = socket.create_connection(('$KERNEL_IP', 9002)); w7.settimeout(None)
w7.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv(0.5))
t = time.monotonic(); sent = 0
while time.monotonic() - t < 20:
    t1 = time.monotonic()
    try:
        n = w7.send(b'w' * 1000000)
    except BlockingIOError:
        break
    sent += n
    if n < 1000000:
        break
dt = time.monotonic() - t1   # the last send: it filled what was left and then waited the timeout
assert 0 < sent and 0.45 < dt < 0.9, 'SO_SNDTIMEO 0.5 s: last send took %.2f s after %d bytes' % (dt, sent)
snd_dt = dt
c7 = socket.socket(); c7.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv(0.5))
t = time.monotonic(); expect_errno(errno.EINPROGRESS, lambda: c7.connect(('10.77.0.99', 80))); dt = time.monotonic() - t
assert 0.45 < dt < 1.2, 'SO_SNDTIMEO 0.5 s on connect fired after %.2f s' % dt
conn_dt = dt
w7.close(); c7.close()

# An accepted socket starts with its listener's SO_RCVTIMEO, SO_SNDTIMEO, SO_BROADCAST and
# SO_REUSEPORT, as on Linux. The client is a kernel one: a python without the preload.
import subprocess
l8 = socket.socket(); l8.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l8.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv(1.5))
l8.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv(2))
l8.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
l8.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
l8.bind(('$STACK_IP', 9100)); l8.listen(1)
kernel_env = {k: v for k, v in os.environ.items() if k != 'LD_PRELOAD'}
client = subprocess.Popen(['python3', '-c', "import socket, time; c = socket.create_connection(('$STACK_IP', 9100), timeout=5); time.sleep(1)"], env=kernel_env)
l8.settimeout(5); a8, peer8 = l8.accept(); a8.settimeout(None)
assert peer8[0] == '$KERNEL_IP', peer8
assert a8.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16) == tv(1.5)
assert a8.getsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, 16) == tv(2)
assert a8.getsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST) == 1
assert a8.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
client.wait(10); a8.close(); l8.close()

# SO_LINGER with a time: close waits until everything (FIN included) is acknowledged.
s3 = socket.create_connection(('$KERNEL_IP', 9001), timeout=5)
s3.settimeout(None)
s3.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 10))
s3.sendall(b'z' * 60000)   # fits our send buffer: only close can wait for the reader
t = time.monotonic(); s3.close(); dt = time.monotonic() - t
assert 0.5 < dt < 5, 'close with SO_LINGER returned after %.2f s' % dt
print('sockapi ok; SO_RCVTIMEO 0.7 s fired at %.2f s, SO_SNDTIMEO 0.5 s at %.2f s (send), %.2f s (connect)' % (rcv_dt, snd_dt, conn_dt))
PY
[ "$(tail -1 "$WORK/slow.log")" = 60000 ] || fail "slow reader got $(tail -1 "$WORK/slow.log")"
for want in unicast limited directed ttl; do
  grep -qx "$STACK_IP $want" "$WORK/udp.log" || fail "the kernel did not get '$want' from $STACK_IP: $(cat "$WORK/udp.log")"
done
grep -q refused "$WORK/udp.log" && fail "a broadcast without SO_BROADCAST went out"
# Every kernel-side peer saw the stack's address.
[ "$(grep -c "^$STACK_IP$" "$WORK/echo.log")" -ge 5 ] || fail "echo server saw: $(sort "$WORK/echo.log" | uniq -c)"
grep -qv "^$STACK_IP$" "$WORK/echo.log" && fail "echo server saw another client: $(sort "$WORK/echo.log" | uniq -c)"
[ "$(head -1 "$WORK/stuck.log")" = "$STACK_IP" ] || fail "stuck reader saw: $(cat "$WORK/stuck.log")"
grep -qx "$STACK_IP" "$WORK/slow.log" || fail "slow reader saw: $(cat "$WORK/slow.log")"
# IP_TOS and IP_TTL on the wire: the TCP connection's SYN and data, and the UDP datagram.
wire=$(tcpdump -v -nn -r "$WORK/sockapi.pcap" "src host $STACK_IP and tcp dst port 9000 and tcp[tcpflags] & tcp-syn != 0" 2>/dev/null)
echo "$wire" | grep -q "tos 0x28, ttl 33," || fail "no SYN with tos 0x28 ttl 33 on the wire: $wire"
wire=$(tcpdump -v -nn -r "$WORK/sockapi.pcap" "src host $STACK_IP and udp dst port 9009" 2>/dev/null)
echo "$wire" | grep -q "tos 0x10, ttl 17," || fail "no UDP datagram with tos 0x10 ttl 17 on the wire: $wire"
echo "socket API: options (TOS/TTL on the wire, SO_BROADCAST, timeouts), SO_LINGER, TCP_INFO, fcntl/ioctl, dup, poll/select/epoll (LT, ET, one-shot, RDHUP) behave; peers saw $STACK_IP"
