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
tcp(7620)
tcp(7621, DONT)
tcp(7622, PROBE)
