#!/usr/bin/env bash
# python through the stack: urllib fetches a page; a UDP round trip to a kernel-side echo; a socket
# timeout fires on time on a silent connection.
source "$(dirname "$0")/lib.sh"
setup python
start_http_peer
echo "hello from the kernel side" > "$WORK/www/index.html"
out=$(onstack -- python3 -c "
import urllib.request
print(urllib.request.urlopen('http://$KERNEL_IP:8080/index.html', timeout=10).read().decode().strip())")
[ "$out" = "hello from the kernel side" ] || fail "urllib got: $out"
peer_saw_stack "GET /index.html"

inns timeout 30 socat UDP4-RECVFROM:7777,fork,reuseaddr SYSTEM:'echo "$SOCAT_PEERADDR"; cat' &
sleep 0.5
out=$(onstack -- python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
for i in range(5):
    s.sendto(b'ping', ('$KERNEL_IP', 7777))
    try:
        data, addr = s.recvfrom(100)
        print(data.decode().split()[0], addr[0])
        break
    except socket.timeout:
        pass
")
[ "$out" = "$STACK_IP $KERNEL_IP" ] || fail "UDP round trip: $out"

# A server that accepts and then says nothing: recv must time out after 1.5 s.
inns timeout 30 python3 -c "
import socket, time
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(('$KERNEL_IP', 9000)); l.listen(1)
c, a = l.accept(); print(a[0], flush=True); time.sleep(20)" > "$WORK/silent.log" &
wait_port "$KERNEL_IP" 9000
out=$(onstack -- python3 -c "
import socket, time
s = socket.create_connection(('$KERNEL_IP', 9000), timeout=5)
s.settimeout(1.5)
t = time.monotonic()
try:
    s.recv(10)
    print('DATA?')
except socket.timeout:
    print('TIMEOUT %.2f' % (time.monotonic() - t))
")
case "$out" in
  TIMEOUT\ 1.[5-7]*) ;;
  *) fail "socket timeout: $out" ;;
esac
grep -q "$STACK_IP" "$WORK/silent.log" || fail "silent server did not see the stack's address"
echo "python: urllib, UDP echo, timeout ($out)"
