#!/usr/bin/env bash
# TCP Fast Open (RFC 7413) with real peers, the data in the SYN seen on the wire:
#  (c) python's sendto(MSG_FASTOPEN) on the stack, twice, to a kernel HTTP server with TCP_FASTOPEN:
#      the first SYN asks for a cookie, the second carries it and the request;
#  (a) then curl --tcp-fastopen (TCP_FASTOPEN_CONNECT) on the stack, twice, to the same server: the
#      stack has the cookie, so its connect returns at once and each SYN carries the request; the
#      body is exact;
#  (b) a kernel client (sendto MSG_FASTOPEN, tcp_fastopen=3) twice to a server on the stack with
#      TCP_FASTOPEN: the second SYN carries the data, the SYN-ACK acknowledges it, the server reads it.
# E2E_KERNEL=1 runs it all on kernel sockets, to prove the scenario.
source "$(dirname "$0")/lib.sh"
setup tfo
# Both sides may use Fast Open: the kernel's namespace (and the stack, which reads it there).
inns sysctl -qw net.ipv4.tcp_fastopen=3
if [ -n "$E2E_KERNEL" ]; then
  ip netns exec "$NS-s" sysctl -qw net.ipv4.tcp_fastopen=3
  dev=veth0
else
  dev=tap0
fi

inns timeout 60 tcpdump -i "$dev" -nn --immediate-mode -U -w "$WORK/tfo.pcap" tcp 2>/dev/null &
capture=$!
for _ in $(seq 50); do [ -s "$WORK/tfo.pcap" ] && break; sleep 0.1; done

# The kernel-side HTTP server, with TCP_FASTOPEN on its listener.
mkdir -p "$WORK/www"
head -c 5000 /dev/urandom | base64 > "$WORK/www/page.txt"
cat > "$WORK/server.py" <<'EOF'
import functools, http.server, socket, sys
class Server(http.server.ThreadingHTTPServer):
    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, 16)
        super().server_bind()
class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass
Server((sys.argv[1], 8080), functools.partial(Quiet, directory=sys.argv[2])).serve_forever()
EOF
inns timeout 60 python3 "$WORK/server.py" "$KERNEL_IP" "$WORK/www" &
wait_port "$KERNEL_IP" 8080

# SYNs from SRC to DST:PORT carrying data, as tcpdump prints them.
syns_with_data() {
  tcpdump -nn -r "$WORK/tfo.pcap" "src host $1 and dst host $2 and dst port $3 and tcp[tcpflags] & tcp-syn != 0 and tcp[tcpflags] & tcp-ack == 0 and (ip[2:2] - ((ip[0] & 0xf) << 2) - ((tcp[12] & 0xf0) >> 2)) > 0" 2>/dev/null
}

# (c) python's sendto(MSG_FASTOPEN) on the stack, blocking, twice, to the kernel server: first
# the cookie request (connect, then the data after the handshake), then data in the SYN.
out=$(onstack -- timeout 20 python3 -c "
import socket, time
for i in (1, 2):
    c = socket.socket()
    n = c.sendto(b'GET /page.txt HTTP/1.0\r\n\r\n', socket.MSG_FASTOPEN, ('$KERNEL_IP', 8080))
    data = b''
    while True:
        d = c.recv(65536)
        if not d:
            break
        data += d
    syn_data = c.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[5] & 0x20 != 0
    c.close()
    print(n, data.split(b'\r\n')[0].decode(), len(data.split(b'\r\n\r\n', 1)[1]), int(syn_data))
    time.sleep(0.2)
")
size=$(stat -c %s "$WORK/www/page.txt")
[ "$out" = "$(printf '26 HTTP/1.0 200 OK %s 0\n26 HTTP/1.0 200 OK %s 1' "$size" "$size")" ] || fail "sendto(MSG_FASTOPEN): $out"

# (a) curl, twice.
for i in 1 2; do
  onstack -- curl -sS --fail --tcp-fastopen -o "$WORK/got$i.txt" "http://$KERNEL_IP:8080/page.txt"
  cmp "$WORK/got$i.txt" "$WORK/www/page.txt" || fail "curl run $i: the body differs"
done

# (b) the kernel client to a server on the stack.
cat > "$WORK/stack_server.py" <<'EOF'
import socket, sys
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, 8)
l.bind((sys.argv[1], 9000))
l.listen(8)
print("listening", flush=True)
for _ in range(2):
    c, a = l.accept()
    data = c.recv(100)
    # TCP_INFO's tcpi_options: TCPI_OPT_SYN_DATA (0x20) when the SYN's data was taken.
    syn_data = c.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[5] & 0x20 != 0
    print("got", data.decode(), "syn_data=%d" % syn_data, flush=True)
    c.sendall(b"re:" + data)
    c.close()
EOF
onstack -- python3 "$WORK/stack_server.py" "$STACK_IP" > "$WORK/stack_server.log" 2>&1 &
server=$!
for _ in $(seq 100); do grep -q listening "$WORK/stack_server.log" 2>/dev/null && break; sleep 0.1; done
grep -q listening "$WORK/stack_server.log" || fail "the server on the stack did not start: $(cat "$WORK/stack_server.log")"
out=$(inns timeout 20 python3 -c "
import socket, time
for i in (1, 2):
    c = socket.socket()  # blocking: a time-out would make it non-blocking (EINPROGRESS)
    c.sendto(b'hello%d' % i, socket.MSG_FASTOPEN, ('$STACK_IP', 9000))
    print(c.recv(100).decode())
    c.close()
    time.sleep(0.2)
")
[ "$out" = "$(printf 're:hello1\nre:hello2')" ] || fail "kernel client got: $out"
wait "$server" || fail "the server on the stack failed: $(cat "$WORK/stack_server.log")"
[ "$(grep -c '^got hello[12] ' "$WORK/stack_server.log")" = 2 ] || fail "server read: $(cat "$WORK/stack_server.log")"
grep -q '^got hello1 syn_data=0$' "$WORK/stack_server.log" && grep -q '^got hello2 syn_data=1$' "$WORK/stack_server.log" \
  || fail "TCPI_OPT_SYN_DATA on the server: $(cat "$WORK/stack_server.log")"

sleep 0.5; kill "$capture" 2>/dev/null; wait "$capture" 2>/dev/null || true

# On the wire: a cookie request first, then SYNs with data: python's second, both of curl's.
to_http=$(syns_with_data "$STACK_IP" "$KERNEL_IP" 8080)
[ "$(echo "$to_http" | grep -c .)" = 3 ] || fail "SYNs with data to the kernel server: $(tcpdump -nn -r "$WORK/tfo.pcap" 'tcp[tcpflags] & tcp-syn != 0' 2>&1)"
echo "$to_http" | grep -q "tfo  cookie [0-9a-f]" || fail "no cookie with the data: $to_http"
tcpdump -nn -r "$WORK/tfo.pcap" "src host $STACK_IP and dst port 8080 and tcp[tcpflags] == tcp-syn" 2>/dev/null | head -1 | grep -q "cookiereq" \
  || fail "the first SYN did not ask for a cookie"
# (b): the kernel's second SYN carries hello2, and the stack's SYN-ACK acknowledges it.
to_stack=$(syns_with_data "$KERNEL_IP" "$STACK_IP" 9000)
[ "$(echo "$to_stack" | grep -c .)" = 1 ] || fail "SYNs with data to the stack's server: $to_stack"
seq=$(echo "$to_stack" | sed -n 's/.*seq \([0-9]*\):\([0-9]*\).*/\2/p')
tcpdump -nn -r "$WORK/tfo.pcap" "src host $STACK_IP and src port 9000 and tcp[tcpflags] & tcp-syn != 0" 2>/dev/null \
  | grep -q "ack $((seq + 1))," || fail "the SYN-ACK does not acknowledge the SYN's data (seq end $seq)"
# The handshakes, for the log.
tcpdump -nn -r "$WORK/tfo.pcap" 'tcp[tcpflags] & tcp-syn != 0' 2>/dev/null | cut -d' ' -f2-
echo "tfo: curl and sendto(MSG_FASTOPEN) on the stack sent data in the SYN ($(echo "$to_http" | grep -c .) SYNs), the kernel's SYN with data was acknowledged and read on the stack"
