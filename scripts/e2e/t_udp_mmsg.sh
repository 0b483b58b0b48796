#!/usr/bin/env bash
# UDP through syscall(2): libuv sends with syscall(SYS_sendmmsg) and receives with
# syscall(SYS_recvmmsg), past libc's wrappers, so the shim must take those numbers too, or a
# datagram crosses the socketpair without its address header (dig's queries lost their first eight
# bytes, and dnsmasq answered REFUSED). scripts/e2e/udp_mmsg.c against a kernel-side UDP echo; then,
# where dig is installed, dig over UDP to dnsmasq on the kernel side.
source "$(dirname "$0")/lib.sh"
setup udpmmsg
build_c udp_mmsg
inns timeout 60 python3 -c "
import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('$KERNEL_IP', 9100))
while True:
    d, a = u.recvfrom(2048); u.sendto(d, a)
" &
for _ in $(seq 50); do inns ss -Hlun "src $KERNEL_IP:9100" | grep -q . && break; sleep 0.1; done
onstack -- timeout 20 "$WORK/udp_mmsg" "$KERNEL_IP" 9100 > "$WORK/out" 2>&1 || true
cat "$WORK/out"
grep -qx "PASS mmsg" "$WORK/out" || fail "$(cat "$WORK/out")"

if command -v dig > /dev/null; then
  inns timeout 60 dnsmasq --no-daemon --no-resolv --no-hosts --bind-interfaces --listen-address="$KERNEL_IP" \
    --address=/web.tapstack.test/"$KERNEL_IP" --pid-file="$WORK/dnsmasq.pid" --user=root 2>/dev/null &
  for _ in $(seq 50); do inns ss -Hlun "src $KERNEL_IP:53" | grep -q . && break; sleep 0.1; done
  out=$(onstack -- timeout 10 dig +short +tries=1 +time=3 @"$KERNEL_IP" web.tapstack.test 2>&1) || true
  [ "$out" = "$KERNEL_IP" ] || fail "dig over UDP said: $out"
  echo "udp mmsg: syscall(SYS_sendmmsg/SYS_recvmmsg) datagrams cross whole; dig over UDP answers"
else
  echo "udp mmsg: syscall(SYS_sendmmsg/SYS_recvmmsg) datagrams cross whole (no dig here)"
fi
