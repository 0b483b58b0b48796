#!/usr/bin/env bash
# AF_INET6 dual-stack sockets carrying IPv4 (IPV6_V6ONLY off, as node, Java and `nc -l` make
# them): a python `[::]` listener on the stack is reached at 10.77.0.2 from the kernel side (only
# the stack answers there); an AF_INET6 client connecting to ::ffff:10.77.0.1 is seen coming from
# 10.77.0.2; every address is a sockaddr_in6 with the IPv4-mapped address, as Linux gives it.
# node's `listen(port)` (no host: `[::]`) is reached at 10.77.0.2 too. Run with E2E_KERNEL=1, it
# prints the kernel's answers, which the expectations below are.
source "$(dirname "$0")/lib.sh"
setup inet6
PEER="$ROOT/scripts/e2e/inet6_peer.py"
want() { grep -qxF -- "$2" "$1" || { cat "$1"; fail "expected in $(basename "$1"): $2"; }; }

# The server on the stack, the client on the kernel side connecting to 10.77.0.2.
onstack -- timeout 30 python3 "$PEER" server 9100 > "$WORK/server.log" 2>&1 &
server=$!
wait_line "$WORK/server.log" ready "$server" 10 "the AF_INET6 server did not start"
inns timeout 10 python3 -c "
import socket
for i in range(2):
    s = socket.create_connection(('$STACK_IP', 9100), timeout=5)
    print(s.getpeername()[0], s.recv(100).decode().strip() if i == 0 else '', flush=True)
    s.close()
" > "$WORK/kclient.log" || { cat "$WORK/kclient.log" "$WORK/server.log"; fail "kernel side could not reach [::]:9100 at $STACK_IP"; }
wait "$server" || { cat "$WORK/server.log"; fail "the server failed"; }
cat "$WORK/server.log"
want "$WORK/kclient.log" "$STACK_IP hello over v6 socket"
S="$WORK/server.log"
want "$S" "pending v6only 0 name ('::', 0, 0, 0)"
want "$S" "listener name ('::', 9100, 0, 0)"
want "$S" "listener domain True v6only 0 set-v6only-1 EINVAL set-v6only-0 EINVAL"
want "$S" "accepted from ('::ffff:$KERNEL_IP', 0, 0) name ('::ffff:$STACK_IP', 9100, 0, 0) peer ('::ffff:$KERNEL_IP', 0, 0)"
want "$S" "accepted domain True v6only 0 set-v6only-1 EINVAL set-v6only-0 EINVAL"
want "$S" "exec child AF_INET6 ::ffff:$KERNEL_IP ('::ffff:$STACK_IP', 9100, 0, 0)"
want "$S" "short accept len 28 family 10 flow 00000000 addr ::ffff:$KERNEL_IP rest aaaaaaaa"
want "$S" "short getpeername 0 len 28 family 10 rest aaaaaaaa"

# The client on the stack, the server on the kernel side: it sees the stack's address.
inns timeout 20 python3 -c "
import socket
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(('$KERNEL_IP', 9101)); l.listen(1)
c, a = l.accept(); print(a[0], flush=True); c.sendall(b'hello v6 client\n'); c.recv(1)" > "$WORK/kserver.log" &
wait_port "$KERNEL_IP" 9101
onstack -- timeout 20 python3 "$PEER" client "$KERNEL_IP" 9101 > "$WORK/client.log" 2>&1 \
  || { cat "$WORK/client.log"; fail "the AF_INET6 client failed"; }
cat "$WORK/client.log"
C="$WORK/client.log"
want "$C" "client name ('::ffff:$STACK_IP', 0, 0) peer ('::ffff:$KERNEL_IP', 9101, 0, 0)"
want "$C" "client domain True v6only 0 set-v6only-1 EINVAL set-v6only-0 EINVAL"
want "$C" "client got hello v6 client"
want "$C" "loopback v6 ('::1', 0, 0) ('::1', 0, 0)"
want "$C" "v6only listener :: v4 connect ECONNREFUSED"
for _ in $(seq 50); do [ -s "$WORK/kserver.log" ] && break; sleep 0.1; done
want "$WORK/kserver.log" "$STACK_IP"

# UDP: a [::] server on the stack answers the kernel side at 10.77.0.2; a client's datagrams to
# ::ffff:10.77.0.1 come from 10.77.0.2.
onstack -- timeout 30 python3 "$PEER" udpserver 9103 > "$WORK/udpserver.log" 2>&1 &
server=$!
wait_line "$WORK/udpserver.log" ready "$server" 10 "the AF_INET6 UDP server did not start"
inns timeout 10 python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5)
for m in (b'one', b'two'):
    s.sendto(m, ('$STACK_IP', 9103))
    d, a = s.recvfrom(100)
    print(d.decode(), a[0], a[1])
" > "$WORK/kudp.log" || { cat "$WORK/kudp.log" "$WORK/udpserver.log"; fail "kernel side got no answer from [::]:9103 at $STACK_IP"; }
wait "$server" || { cat "$WORK/udpserver.log"; fail "the UDP server failed"; }
cat "$WORK/udpserver.log" "$WORK/kudp.log"
U="$WORK/udpserver.log"
want "$U" "udp server name ('::', 9103, 0, 0)"
want "$U" "udp server domain True v6only 0 set-v6only-1 EINVAL set-v6only-0 EINVAL"
want "$U" "udp server got one from ('::ffff:$KERNEL_IP', 0, 0)"
want "$U" "udp server recvmsg two from ('::ffff:$KERNEL_IP', 0, 0)"
want "$WORK/kudp.log" "pong one $STACK_IP 9103"
want "$WORK/kudp.log" "pong two $STACK_IP 9103"
inns timeout 30 socat UDP4-RECVFROM:7777,fork,reuseaddr SYSTEM:'echo "$SOCAT_PEERADDR"; cat' &
sleep 0.5
onstack -- timeout 20 python3 "$PEER" udpclient "$KERNEL_IP" 7777 > "$WORK/udpclient.log" 2>&1 \
  || { cat "$WORK/udpclient.log"; fail "the AF_INET6 UDP client failed"; }
cat "$WORK/udpclient.log"
U="$WORK/udpclient.log"
want "$U" "udp client got $STACK_IP from ('::ffff:$KERNEL_IP', 7777, 0, 0) name ('::', 0, 0)"
want "$U" "udp client domain True v6only 0 set-v6only-1 EINVAL set-v6only-0 EINVAL"
want "$U" "udp connected peer ('::ffff:$KERNEL_IP', 7777, 0, 0)"

# node: listen(port) with no host binds [::] dual-stack; the kernel side reaches it at 10.77.0.2.
start_http_peer
echo "hello node" > "$WORK/www/index.html"
onstack -- timeout 30 node -e "
const http = require('http');
const server = http.createServer((q, r) => {
  r.end('node ' + q.socket.remoteAddress + ' ' + q.socket.localAddress + ' ' + q.socket.remoteFamily + '\n');
  server.close();
});
server.listen(9102, () => {
  console.log('listening ' + JSON.stringify(server.address()));
  http.get('http://$KERNEL_IP:8080/index.html', (res) => {
    let body = '';
    res.on('data', (d) => body += d);
    res.on('end', () => console.log('fetched ' + body.trim()));
  });
});" > "$WORK/node.log" 2>&1 &
node=$!
wait_line "$WORK/node.log" "fetched hello node" "$node" 15 "node's http.get failed"
want "$WORK/node.log" 'listening {"address":"::","family":"IPv6","port":9102}'
out=$(inns timeout 10 curl -s "http://$STACK_IP:9102/") || fail "kernel side could not reach node's [::]:9102 at $STACK_IP"
[ "$out" = "node ::ffff:$KERNEL_IP ::ffff:$STACK_IP IPv6" ] || fail "node answered: $out"
wait "$node" || { cat "$WORK/node.log"; fail "node failed"; }
peer_saw_stack "GET /index.html"
echo "inet6: [::] listener and ::ffff: client on the stack (TCP and UDP), addresses as Linux's; node ($out)"
