#!/usr/bin/env bash
# socat's UDP servers on the stack, each answer from a forked child. UDP-RECVFROM with fork: every
# datagram forks a child that answers through the inherited unconnected socket (sendto), with
# the sender's address and the datagram's IP_PKTINFO destination in its environment. UDP-LISTEN
# with fork: the first datagram of a sender makes a child whose socket is connected to it, and
# the parent binds the port again (SO_REUSEADDR) for the next sender, so two sockets share the
# port, one connected: each sender's datagrams reach its own child (Linux's __udp4_lib_lookup
# scores the connected socket higher). Three senders, checked exactly; also with E2E_KERNEL=1.
source "$(dirname "$0")/lib.sh"
command -v socat >/dev/null || fail "socat is not installed"
setup socatudp
onstack -- timeout 20 socat UDP-RECVFROM:7000,fork,ip-pktinfo \
  SYSTEM:'read l; echo "$l from $SOCAT_PEERADDR:$SOCAT_PEERPORT to $SOCAT_IP_DSTADDR"' > "$WORK/recvfrom.log" 2>&1 &
onstack -- timeout 20 socat UDP-LISTEN:7001,fork,reuseaddr \
  SYSTEM:'while read l; do echo "$l from $SOCAT_PEERADDR:$SOCAT_PEERPORT by $$"; done' > "$WORK/listen.log" 2>&1 &
# clients PORT ROUNDS: three senders, each on its own port, send ROUNDS datagrams in turn; each
# answer is printed with the sender's number (the child's pid replaced by the first sender it
# answered, so that each child is named by whom it serves).
clients() {
  inns timeout 15 python3 -c "
import re, socket, sys, time
socks = []
for i in range(3):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3); s.bind(('$KERNEL_IP', 0))
    socks.append(s)
pids = {}
for r in range($2):
    for i, s in enumerate(socks):
        for attempt in range(30):  # the server may still be starting: its port unreachable
            s.sendto(b'c%d-m%d\n' % (i, r), ('$STACK_IP', $1))
            try:
                d, a = s.recvfrom(200); break
            except ConnectionRefusedError:
                time.sleep(0.1)
            except socket.timeout:
                d, a = b'timeout', None; break
        line = d.decode().strip().replace('$KERNEL_IP:%d' % s.getsockname()[1], 'sender%d' % i)
        m = re.search(r' by (\d+)$', line)
        if m:
            line = line[:m.start()] + ' by child of sender%d' % pids.setdefault(m.group(1), i)
        print(i, line, 'from the port' if a and a[1] == $1 else a)
"
}
out=$(clients 7000 2)
expected="0 c0-m0 from sender0 to $STACK_IP from the port
1 c1-m0 from sender1 to $STACK_IP from the port
2 c2-m0 from sender2 to $STACK_IP from the port
0 c0-m1 from sender0 to $STACK_IP from the port
1 c1-m1 from sender1 to $STACK_IP from the port
2 c2-m1 from sender2 to $STACK_IP from the port"
[ "$out" = "$expected" ] || fail "UDP-RECVFROM fork: $out ($(cat "$WORK/recvfrom.log"))"
out=$(clients 7001 3)
expected="0 c0-m0 from sender0 by child of sender0 from the port
1 c1-m0 from sender1 by child of sender1 from the port
2 c2-m0 from sender2 by child of sender2 from the port
0 c0-m1 from sender0 by child of sender0 from the port
1 c1-m1 from sender1 by child of sender1 from the port
2 c2-m1 from sender2 by child of sender2 from the port
0 c0-m2 from sender0 by child of sender0 from the port
1 c1-m2 from sender1 by child of sender1 from the port
2 c2-m2 from sender2 by child of sender2 from the port"
[ "$out" = "$expected" ] || fail "UDP-LISTEN fork: $out ($(cat "$WORK/listen.log"))"
echo "socat udp: UDP-RECVFROM and UDP-LISTEN in fork mode answer three senders from forked children, each sender's datagrams to its own connected child"
