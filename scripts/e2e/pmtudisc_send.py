# The sending side of t_pmtudisc.sh: UDP datagrams and TCP SYNs to the kernel side (argv[1]), one
# destination port per case, under each IP_MTU_DISCOVER mode; prints what each send returned.
import errno, socket, sys

host = sys.argv[1]
IP_MTU_DISCOVER = 10
DONT, WANT, DO, PROBE, INTERFACE, OMIT = range(6)


def udp(port, size, mode=None, connect=False):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if mode is not None:
        s.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, mode)
    try:
        if connect:
            s.connect((host, port))
            s.send(b"x" * size)
        else:
            s.sendto(b"x" * size, (host, port))
        print("udp", port, size, "sent")
    except OSError as e:
        print("udp", port, size, errno.errorcode[e.errno])
    print("  reads back", s.getsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER))
    s.close()


def one_byte_do(port, size):
    """IP_MTU_DISCOVER given as one byte, which Linux's do_ip_setsockopt takes too."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, bytes([DO]))
    try:
        s.sendto(b"x" * size, (host, port))
        print("udp one-byte DO", size, "sent")
    except OSError as e:
        print("udp one-byte DO", size, errno.errorcode[e.errno])
    s.close()


def loopback_do(size):
    """DO to 127.0.0.1: loopback's MTU (65 536) takes it."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, DO)
    try:
        s.sendto(b"x" * size, ("127.0.0.1", 7611))
        print("udp loopback DO", size, "sent")
    except OSError as e:
        print("udp loopback DO", size, errno.errorcode[e.errno])
    s.close()


def tcp(port, mode=None):
    s = socket.socket()
    if mode is not None:
        s.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, mode)
    s.settimeout(5)
    s.connect((host, port))
    s.sendall(b"y" * 100)
    s.close()
    print("tcp", port, "sent")


udp(7601, 100)
udp(7602, 100, connect=True)
udp(7603, 3000)
udp(7604, 100, DONT)
udp(7605, 3000, DO)
udp(7606, 100, DO)
udp(7607, 3000, INTERFACE)
udp(7608, 100, INTERFACE)
udp(7609, 100, PROBE)
udp(7610, 3000, OMIT)
one_byte_do(7605, 3000)
loopback_do(3000)
tcp(7620)
tcp(7621, DONT)
tcp(7622, PROBE)
