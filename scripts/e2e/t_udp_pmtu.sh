#!/usr/bin/env bash
# A UDP path MTU learnt from the kernel's "fragmentation needed" (RFC 1191), as Linux learns it:
# the kernel side routes to a third namespace over a veth of MTU 1000, so the first 1200-byte
# datagram (DF, IP_PMTUDISC_WANT's default) is dropped there and answered with ICMP type 3 code 4;
# the next ones go in fragments that fit, without DF, and arrive whole. A 900-byte datagram keeps
# DF, and with IP_PMTUDISC_DO a 1200-byte one fails with EMSGSIZE. Counted at the far receiver;
# E2E_KERNEL=1 shows the kernel's sockets doing the same.
source "$(dirname "$0")/lib.sh"
setup udp_pmtu
FAR="$NS-far"
ip netns add "$FAR"
# The far namespace goes too, and the test's status stays what it was for cleanup to return.
trap 'r=$?; set +e; ip netns pids "$FAR" 2>/dev/null | xargs -r kill 2>/dev/null; ip netns delete "$FAR" 2>/dev/null; (exit $r); cleanup' EXIT
ip -n "$NS" link add vfar0 type veth peer name vfar1 netns "$FAR"
ip -n "$NS" addr add 10.78.0.1/24 dev vfar0
ip -n "$FAR" addr add 10.78.0.2/24 dev vfar1
ip -n "$NS" link set vfar0 mtu 1000 up
ip -n "$FAR" link set vfar1 mtu 1000 up
ip -n "$FAR" link set lo up
ip -n "$FAR" route add 10.77.0.0/24 via 10.78.0.1
inns sysctl -qw net.ipv4.ip_forward=1
if [ -n "$E2E_KERNEL" ]; then ip -n "$NS-s" route add 10.78.0.0/24 via "$KERNEL_IP"; fi
ip netns exec "$FAR" timeout 30 python3 -c "
import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('10.78.0.2', 7960)); u.settimeout(4)
print('ready', flush=True)
got = []
try:
    while True:
        got.append(len(u.recv(4096)))
except socket.timeout:
    pass
print('got', got, flush=True)
" > "$WORK/far.out" 2>&1 &
far=$!
wait_line "$WORK/far.out" ready 50 "$far" "the far receiver did not start"
# A TCP listener there too: a connection opened after the datagrams offers the path's MSS in its
# SYN, as Linux's takes its route's MTU (seen at the far end), and IP_MTU tells the path's MTU.
ip netns exec "$FAR" timeout 30 python3 -c "
import socket
l = socket.socket(); l.bind(('10.78.0.2', 7961)); l.listen(1)
c, _ = l.accept(); print('tcp got', len(c.recv(100)), flush=True)
" > "$WORK/fartcp.out" 2>&1 &
ip netns exec "$FAR" timeout 30 tcpdump -i vfar1 -nn -c 1 "tcp[tcpflags] & tcp-syn != 0 and dst port 7961"   > "$WORK/syn.txt" 2>/dev/null &
sleep 1
onstack -- timeout 20 python3 -c "
import errno, socket, time
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for n in (1200, 1200, 1200, 900, 1200):
    u.sendto(b'p' * n, ('10.78.0.2', 7960))
    time.sleep(0.2)
# IP_PMTUDISC_DO: what the learnt path does not take fails at once with EMSGSIZE (Linux's
# __ip_append_data), sent to the address or connected; what it takes goes.
IP_MTU_DISCOVER, IP_PMTUDISC_DO = 10, 2
d = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
d.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)
do = []
def attempt(send):
    try:
        send(); do.append('sent')
    except OSError as e:
        do.append(errno.errorcode[e.errno])
attempt(lambda: d.sendto(b'd' * 1200, ('10.78.0.2', 7960)))
attempt(lambda: d.sendto(b'd' * 900, ('10.78.0.2', 7960)))
d.connect(('10.78.0.2', 7960))
attempt(lambda: d.send(b'd' * 1200))
print('do', do)
t = socket.create_connection(('10.78.0.2', 7961), timeout=5)
t.sendall(b'q' * 50)
IP_MTU = 14
# IP_MTU: the path's MTU for a connected socket, ENOTCONN for one that is not (Linux's dst_mtu).
mtus = [t.getsockopt(socket.IPPROTO_IP, IP_MTU)]
t.close()
for peer in (('10.78.0.2', 7960), ('$KERNEL_IP', 7960)):
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); c.connect(peer)
    mtus.append(c.getsockopt(socket.IPPROTO_IP, IP_MTU))
try:
    u.getsockopt(socket.IPPROTO_IP, IP_MTU); mtus.append('no error')
except OSError as e:
    import errno; mtus.append(errno.errorcode[e.errno])
print('ip_mtu', mtus)
print('sent')
" > "$WORK/send.out" 2>&1 || fail "the sender: $(cat "$WORK/send.out")"
do=$(grep '^do' "$WORK/send.out")
[ "$do" = "do ['EMSGSIZE', 'sent', 'EMSGSIZE']" ] || fail "IP_PMTUDISC_DO sends: $do; expected do ['EMSGSIZE', 'sent', 'EMSGSIZE']"
mtus=$(grep '^ip_mtu' "$WORK/send.out")
[ "$mtus" = "ip_mtu [1000, 1000, 1500, 'ENOTCONN']" ] || fail "IP_MTU: $mtus; expected ip_mtu [1000, 1000, 1500, 'ENOTCONN']"
wait "$far" || true
got=$(grep '^got' "$WORK/far.out")
[ "$got" = "got [1200, 1200, 900, 1200, 900]" ] || fail "the far side $got; expected the first datagram lost, the rest whole"
sleep 0.5
mss=$(grep -o 'mss [0-9]*' "$WORK/syn.txt" || true)
[ "$mss" = "mss 960" ] || fail "the SYN after the path was learnt offered '$mss' ($(cat "$WORK/syn.txt")); expected mss 960"
echo "udp pmtu: after the kernel's fragmentation needed (MTU 1000 on the way), 1200-byte datagrams arrived whole in fragments ($got); IP_PMTUDISC_DO sends said ${do#do }; a new TCP connection offered $mss; IP_MTU said ${mtus#ip_mtu }"
