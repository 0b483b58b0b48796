# The program of t_inherit_settings.sh: sockets set up by one process and used by the program it
# execs (the descriptors inherited), which must find them as they were left: a connected UDP socket
# sends without an address, SO_BROADCAST lets it send to the broadcast address, IP_PMTUDISC_DO
# refuses a datagram over the MTU; a TCP socket with TCP_INQ gets its control message on recvmsg;
# one with SO_RCVLOWAT above what arrived gives that to a non-blocking read, as Linux's tcp_recvmsg;
# eight threads' first sends at once on a connected UDP socket all go; a listener's SO_RCVLOWAT
# passes to the connection it accepts (from the kernel side, port 7994).
# Usage: inherit_settings.py KERNEL_IP [UDP_FD TCP_FD LOWAT_FD UDP2_FD LISTENER_FD]. Prints
# "listening" when the child waits for the connection, then one line of what the child saw.
import errno, os, socket, subprocess, sys, threading, time

ip = sys.argv[1]
TCP_INQ = 36
IP_MTU_DISCOVER, IP_PMTUDISC_DO = 10, 2


def outcome(f):
    try:
        f()
        return "ok"
    except OSError as e:
        return errno.errorcode[e.errno]


def below(sock):
    """A non-blocking read under SO_RCVLOWAT 10, 5 bytes there: Linux's tcp_recvmsg gives them."""
    r = outcome(lambda: sock.recv(64, socket.MSG_PEEK))
    return repr(sock.recv(64)) if r == "ok" else r


if len(sys.argv) > 2:
    u = socket.socket(fileno=int(sys.argv[2]))
    t = socket.socket(fileno=int(sys.argv[3]))
    seen = [
        "send " + outcome(lambda: u.send(b"connected")),
        "broadcast " + outcome(lambda: u.sendto(b"b", ("10.77.0.255", 7992))),
        "DO 3000 " + outcome(lambda: u.sendto(b"y" * 3000, (ip, 7991))),
    ]
    t.settimeout(10)
    data, anc, _, _ = t.recvmsg(64, 64)
    seen.append("tcp %r inq %s" % (data, [(l, n) for l, n, _ in anc] == [(socket.IPPROTO_TCP, TCP_INQ)]))
    w = socket.socket(fileno=int(sys.argv[4]))
    w.setblocking(False)
    time.sleep(1)
    seen.append("below the mark " + below(w))
    # Eight threads' first sends at once on another inherited connected UDP socket: each must
    # find it connected, whichever asks the service first.
    v = socket.socket(fileno=int(sys.argv[5]))
    results = []
    go = threading.Barrier(8)

    def first_send():
        go.wait()
        results.append(outcome(lambda: v.send(b"thread")))

    threads = [threading.Thread(target=first_send) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    seen.append("8 threads %s" % sorted(set(results)))
    # A listener with SO_RCVLOWAT: the connection it accepts takes the mark.
    lst = socket.socket(fileno=int(sys.argv[6]))
    lst.settimeout(10)
    print("listening", flush=True)
    c, _ = lst.accept()
    c.setblocking(False)
    time.sleep(1)
    seen.append("accepted below the mark " + below(c))
    print("child: " + "; ".join(seen), flush=True)
    sys.exit(0)

u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
u.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)
u.connect((ip, 7991))
t = socket.create_connection((ip, 7993), timeout=10)
t.setsockopt(socket.IPPROTO_TCP, TCP_INQ, 1)
w = socket.create_connection((ip, 7993), timeout=10)
w.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, 10)
v = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
v.connect((ip, 7991))
lst = socket.socket()
lst.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, 10)
lst.bind(("0.0.0.0", 7994))
lst.listen(1)
fds = [u.fileno(), t.fileno(), w.fileno(), v.fileno(), lst.fileno()]
r = subprocess.run([sys.executable, __file__, ip] + [str(f) for f in fds], pass_fds=fds, timeout=30)
sys.exit(r.returncode)
