# More of t_loopback.sh, in one preloaded process and its children: a listener on 0.0.0.0 that two
# forked workers accept from (select, then accept) is reached on loopback, at 127.0.0.1, 0.0.0.0,
# ::ffff:0.0.0.0 (an AF_INET6 client) and at 10.77.0.2, several connections at once; the accepted
# loopback sockets take accept4's flags and the options set on the listener. Once the listener is
# closed, 127.0.0.1 and its port are free; a listener shut down (SHUT_RD) is refused at 127.0.0.1.
# Usage: loopback_more.py PORT STACK_IP. Prints one line per check.
import errno, fcntl, os, select, signal, socket, sys, time

port, stack_ip = int(sys.argv[1]), sys.argv[2]
out = lambda *a: print(*a, flush=True)

l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
l.bind(("0.0.0.0", port))
l.listen(16)
# Set after listen: it still passes on to what the listener accepts.
l.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
l.setblocking(False)

workers = []
for _ in range(2):
    pid = os.fork()
    if pid == 0:
        while True:
            if not select.select([l], [], [], 1)[0]:
                continue
            try:
                fd, peer = l._accept()
            except BlockingIOError:
                continue  # the other worker took it
            c = socket.socket(l.family, socket.SOCK_STREAM, 0, fileno=fd)
            flags = "cloexec=%d nonblock=%d" % (
                fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC != 0,
                fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK != 0)
            opts = "nodelay=%d keepalive=%d" % (
                c.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0,
                c.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) != 0)
            c.settimeout(5)
            data = c.recv(100)
            c.sendall(b"%s from %s %s %s" % (data, peer[0].encode(), flags.encode(), opts.encode()))
            c.close()
    workers.append(pid)

# Several at once, then each asked in turn, so both workers accept while others wait.
targets = [("127.0.0.1", "lo")] * 3 + [("0.0.0.0", "any")] * 2 + [(stack_ip, "own")] * 2
conns = []
for ip, name in targets:
    s = socket.create_connection((ip, port), timeout=5)
    conns.append((s, name))
s6 = socket.socket(socket.AF_INET6)
s6.settimeout(5)
s6.connect(("::ffff:0.0.0.0", port))
conns.append((s6, "mapped-any"))
answers = []
for s, name in conns:
    s.sendall(name.encode())
    answers.append(s.recv(200).decode())
    s.close()
for a in sorted(set(answers)):
    out("%d x %s" % (answers.count(a), a))

for pid in workers:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
l.close()
# The listener's last descriptor gone: 127.0.0.1 and the port are free again (the service learns
# of the close a moment later).
for _ in range(50):
    probe = socket.socket()
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind(("127.0.0.1", port))
        probe.listen(1)
        out("after close: 127.0.0.1 port free")
        probe.close()
        break
    except OSError as e:
        probe.close()
        time.sleep(0.1)
else:
    out("after close: 127.0.0.1 port still taken")

# shutdown(SHUT_RD) of a listener ends its listening (Linux's tcp_disconnect), on loopback too.
l2 = socket.socket()
l2.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l2.bind(("0.0.0.0", port + 1))
l2.listen(4)
c = socket.create_connection(("127.0.0.1", port + 1), timeout=5)
a, peer = l2.accept()
out("before shutdown: accepted from", peer[0])
a.close()
c.close()
l2.shutdown(socket.SHUT_RD)
try:
    socket.create_connection(("127.0.0.1", port + 1), timeout=5)
    out("after shutdown: connected")
except OSError as e:
    out("after shutdown:", errno.errorcode.get(e.errno, e.errno))
out("done")
