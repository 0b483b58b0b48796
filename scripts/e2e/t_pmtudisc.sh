#!/usr/bin/env bash
# IP_MTU_DISCOVER as Linux applies it (ip(7); __ip_make_skb, __ip_append_data, __ip_queue_xmit):
# a UDP datagram bears DF by default when it fits the MTU (IP_PMTUDISC_WANT) and is fragmented when
# it does not; DO and PROBE always set DF and refuse a datagram too long with EMSGSIZE, INTERFACE
# refuses it without DF, DONT and OMIT never set DF; an unconnected socket's DF datagram bears
# identification 0 under DO and PROBE; TCP sets DF for WANT and DO only. What the wire shows (DF, id 0 or not,
# fragments) is printed, and must be the kernel's (E2E_KERNEL=1 prints the same). Only DO and
# PROBE give an unconnected socket's datagram id 0: WANT's DF datagram may still be cut locally
# (skb->ignore_df), so it gets a real id.
source "$(dirname "$0")/lib.sh"
setup pmtudisc
if [ -n "$E2E_KERNEL" ]; then dev=veth0; else dev=tap0; fi
# Receivers on the kernel side, so no port unreachable comes back to change a socket's next send.
inns timeout 60 python3 -c "
import socket, threading
socks = []
for p in range(7601, 7611):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('$KERNEL_IP', p)); socks.append(u)
def serve(l):
    while True:
        c, _ = l.accept(); c.recv(4096); c.close()
for p in (7620, 7621, 7622):
    l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind(('$KERNEL_IP', p)); l.listen(8)
    threading.Thread(target=serve, args=(l,), daemon=True).start()
print('ready', flush=True)
threading.Event().wait(55)
" > "$WORK/peer.out" 2>&1 &
peer=$!
wait_line "$WORK/peer.out" ready 50 "$peer" "the receivers did not start"
inns timeout 60 tcpdump -i "$dev" -nn -v --immediate-mode -U -w "$WORK/p.pcap" \
  "src host $STACK_IP and (udp or ip[6:2] & 0x1fff != 0 or tcp[tcpflags] & tcp-syn != 0)" 2>/dev/null &
sleep 1
onstack -- timeout 30 python3 "$ROOT/scripts/e2e/pmtudisc_send.py" "$KERNEL_IP" > "$WORK/send.out" 2>&1 ||
  fail "the sender failed: $(cat "$WORK/send.out")"
sleep 1
ns_pkill "tcpdump -i $dev" || true
sleep 0.5
# One line per frame: what it is (udp/tcp and port, or a fragment), DF, id 0 or not. Frames are
# listed by destination port, each datagram's fragments after it (matched by IP id): the stack's
# service carries a socket's datagrams and another socket's connect on separate paths, so the
# order between two sockets on the wire is not the program's order (nor promised by Linux).
inns tcpdump -nn -v -r "$WORK/p.pcap" 2>/dev/null | python3 -c "
import re, sys
lines = sys.stdin.read().split('\n')
groups, by_id = [], {}
for i, l in enumerate(lines):
    m = re.match(r'.*IP \(tos \S+, ttl \d+, id (\d+), offset (\d+), flags \[([^\]]*)\], proto (\w+)', l)
    if not m:
        continue
    ident, off, flags, proto = int(m.group(1)), int(m.group(2)), m.group(3), m.group(4)
    nxt = lines[i + 1] if i + 1 < len(lines) else ''
    # The port from the addresses, not tcpdump's 'UDP' word, which a datagram from source port
    # 49152 lacks (tcpdump decodes it as Broadcom LI); a later fragment has no ports.
    p = off == 0 and re.search(r'(?:\d+\.){4}\d+ > (?:\d+\.){4}(\d+): ', nxt)
    what = ('udp ' if proto == 'UDP' else 'tcp SYN ') + p.group(1) if p else 'fragment'
    line = ' '.join([what, 'offset', str(off), 'DF' if 'DF' in flags else 'no-DF', 'id0' if ident == 0 else 'id'])
    if p:
        groups.append((int(p.group(1)), [line]))
        by_id[ident] = groups[-1][1]
    elif ident in by_id:
        by_id[ident].append(line)
    else:
        groups.append((0, [line]))
for _, g in sorted(groups, key=lambda g: g[0]):
    print('\n'.join(g))
" > "$WORK/wire.out"
cat "$WORK/send.out" "$WORK/wire.out" > "$WORK/all.out"
expected="udp 7601 100 sent
  reads back 1
udp 7602 100 sent
  reads back 1
udp 7603 3000 sent
  reads back 1
udp 7604 100 sent
  reads back 0
udp 7605 3000 EMSGSIZE
  reads back 2
udp 7606 100 sent
  reads back 2
udp 7607 3000 EMSGSIZE
  reads back 4
udp 7608 100 sent
  reads back 4
udp 7609 100 sent
  reads back 3
udp 7610 3000 sent
  reads back 5
udp one-byte DO 3000 EMSGSIZE
udp loopback DO 3000 sent
tcp 7620 sent
tcp 7621 sent
tcp 7622 sent
udp 7601 offset 0 DF id
udp 7602 offset 0 DF id
udp 7603 offset 0 no-DF id
fragment offset 1480 no-DF id
fragment offset 2960 no-DF id
udp 7604 offset 0 no-DF id
udp 7606 offset 0 DF id0
udp 7608 offset 0 no-DF id
udp 7609 offset 0 DF id0
udp 7610 offset 0 no-DF id
fragment offset 1480 no-DF id
fragment offset 2960 no-DF id
tcp SYN 7620 offset 0 DF id
tcp SYN 7621 offset 0 no-DF id
tcp SYN 7622 offset 0 no-DF id"
[ -z "${SHOW:-}" ] || cat "$WORK/all.out"; [ "$(cat "$WORK/all.out")" = "$expected" ] || fail "$(diff <(echo "$expected") "$WORK/all.out")"
echo "pmtudisc: IP_MTU_DISCOVER's six modes set DF, refuse or fragment UDP and set TCP's DF as Linux's; DO and PROBE datagrams of an unconnected socket bear id 0"
