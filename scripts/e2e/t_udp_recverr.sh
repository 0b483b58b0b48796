#!/usr/bin/env bash
# Which errors a UDP socket hears of, with and without IP_RECVERR, as on Linux (__udp4_lib_err): a
# next hop that never answers ARP (Linux answers itself with an ICMP host unreachable, a soft
# error), a host unreachable from the peer (soft: nft's reject) and a port unreachable (hard).
# Without IP_RECVERR only a hard error on a connected socket is reported, so a connected socket to
# a silent neighbour waits for its answer as on Linux; it used to fail with EHOSTUNREACH after 3 s
# (and IP_RECVERR was refused once the socket was on the stack). With it, every error is, on
# unconnected sockets too. E2E_KERNEL=1 runs it on kernel sockets.
source "$(dirname "$0")/lib.sh"
setup udprecverr
command -v nft >/dev/null || fail "nft is not installed"
# The kernel side answers UDP to port 9998 with a host unreachable; nothing listens on 9999.
inns nft -f - <<NFT
table ip recverr {
  chain input {
    type filter hook input priority 0;
    ip saddr $STACK_IP udp dport 9998 reject with icmp type host-unreachable
  }
}
NFT
out=$(onstack -- timeout 40 python3 -c "
import errno, socket, time
IP_RECVERR = 11
def case(name, recverr, to, connect, wait):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(('0.0.0.0', 0))
    u.setsockopt(socket.SOL_IP, IP_RECVERR, recverr)
    if connect:
        u.connect(to)
        u.send(b'x')
    else:
        u.sendto(b'x', to)
    u.settimeout(wait)
    t = time.time()
    try:
        u.recvfrom(10)
        got = 'data'
    except socket.timeout:
        got = 'nothing'
    except OSError as e:
        got = errno.errorcode[e.errno]
    took = time.time() - t
    print(name, 'IP_RECVERR', u.getsockopt(socket.SOL_IP, IP_RECVERR), got,
          'SO_ERROR', u.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR),
          'at timeout' if took >= wait - 0.2 else 'after ARP' if took >= 2.5 else 'early')
silent = ('10.77.0.99', 9)
for recverr in (0, 1):
    case('silent neighbour, connected:', recverr, silent, True, 4.5)
for recverr in (0, 1):
    for connect in (True, False):
        how = 'connected' if connect else 'unconnected'
        case('host unreachable, %s:' % how, recverr, ('$KERNEL_IP', 9998), connect, 1)
        case('port unreachable, %s:' % how, recverr, ('$KERNEL_IP', 9999), connect, 1)
" 2>&1) || fail "the program failed: $out"
expected="silent neighbour, connected: IP_RECVERR 0 nothing SO_ERROR 0 at timeout
silent neighbour, connected: IP_RECVERR 1 EHOSTUNREACH SO_ERROR 0 after ARP
host unreachable, connected: IP_RECVERR 0 nothing SO_ERROR 0 at timeout
port unreachable, connected: IP_RECVERR 0 ECONNREFUSED SO_ERROR 0 early
host unreachable, unconnected: IP_RECVERR 0 nothing SO_ERROR 0 at timeout
port unreachable, unconnected: IP_RECVERR 0 nothing SO_ERROR 0 at timeout
host unreachable, connected: IP_RECVERR 1 EHOSTUNREACH SO_ERROR 0 early
port unreachable, connected: IP_RECVERR 1 ECONNREFUSED SO_ERROR 0 early
host unreachable, unconnected: IP_RECVERR 1 EHOSTUNREACH SO_ERROR 0 early
port unreachable, unconnected: IP_RECVERR 1 ECONNREFUSED SO_ERROR 0 early"
[ "$out" = "$expected" ] || fail "$(diff <(echo "$expected") <(echo "$out"))"
echo "udp_recverr: UDP errors heard as on Linux, with and without IP_RECVERR (a silent neighbour, host and port unreachable, connected or not)"
