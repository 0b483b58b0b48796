# The program side of t_inet6: AF_INET6 sockets as dual-stack programs make them, printing every
# address and option answer, so the stack's output can be compared line for line with the kernel's
# (E2E_KERNEL=1). `server PORT`: a `[::]` listener; `client IP PORT`: a connect to ::ffff:IP;
# `udpserver PORT`, `udpclient IP PORT`: the same with UDP.
import ctypes, errno, socket, sys

def err(f):
    try:
        f()
        return 'ok'
    except OSError as e:
        return errno.errorcode[e.errno]

def opts(s, tag):
    print(tag, 'domain', s.getsockopt(socket.SOL_SOCKET, socket.SO_DOMAIN) == socket.AF_INET6,
          'v6only', s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY),
          'set-v6only-1', err(lambda: s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)),
          'set-v6only-0', err(lambda: s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)),
          flush=True)

def host(a):
    # (host, port, flowinfo, scope_id) with an ephemeral port left out.
    return (a[0], a[2], a[3])

mode = sys.argv[1]
if mode == 'server':
    port = int(sys.argv[2])
    l = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    print('pending v6only', l.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY),
          'name', l.getsockname(), flush=True)
    l.bind(('::', port))
    l.listen(5)
    print('listener name', l.getsockname(), flush=True)
    opts(l, 'listener')
    print('ready', flush=True)
    c, a = l.accept()
    print('accepted from', host(a), 'name', c.getsockname(), 'peer', host(c.getpeername()),
          flush=True)
    opts(c, 'accepted')
    # Another program (after exec) given the socket learns its family from it, as python's
    # socket(fileno=) does with SO_DOMAIN.
    import subprocess
    subprocess.run([sys.executable, '-c', 'import socket, sys; s = socket.socket(fileno=%d); '
                    'print("exec child", s.family.name, s.getpeername()[0], s.getsockname(), flush=True)'
                    % c.fileno()], pass_fds=(c.fileno(),), check=True)
    c.sendall(b'hello over v6 socket\n')
    c.close()
    # The second accept through libc's own accept(2), with a buffer too short for the whole
    # sockaddr_in6: Linux fills what fits and says the full length.
    libc = ctypes.CDLL(None, use_errno=True)
    buf = (ctypes.c_ubyte * 28)(*([0xaa] * 28))
    ln = ctypes.c_uint32(24)
    fd = libc.accept(l.fileno(), buf, ctypes.byref(ln))
    if fd < 0:
        print('accept failed', errno.errorcode[ctypes.get_errno()], flush=True)
        sys.exit(1)
    b = bytes(buf)
    # family, flowinfo, address, and the 4 bytes left alone (the port is ephemeral).
    print('short accept len', ln.value, 'family', int.from_bytes(b[0:2], 'little'),
          'flow', b[4:8].hex(), 'addr', socket.inet_ntop(socket.AF_INET6, b[8:24]),
          'rest', b[24:28].hex(), flush=True)
    ln = ctypes.c_uint32(8)
    b2 = (ctypes.c_ubyte * 28)(*([0xaa] * 28))
    r = libc.getpeername(fd, b2, ctypes.byref(ln))
    print('short getpeername', r, 'len', ln.value, 'family',
          int.from_bytes(bytes(b2)[0:2], 'little'), 'rest', bytes(b2)[8:12].hex(), flush=True)
    libc.close(fd)
elif mode == 'udpserver':
    port = int(sys.argv[2])
    u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    u.bind(('::', port))
    print('udp server name', u.getsockname(), flush=True)
    opts(u, 'udp server')
    print('ready', flush=True)
    data, a = u.recvfrom(100)
    print('udp server got', data.decode(), 'from', host(a), flush=True)
    u.sendto(b'pong ' + data, a)
    data, anc, fl, a = u.recvmsg(100)
    print('udp server recvmsg', data.decode(), 'from', host(a), flush=True)
    u.sendto(b'pong ' + data, a)
elif mode == 'udpclient':
    ip, port = sys.argv[2], int(sys.argv[3])
    u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    u.settimeout(2)
    for i in range(5):
        u.sendto(b'ping', ('::ffff:' + ip, port))
        try:
            data, a = u.recvfrom(100)
            break
        except socket.timeout:
            pass
    print('udp client got', data.decode().split()[0], 'from', a, 'name', host(u.getsockname()),
          flush=True)
    opts(u, 'udp client')
    u.connect(('::ffff:' + ip, port))
    print('udp connected peer', u.getpeername(), flush=True)
else:
    ip, port = sys.argv[2], int(sys.argv[3])
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(('::ffff:' + ip, port))
    print('client name', host(s.getsockname()), 'peer', s.getpeername(), flush=True)
    opts(s, 'client')
    print('client got', s.recv(100).decode().strip(), flush=True)
    # An IPv6 address stays with the kernel: ::1 on loopback.
    k = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    k.bind(('::1', 0))
    k.listen(1)
    c6 = socket.create_connection(k.getsockname()[:2], timeout=5)
    a6, _ = k.accept()
    print('loopback v6', host(c6.getsockname()), host(a6.getpeername()), flush=True)
    # V6ONLY set before bind: `::` then takes IPv6 only, on the kernel.
    v = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    v.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    v.bind(('::', 0))
    v.listen(1)
    print('v6only listener', v.getsockname()[0],
          'v4 connect', err(lambda: socket.create_connection(('127.0.0.1', v.getsockname()[1]), timeout=2)),
          flush=True)
