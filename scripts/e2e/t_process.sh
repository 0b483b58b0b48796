#!/usr/bin/env bash
# Processes, threads and descriptors under the preload: loopback stays on the kernel (and epoll
# follows a socket there that it watched while pending); the stack survives a program closing every
# descriptor it does not know; fork+exec (subprocess) and a bare fork leave the parent's connection
# working; threads share the stack; Ctrl-C ends a blocked program; a second process finding the TAP
# busy gets a clear error.
source "$(dirname "$0")/lib.sh"
setup process
start_http_peer
echo "page" > "$WORK/www/p.html"

# A kernel-side echo server that logs its clients.
inns timeout 60 python3 -c "
import socket, threading
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(('$KERNEL_IP', 9000)); l.listen(16)
def serve(c, a):
    open('$WORK/echo.log', 'a').write(a[0] + '\n')
    while True:
        d = c.recv(65536)
        if not d: break
        c.sendall(d)
    c.close()
while True:
    c, a = l.accept()
    threading.Thread(target=serve, args=(c, a), daemon=True).start()" &
for _ in $(seq 100); do inns ss -Hltn "src $KERNEL_IP:9000" | grep -q . && break; sleep 0.1; done

out=$(onstack -- python3 -c "
import os, socket, subprocess, threading, urllib.request

# Loopback stays on the kernel: a server and client on 127.0.0.1 in this namespace.
l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(1)
c = socket.create_connection(l.getsockname()); s, _ = l.accept()
c.sendall(b'lo'); assert s.recv(2) == b'lo'
print('loopback ok')

# A socket added to epoll (and poll) before its connect decides it stays on the kernel: the kernel
# socket's events are reported, for it and for a dup made while it was pending.
import select
p = socket.socket(); p.setblocking(False); d = p.dup()
ep = select.epoll(); ep.register(p, select.EPOLLOUT)
assert p.connect_ex(l.getsockname()) in (0, 115)  # EINPROGRESS
assert ep.poll(5) == [(p.fileno(), select.EPOLLOUT)], 'epoll missed the kernel socket'
ep.modify(p, select.EPOLLIN)
pl = select.poll(); pl.register(d, select.POLLOUT)
assert pl.poll(5000) == [(d.fileno(), select.POLLOUT)]
assert d.getpeername() == l.getsockname()
ps, _ = l.accept(); d.send(b'dup'); assert ps.recv(3) == b'dup'
assert ep.poll(0) == []; ps.send(b'x'); assert ep.poll(5) == [(p.fileno(), select.EPOLLIN)]
ep.close(); p.close(); d.close(); ps.close()
print('late loopback epoll ok')

# A connection through the stack, kept open across everything below.
conn = socket.create_connection(('$KERNEL_IP', 9000), timeout=10)
conn.sendall(b'one'); assert conn.recv(3) == b'one'

# fork + exec: a shell command runs; the parent's connection still works afterwards.
assert subprocess.run(['sh', '-c', 'echo child ran'], capture_output=True).stdout == b'child ran\n'
conn.sendall(b'two'); assert conn.recv(3) == b'two'
print('fork+exec ok')

# Threads: eight at once, each with its own connection.
errors = []
def worker(i):
    try:
        k = socket.create_connection(('$KERNEL_IP', 9000), timeout=10)
        msg = bytes([i]) * 100000
        k.sendall(msg); got = b''
        while len(got) < len(msg):
            got += k.recv(65536)
        assert got == msg
        k.close()
    except Exception as e:
        errors.append(repr(e))
ts = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
[t.start() for t in ts]; [t.join() for t in ts]
assert not errors, errors
print('threads ok')

# Close every descriptor but the standard ones and our connection, as daemons do, then dup2 over
# every number: the stack's own descriptors (TAP, eventfds) must survive both.
keep = conn.fileno()
os.closerange(3, keep); os.closerange(keep + 1, 65536)
conn.sendall(b'three'); assert conn.recv(5) == b'three'
body = urllib.request.urlopen('http://$KERNEL_IP:8080/p.html', timeout=10).read()
assert body == b'page\n', body
# dup2 over every descriptor that is open (the stack's own among them), then close them all.
import resource
limit = min(resource.getrlimit(resource.RLIMIT_NOFILE)[0], 65536)
for fd in [int(f) for f in os.listdir('/proc/self/fd')]:
    if fd > 2 and fd != keep:
        try:
            os.dup2(0, fd)
        except OSError:
            pass   # the directory listing's own descriptor, already gone
os.closerange(3, keep); os.closerange(keep + 1, limit)
conn.sendall(b'four'); assert conn.recv(4) == b'four'
body = urllib.request.urlopen('http://$KERNEL_IP:8080/p.html', timeout=10).read()
assert body == b'page\n', body
print('closerange ok')
")
echo "$out"
for want in "loopback ok" "late loopback epoll ok" "fork+exec ok" "threads ok" "closerange ok"; do
  echo "$out" | grep -qx "$want" || fail "missing: $want"
done
[ "$(grep -c "^$STACK_IP$" "$WORK/echo.log")" -ge 9 ] || fail "echo server saw: $(sort "$WORK/echo.log" | uniq -c)"

# 300 real forks (os.fork, not vfork) while other threads keep the shim's locks busy: each child uses
# the inherited stack socket (asks its peer's address, as a kernel socket would answer) and closes
# it without hanging; the parent's connection still works afterwards.
out=$(onstack -- timeout 60 python3 -c "
import errno, os, select, socket, threading, time
conn = socket.create_connection(('$KERNEL_IP', 9000), timeout=10)
conn.sendall(b'one'); assert conn.recv(3) == b'one'
stop = False
def churn():
    while not stop:
        os.close(os.dup(conn.fileno()))
        ep = select.epoll(); ep.register(conn, select.EPOLLIN); ep.close()
ts = [threading.Thread(target=churn, daemon=True) for _ in range(2)]
[t.start() for t in ts]
bad = []
for i in range(300):
    pid = os.fork()
    if pid == 0:
        try:
            code = 0 if conn.getpeername()[0] == '$KERNEL_IP' else 3
        except OSError as e:
            code = 4
        conn.close()
        os._exit(code)
    deadline = time.monotonic() + 5
    while True:
        p, status = os.waitpid(pid, os.WNOHANG)
        if p:
            if os.waitstatus_to_exitcode(status) != 0:
                bad.append((i, os.waitstatus_to_exitcode(status)))
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9); os.waitpid(pid, 0); bad.append((i, 'hung'))
            break
        time.sleep(0.001)
stop = True
[t.join() for t in ts]
assert not bad, bad
conn.sendall(b'two'); assert conn.recv(3) == b'two'
print('fork ok')
")
[ "$out" = "fork ok" ] || fail "fork: $out"
echo "$out"

# Ctrl-C (SIGINT) ends a python program blocked in recv on a silent connection.
onstack -- python3 -c "
import socket
s = socket.create_connection(('$KERNEL_IP', 9000))
try:
    s.recv(10)
except KeyboardInterrupt:
    print('interrupted')
" > "$WORK/int.log" 2>&1 &
victim=$!
sleep 1
pid=$(ns_pgrep "s.recv\(10\)" | head -1)
[ -n "$pid" ] || fail "blocked program not found"
kill -INT "$pid"
for _ in $(seq 30); do kill -0 "$victim" 2>/dev/null || break; sleep 0.1; done
kill -0 "$victim" 2>/dev/null && fail "SIGINT did not end the blocked program"
grep -q interrupted "$WORK/int.log" || fail "no KeyboardInterrupt: $(cat "$WORK/int.log")"
echo "SIGINT ok"

# While a program uses the stack, a second `tapstack up` on the same TAP is told the service already
# runs, and a second program shares that service.
onstack -- python3 -c "
import socket, time
s = socket.create_connection(('$KERNEL_IP', 9000)); time.sleep(8)" &
holder=$!
sleep 1
out=$(inns timeout 10 "$BIN" up 2>&1) && fail "a second service started: $out"
echo "$out" | grep -q "already runs for tap0" || fail "unclear error: $out"
body=$(onstack -- curl -sS --max-time 10 "http://$KERNEL_IP:8080/p.html" 2>&1)
[ "$body" = "page" ] || fail "a second program beside the first: $body"
kill "$holder" 2>/dev/null || true
echo "process: loopback, fork+exec, fork, threads, closerange, SIGINT, one service per TAP all behave"
