#!/usr/bin/env bash
# Java 17 both ways (a JVM: many threads, epoll, non-blocking connects, dual-stack [::] sockets). A
# preloaded com.sun.net.httpserver.HttpServer (scripts/e2e/JavaServer.java) serves the kernel's curl:
# its addresses, 4 MiB, an echoed upload, 8 downloads at once. Then preloaded Java clients
# (scripts/e2e/JavaClient.java: java.net.http.HttpClient, one request and 8 at once,
# HttpURLConnection, a plain Socket, a non-blocking SocketChannel under a Selector, a refused connect)
# fetch 4 MiB from a kernel-side python3 -m http.server; scripts/e2e/JavaEdges.java prints what 26
# edge cases do (timeouts, a close or an interrupt while another thread is blocked, UDP, asynchronous
# channels, connections to its own address, options), which must be the kernel's lines; a JVM on
# the stack serves JMX over RMI and JDWP (jdb) to the kernel side. Skipped
# without java and javac.
# E2E_KERNEL=1 runs it on kernel sockets.
source "$(dirname "$0")/lib.sh"
{ command -v java >/dev/null && command -v javac >/dev/null; } || { echo "java: SKIP (no java or javac)"; exit 0; }
setup java
javac -d "$WORK/classes" "$ROOT/scripts/e2e/JavaServer.java" "$ROOT/scripts/e2e/JavaClient.java" \
  "$ROOT/scripts/e2e/JavaEdges.java" "$ROOT/scripts/e2e/JavaJmxClient.java" ||
  fail "the Java sources do not build"
sum() { sha256sum | cut -c1-16; }
blobsum=$(python3 -c "
import sys
sys.stdout.buffer.write(bytes((i * 7 + i // 251) & 0xff for i in range(4 << 20)))" | sum)
JAVA=(java -Xshare:auto -XX:+UseSerialGC -Xmx256m -cp "$WORK/classes")

onstack -- timeout 90 "${JAVA[@]}" JavaServer 8081 > "$WORK/server.log" 2>&1 &
wait_line "$WORK/server.log" ready $! 30 "the Java server did not start"
out=$(inns timeout 10 curl -sS "http://$STACK_IP:8081/hello" 2>&1) || fail "curl /hello: $out"
[ "$out" = "hello $KERNEL_IP $STACK_IP" ] || fail "curl /hello: $out"
out=$(inns timeout 20 curl -sS "http://$STACK_IP:8081/blob" | sum)
[ "$out" = "$blobsum" ] || fail "curl /blob: $out, not $blobsum"
head -c $((1 << 20)) /dev/urandom > "$WORK/up"
out=$(inns timeout 20 curl -sS --data-binary @"$WORK/up" "http://$STACK_IP:8081/echo" | sum)
[ "$out" = "$(sum < "$WORK/up")" ] || fail "curl /echo: $out"
curls=()
for i in $(seq 8); do
  inns timeout 30 curl -sS -o "$WORK/par$i" "http://$STACK_IP:8081/blob" &
  curls+=($!)
done
for p in "${curls[@]}"; do wait "$p" || fail "a parallel curl failed"; done
for i in $(seq 8); do
  [ "$(sum < "$WORK/par$i")" = "$blobsum" ] || fail "parallel curl $i: the copy differs"
done

# The clients on the stack, a python3 -m http.server on the kernel side.
mkdir -p "$WORK/www"
python3 -c "
import sys
sys.stdout.buffer.write(bytes((i * 7 + i // 251) & 0xff for i in range(4 << 20)))" > "$WORK/www/blob"
inns timeout 90 python3 -m http.server --bind "$KERNEL_IP" --directory "$WORK/www" 8080 > "$WORK/py.log" 2>&1 &
wait_port "$KERNEL_IP" 8080
out=$(onstack -- timeout 60 "${JAVA[@]}" JavaClient "$KERNEL_IP" 8080 8089 2>&1) || fail "the Java clients: $out"
expected="httpclient 200 4194304 $blobsum
httpclient x8 200 4194304 $blobsum
urlconnection 200 4194304 $blobsum
socket $STACK_IP -> $KERNEL_IP nodelay=true keepalive=true 4194304 $blobsum
channel 4194304 $blobsum
closed port: Connection refused"
[ "$out" = "$expected" ] || fail "the Java clients: $out"
n=$(grep -c "^$STACK_IP .*GET /blob" "$WORK/py.log" || true)
[ "$n" = 12 ] || fail "the kernel's server saw $n requests from $STACK_IP: $(cat "$WORK/py.log")"

# The sockets' edges (scripts/e2e/JavaEdges.java), against the kernel-side echo on 9000 and a UDP
# echo on 9005: the lines the same program prints on the kernel.
start_pm_peer 1000
inns timeout 60 python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('$KERNEL_IP', 9005))
while True:
    d, a = s.recvfrom(2000)
    s.sendto(d, a)" &
out=$(onstack -- timeout 60 "${JAVA[@]}" JavaEdges "$KERNEL_IP" 9000 9005 "$STACK_IP" 2>&1) || fail "JavaEdges: $out"
expected="accept timeout: SocketTimeoutException: Accept timed out
accept closed by other thread: SocketException: Socket closed
read closed by other thread: SocketException: Socket closed
channel read closed by other thread: AsynchronousCloseException: null
channel read interrupted: ClosedByInterruptException: null
socket read timeout: SocketTimeoutException: Read timed out
half close echo: abc isOutputShutdown=true
connect timeout: SocketTimeoutException: Connect timed out
connect refused: ConnectException: Connection refused
udp echo: ping from $KERNEL_IP
udp connect disconnect: true /$KERNEL_IP:9005 timeout false
udp channel nonblocking: receive null
udp channel connect: pong local $STACK_IP
async channel: async
self connect own address: ok 7 $STACK_IP $STACK_IP
self connect wildcard via own address: ok $STACK_IP
self connect loopback: ok 127.0.0.1 127.0.0.1
async server: ok 127.0.0.1
buffers: 65536 8192 -> 65536 65536
options: 16 30 5 4 true 3 true true
urgent: SocketTimeoutException: Read timed out
reuseport: both bound
bind in use: BindException: Address already in use
interfaces: [$STACK_IP/24 up, 127.0.0.1/8 up lo]
ephemeral: true 0.0.0.0/0.0.0.0
selector many: connected 50"
[ "$out" = "$expected" ] || fail "JavaEdges: $(diff <(echo "$expected") <(echo "$out"))"

# The JVM's own servers on the stack: JMX over RMI (registry on 9010, the exported object on 9011)
# for a kernel-side JMX client, and the debugger's JDWP (its native socket code) for jdb.
onstack -- timeout 60 "${JAVA[@]}" -Dcom.sun.management.jmxremote.port=9010 -Dcom.sun.management.jmxremote.rmi.port=9011 \
  -Dcom.sun.management.jmxremote.authenticate=false -Dcom.sun.management.jmxremote.ssl=false \
  -Djava.rmi.server.hostname="$STACK_IP" -agentlib:jdwp=transport=dt_socket,server=y,suspend=n,address=*:8000 \
  JavaServer 8082 > "$WORK/jvm.log" 2>&1 &
wait_line "$WORK/jvm.log" ready $! 30 "the JVM with JMX and JDWP did not start"
out=$(inns timeout 30 "${JAVA[@]}" JavaJmxClient "$STACK_IP:9010" 2>&1) || fail "JMX: $out"
[ "$out" = "jmx: vm OpenJDK args 1" ] || fail "JMX: $out"
if command -v jdb >/dev/null; then
  out=$(printf 'threads\nexit\n' | inns timeout 30 jdb -attach "$STACK_IP:8000" 2>&1) || fail "jdb: $out"
  grep -q "HTTP-Dispatcher *running" <<<"$out" || fail "jdb: $out"
fi
echo "java: HttpServer on the stack served curl (4 MiB, an echoed 1 MiB upload, 8 at once); HttpClient (8 at once), HttpURLConnection, Socket and a non-blocking SocketChannel on the stack fetched 4 MiB from the kernel; 26 edge cases as on the kernel; JMX over RMI and jdb to a JVM on the stack"
