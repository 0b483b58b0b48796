#!/usr/bin/env bash
# IPv4 multicast over UDP, with IGMP, as Linux does it: preloaded receivers join 239.1.1.1 on the
# stack (an IGMPv3 report goes out, TTL 1 with Router Alert) and both get what the kernel side
# sends to the group; a preloaded sender's datagram to a group the kernel side joined arrives with
# TTL 1, then 5 after IP_MULTICAST_TTL=5; IP_MULTICAST_LOOP brings a preloaded sender's datagram
# back to the member sockets of other preloaded processes (and not when turned off); when the
# receivers close, a report leaving the group goes out; a general query is answered. One receiver
# joins with struct ip_mreq and our address, the other with struct ip_mreqn and the link's index,
# a third as Java's MulticastSocket does: a dual-stack AF_INET6 socket with the IPV6_MULTICAST_*
# options, and the interface named by the address SIOCGIFADDR lists on it (on the stack the
# stack's own, 10.77.0.2 on tap0, as a program on Linux lists its own).
source "$(dirname "$0")/lib.sh"
setup mcast
PEER=$ROOT/scripts/e2e/mcast_peer.py
# The link as the kernel side sees it, and as the programs on the stack side see it.
if [ -n "$E2E_KERNEL" ]; then IFACE=veth0 STACK_IFACE=veth1; else IFACE=tap0 STACK_IFACE=tap0; fi

inns timeout 40 tcpdump -i "$IFACE" -n -l -v igmp > "$WORK/igmp.txt" 2>/dev/null &
sleep 1

touch "$WORK/k.txt" "$WORK/r1.txt" "$WORK/r2.txt" "$WORK/r3.txt"
# The kernel side's member of 239.1.1.2 on this link.
inns timeout 30 python3 "$PEER" recv 239.1.1.2 5001 "$KERNEL_IP" "$WORK/k.txt" &
kpid=$!
onstack -- timeout 30 python3 "$PEER" recv 239.1.1.1 5000 "$STACK_IP" "$WORK/r1.txt" &
r1=$!
onstack -- timeout 30 python3 "$PEER" recv 239.1.1.1 5000 "if:$STACK_IFACE" "$WORK/r2.txt" &
r2=$!
onstack -- timeout 30 python3 "$PEER" recv6 239.1.1.1 5000 "$STACK_IFACE" "$WORK/r3.txt" > "$WORK/r3.err" 2>&1 &
r3=$!
wait_line "$WORK/k.txt" READY "$kpid" 10 "the kernel-side receiver did not join"
wait_line "$WORK/r1.txt" READY "$r1" 10 "receiver 1 did not join on the stack"
wait_line "$WORK/r2.txt" READY "$r2" 10 "receiver 2 did not join on the stack"
wait_line "$WORK/r3.txt" READY "$r3" 10 "receiver 3 (AF_INET6, Java's way) did not join on the stack: $(cat "$WORK/r3.err")"

# A general query (from a raw socket on the kernel side) is answered within its 1 s (after a
# random delay, as Linux's: waited for here, since the receivers leave the group soon after, and a
# report not yet sent then has nothing left to report).
inns timeout 10 python3 "$PEER" query "$KERNEL_IP"
for _ in $(seq 20); do
  grep -q "$STACK_IP > 224.0.0.22: igmp v3 report.*gaddr 239.1.1.1 is_ex" "$WORK/igmp.txt" && break
  sleep 0.1
done

# Kernel -> stack members.
inns timeout 10 python3 "$PEER" send 239.1.1.1 5000 "$KERNEL_IP" - 0 from-kernel > /dev/null
wait_line "$WORK/r1.txt" "from-kernel 1 $KERNEL_IP" "$r1" 5 "receiver 1 did not get the kernel's datagram to 239.1.1.1"
wait_line "$WORK/r2.txt" "from-kernel 1 $KERNEL_IP" "$r2" 5 "receiver 2 did not get the kernel's datagram to 239.1.1.1"
wait_line "$WORK/r3.txt" "from-kernel 1 $KERNEL_IP" "$r3" 5 "receiver 3 did not get the kernel's datagram to 239.1.1.1"

# Stack -> kernel member: TTL 1 by default, 5 when asked.
out=$(onstack -- timeout 10 python3 "$PEER" send 239.1.1.2 5001 "$STACK_IP" - - ttl-default)
[ "$out" = "ttl 1 loop 1" ] || fail "a new socket's IP_MULTICAST_TTL and IP_MULTICAST_LOOP: $out"
wait_line "$WORK/k.txt" "ttl-default 1 $STACK_IP" "$kpid" 5 "the kernel did not get the stack's datagram with TTL 1"
onstack -- timeout 10 python3 "$PEER" send 239.1.1.2 5001 "$STACK_IP" 5 - ttl-five end > /dev/null
wait_line "$WORK/k.txt" "ttl-five 5 $STACK_IP" "$kpid" 5 "the kernel did not get the stack's datagram with TTL 5"

# Loopback: a sender in another process reaches the member sockets, unless IP_MULTICAST_LOOP=0.
onstack -- timeout 10 python3 "$PEER" send 239.1.1.1 5000 "$STACK_IP" - 0 no-loop > /dev/null
onstack -- timeout 10 python3 "$PEER" send 239.1.1.1 5000 "$STACK_IP" - 1 looped end > /dev/null
wait_line "$WORK/r1.txt" "looped 1 $STACK_IP" "$r1" 5 "receiver 1 did not get the looped-back datagram"
wait_line "$WORK/r2.txt" "looped 1 $STACK_IP" "$r2" 5 "receiver 2 did not get the looped-back datagram"
wait_line "$WORK/r3.txt" "looped 1 $STACK_IP" "$r3" 5 "receiver 3 did not get the looped-back datagram"
wait "$r1" "$r2" "$r3" "$kpid" || true
! grep -q no-loop "$WORK/r1.txt" "$WORK/r2.txt" "$WORK/r3.txt" || fail "a datagram sent with IP_MULTICAST_LOOP=0 came back"

# IGMP on the wire: the join (CHANGE_TO_EXCLUDE) and, as the last member closed, the leave
# (CHANGE_TO_INCLUDE), each TTL 1 with Router Alert.
for _ in $(seq 30); do grep -q "gaddr 239.1.1.1 to_in" "$WORK/igmp.txt" && break; sleep 0.1; done
grep -B1 "$STACK_IP > 224.0.0.22: igmp v3 report.*gaddr 239.1.1.1 to_ex" "$WORK/igmp.txt" | grep -q "ttl 1,.*options (RA)" \
  || { cat "$WORK/igmp.txt"; fail "no IGMPv3 join report for 239.1.1.1 with TTL 1 and Router Alert"; }
grep -q "$STACK_IP > 224.0.0.22: igmp v3 report.*gaddr 239.1.1.1 to_in" "$WORK/igmp.txt" \
  || { cat "$WORK/igmp.txt"; fail "no IGMPv3 leave report for 239.1.1.1"; }
grep -q "$STACK_IP > 224.0.0.22: igmp v3 report.*gaddr 239.1.1.1 is_ex" "$WORK/igmp.txt" \
  || { cat "$WORK/igmp.txt"; fail "no answer to the general query"; }
echo "multicast: three processes (one an AF_INET6 socket as Java's) joined 239.1.1.1 and got the kernel's datagram and a looped one (not with IP_MULTICAST_LOOP=0); the kernel's member got TTL 1 then 5; IGMPv3 join, query answer and leave reports seen"
