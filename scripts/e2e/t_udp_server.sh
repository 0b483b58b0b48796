#!/usr/bin/env bash
# UDP servers on the stack, as on Linux:
# - dnsmasq in its default wildcard mode (IP_PKTINFO on a socket bound to 0.0.0.0:53, answers sent
#   with sendmsg naming the source) answers dig from the kernel side, and from loopback; so does it
#   with --interface and --bind-interfaces or --bind-dynamic (the addresses netlink lists, bound);
# - the program lists 10.77.0.2 on the interface (getifaddrs, netlink, SIOCGIFADDR, SIOCGIFCONF);
# - a python server sets IP_PKTINFO, IP_RECVTTL, IP_RECVTOS and IP_RECVORIGDSTADDR after bind and
#   gets them with a datagram to 10.77.0.2 (TTL 64, the sender's IP_TOS) and one to the broadcast
#   address 10.77.0.255; its sendmsg with IP_PKTINFO answers from the destination, and refuses
#   what Linux refuses (another source address, a loopback or multicast one, no such interface);
# - two SO_REUSEADDR sockets share a port (a third without is EADDRINUSE): unicast goes to the one
#   bound last, a broadcast to both; two SO_REUSEPORT sockets share one, each sender reaching one.
# With E2E_KERNEL=1 the same programs run on the kernel: the expected lines are Linux's.
source "$(dirname "$0")/lib.sh"
setup udpserve
# The name of the interface a datagram arrives by, in the namespace the server runs in.
if [ -n "$E2E_KERNEL" ]; then IFNAME=veth1; else IFNAME=tap0; fi

# dnsmasq, wildcard-bound: it reads the kernel's interfaces over netlink (tap0 holds 10.77.0.1 in
# the kernel), so --except-interface=lo and no interface filter let it answer whatever IP_PKTINFO
# says the query came by.
onstack -- timeout 60 dnsmasq --no-daemon --port 53 --no-resolv --no-hosts \
  --address=/example.test/10.77.0.9 --log-queries --log-facility="$WORK/dnsmasq.log" \
  --pid-file="$WORK/dnsmasq.pid" --user=root > "$WORK/dnsmasq.out" 2>&1 &
dns=$!
for _ in $(seq 100); do
  out=$(inns dig +short +time=1 +tries=1 @"$STACK_IP" example.test 2>&1) && [ -n "$out" ] && break
  kill -0 "$dns" 2>/dev/null || break
  sleep 0.1
done
[ "$out" = "10.77.0.9" ] || { cat "$WORK/dnsmasq.out" "$WORK/dnsmasq.log" 2>/dev/null; fail "dig @$STACK_IP example.test said: $out"; }
grep -q "query\[A\] example.test from $KERNEL_IP" "$WORK/dnsmasq.log" || fail "dnsmasq log: $(cat "$WORK/dnsmasq.log")"
# A loopback client in the server's namespace: dnsmasq answers from 127.0.0.1, naming it with
# IP_PKTINFO as Linux lets a wildcard socket do for a loopback destination.
if [ -n "$E2E_KERNEL" ]; then lo_ns=$NS-s; else lo_ns=$NS; fi
lo=$(ip netns exec "$lo_ns" dig +short +time=2 +tries=2 @127.0.0.1 example.test 2>&1) || true
[ "$lo" = "10.77.0.9" ] || { cat "$WORK/dnsmasq.log"; fail "dig @127.0.0.1 example.test said: $lo"; }
grep -q "query\[A\] example.test from 127.0.0.1" "$WORK/dnsmasq.log" || fail "dnsmasq log: $(cat "$WORK/dnsmasq.log")"
cat "$WORK/dnsmasq.out"
echo "dnsmasq on $STACK_IP and 127.0.0.1: example.test is $out"
killtree "$dns"

# dnsmasq bound to the interface's addresses (--interface with --bind-interfaces, then with
# --bind-dynamic): it reads them over route netlink (RTM_GETADDR) and binds each, so it must read
# the stack's 10.77.0.2 on tap0, as Linux's program reads its own; lo comes with --interface.
for mode in --bind-interfaces --bind-dynamic; do
  rm -f "$WORK/dnsmasq.log"
  onstack -- timeout 60 dnsmasq --no-daemon --port 53 --no-resolv --no-hosts --interface="$IFNAME" "$mode" \
    --address=/example.test/10.77.0.9 --log-queries --log-facility="$WORK/dnsmasq.log" \
    --pid-file="$WORK/dnsmasq.pid" --user=root > "$WORK/dnsmasq.out" 2>&1 &
  dns=$!
  out=""
  for _ in $(seq 100); do
    out=$(inns dig +short +time=1 +tries=1 @"$STACK_IP" example.test 2>&1) && [ -n "$out" ] && break
    kill -0 "$dns" 2>/dev/null || break
    sleep 0.1
  done
  lo=$(ip netns exec "$lo_ns" dig +short +time=2 +tries=2 @127.0.0.1 example.test 2>&1) || true
  echo "dnsmasq $mode on $STACK_IP and 127.0.0.1: $out $lo"
  [ "$out $lo" = "10.77.0.9 10.77.0.9" ] || { cat "$WORK/dnsmasq.out" "$WORK/dnsmasq.log" 2>/dev/null; fail "dnsmasq $mode"; }
  killtree "$dns"
  wait "$dns" 2>/dev/null || true
done

# The program's view of its own addresses on the interface: getifaddrs, netlink (ip), SIOCGIFADDR
# and SIOCGIFCONF (python) name 10.77.0.2, as a program on Linux reads its own.
build_c ifaddrs_list
view=$(onstack -- "$WORK/ifaddrs_list" | sort
  onstack -- ip -4 -o addr show dev "$IFNAME" | awk '{print $4}'
  onstack -- python3 -c "
import array, fcntl, socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
r = fcntl.ioctl(s.fileno(), 0x8915, struct.pack('256s', b'$IFNAME'))  # SIOCGIFADDR
print('SIOCGIFADDR', socket.inet_ntoa(r[20:24]))
buf = array.array('B', bytes(40 * 16))
n = struct.unpack('iL', fcntl.ioctl(s.fileno(), 0x8912, struct.pack('iL', len(buf), buf.buffer_info()[0])))[0]
b = buf.tobytes()
print('SIOCGIFCONF', *sorted(b[i:i + 16].split(b'\\0')[0].decode() + '=' + socket.inet_ntoa(b[i + 20:i + 24]) for i in range(0, n, 40)))
")
echo "$view"
[ "$view" = "lo 127.0.0.1 255.0.0.0 -
$IFNAME $STACK_IP 255.255.255.0 $STACK_IP
$STACK_IP/24
SIOCGIFADDR $STACK_IP
SIOCGIFCONF lo=127.0.0.1 $IFNAME=$STACK_IP" ] || fail "the interface's address as the program lists it"

# Control messages with each datagram.
onstack -- timeout 30 python3 "$ROOT/scripts/e2e/udp_server.py" cmsg 5300 > "$WORK/cmsg.out" 2>&1 &
srv=$!
wait_line "$WORK/cmsg.out" READY "$srv" 10 "the cmsg server did not start"
client=$(inns timeout 20 python3 -c "
import socket
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
c.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0x28)
c.setsockopt(socket.IPPROTO_IP, 12, 1)  # IP_RECVTTL
c.setsockopt(socket.IPPROTO_IP, 13, 1)  # IP_RECVTOS
c.bind(('$KERNEL_IP', 0)); c.settimeout(5)
for word, to in (('unicast', '$STACK_IP'), ('broadcast', '10.77.0.255')):
    c.sendto(word.encode(), (to, 5300))
    data, src = c.recvfrom(100)
    print(data.decode(), 'from', src[0])
c.settimeout(2)
try:
    while True:
        data, anc, _, _ = c.recvmsg(100, 100)
        # What the answer's own IP_TTL and IP_TOS control messages set.
        print('then', data.decode(), sorted((k, v[0]) for _, k, v in anc))
except socket.timeout:
    pass
" 2>&1)
wait "$srv" || true
echo "$client"
cat "$WORK/cmsg.out"
[ "$client" = "re:unicast from $STACK_IP
re:broadcast from $STACK_IP
then c [(1, 0), (2, 9)]
then c [(1, 16), (2, 64)]" ] || fail "the client's answers"
[ "$(cat "$WORK/cmsg.out")" = "options [1, 1, 1, 1]
READY
got unicast from $KERNEL_IP
  pktinfo ifname $IFNAME spec_dst $STACK_IP addr $STACK_IP
  ttl 64
  tos 0x28 len 1
  origdst $STACK_IP 5300
got broadcast from $KERNEL_IP
  pktinfo ifname $IFNAME spec_dst $STACK_IP addr 10.77.0.255
  ttl 64
  tos 0x28 len 1
  origdst 10.77.0.255 5300
sendmsg pktinfo 0 10.77.0.9 ENETUNREACH
sendmsg pktinfo 0 127.0.0.1 EINVAL
sendmsg pktinfo 0 224.0.0.1 EINVAL
sendmsg pktinfo 9999 0.0.0.0 ENODEV
sendmsg 8 5 EINVAL
sendmsg 2 4 EINVAL
sendmsg 2 4 sent
sendmsg 1 1 sent" ] || fail "the control messages"

# Two SO_REUSEADDR sockets on one port.
onstack -- timeout 30 python3 "$ROOT/scripts/e2e/udp_server.py" reuse 5301 > "$WORK/reuse.out" 2>&1 &
srv=$!
wait_line "$WORK/reuse.out" READY "$srv" 10 "the reuse server did not start"
inns timeout 10 python3 -c "
import socket, time
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
for word, to in (('u1', '$STACK_IP'), ('u2', '$STACK_IP'), ('all', '10.77.0.255')):
    c.sendto(word.encode(), (to, 5301)); time.sleep(0.2)
"
wait "$srv" || true
cat "$WORK/reuse.out"
[ "$(sort "$WORK/reuse.out")" = "$(printf '%s\n' READY 'first bound, SO_REUSEADDR 1' 'first got all' \
  'second bound, SO_REUSEADDR 1' 'second got all' 'second got u1' 'second got u2' 'third EADDRINUSE' | sort)" ] \
  || fail "SO_REUSEADDR"

# Two SO_REUSEPORT sockets on one port: each of 16 senders always reaches the same one, and the
# senders are spread over both (Linux hashes with a random key: all on one has odds of 2^-15).
onstack -- timeout 30 python3 "$ROOT/scripts/e2e/udp_server.py" reuseport 5302 > "$WORK/reuseport.out" 2>&1 &
srv=$!
wait_line "$WORK/reuseport.out" READY "$srv" 10 "the reuseport server did not start"
spread=$(inns timeout 20 python3 -c "
import socket
takers = set()
for i in range(16):
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); c.settimeout(3)
    names = set()
    for _ in range(3):
        c.sendto(b'q', ('$STACK_IP', 5302)); names.add(c.recvfrom(100)[0])
    if len(names) != 1:
        print('sender', i, 'moved:', names)
    takers |= names
print(sorted(n.decode() for n in takers))
")
echo "reuseport: $spread"
[ "$spread" = "['first', 'second']" ] || fail "SO_REUSEPORT: $spread"
echo "udp server: dnsmasq answers, IP_PKTINFO/TTL/TOS/ORIGDSTADDR come with datagrams, SO_REUSEADDR and SO_REUSEPORT share a port"
