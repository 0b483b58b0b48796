#!/usr/bin/env bash
# Ruby's sockets both ways (scripts/e2e/ruby_net.rb): clients on the stack to the kernel side
# (TCPSocket with options, read_nonblock and IO.select, close_write, a 1 MiB download, a refused
# connect, Socket#connect_nonblock's documented idiom, connect_timeout, UDP and its ICMP error,
# a TCPServer of its own over loopback, Net::HTTP), and a TCPServer on the stack serving four
# kernel-side clients at once from one IO.select loop. The connect_nonblock idiom connects again
# once the socket is writable: Linux returns 0 there, the stack said EISCONN. Skipped without
# ruby. E2E_KERNEL=1 runs it on the kernel's sockets.
source "$(dirname "$0")/lib.sh"
command -v ruby >/dev/null || { echo "ruby: SKIP (no ruby)"; exit 0; }
setup ruby
RB=$ROOT/scripts/e2e/ruby_net.rb
start_pm_peer $((1 << 20))
mkdir -p "$WORK/www" && echo "hello ruby" > "$WORK/www/index.html"
inns timeout 60 python3 -m http.server --bind "$KERNEL_IP" --directory "$WORK/www" 8080 > "$WORK/http.log" 2>&1 &
wait_port "$KERNEL_IP" 8080

out=$(onstack -- timeout 30 ruby "$RB" client "$KERNEL_IP" 2>&1) || fail "the ruby clients: $out"
expected="addr $STACK_IP $KERNEL_IP:9000
echo \"hello ruby\\n\"
nodelay 0
nodelay 1
keepalive false
keepalive true
type 1 error 0
read_nonblock IO::EAGAINWaitReadable
select with nothing nil
select 1
read_nonblock \"x\\n\"
exception: false :wait_readable
after close_write \"\" true
blob 1048576
refused Errno::ECONNREFUSED
connect_nonblock 1 Errno::ECONNREFUSED
  SO_ERROR then 0
connect_nonblock 9000 connected
  SO_ERROR then 0
connect_timeout Errno::ETIMEDOUT
udp local $STACK_IP
udp to a closed port Errno::ECONNREFUSED
udp bound 0.0.0.0 true
server 0.0.0.0:7701 true
bind again Errno::EADDRINUSE
accept_nonblock IO::EAGAINWaitReadable
loopback 127.0.0.1 127.0.0.1:7701
loopback read \"ab\"
http 200 hello ruby
http 200 hello ruby
http 200 hello ruby
addrinfo #<Addrinfo: $KERNEL_IP:80 TCP>"
[ "$out" = "$expected" ] || fail "the ruby clients: $(diff <(echo "$expected") <(echo "$out"))"
grep -q "^$STACK_IP .*GET /index.html" "$WORK/http.log" || fail "the kernel's server did not see $STACK_IP: $(cat "$WORK/http.log")"

onstack -- timeout 30 ruby "$RB" server 4 > "$WORK/server.log" 2>&1 &
server=$!
wait_line "$WORK/server.log" "listening 0.0.0.0:7700" $server 20 "the ruby server did not start"
clients=()
for i in 1 2 3 4; do
  inns timeout 10 bash -c "exec 3<>/dev/tcp/$STACK_IP/7700; echo client$i >&3; cat <&3" > "$WORK/c$i" &
  clients+=($!)
done
for p in "${clients[@]}"; do wait "$p" || fail "a kernel-side client failed"; done
for i in 1 2 3 4; do
  [ "$(cat "$WORK/c$i")" = "CLIENT$i from $KERNEL_IP" ] || fail "client $i: $(cat "$WORK/c$i")"
done
wait $server || fail "the ruby server: $(cat "$WORK/server.log")"
grep -qx "served 4" "$WORK/server.log" || fail "the ruby server: $(cat "$WORK/server.log")"
echo "ruby: TCPSocket, Socket#connect_nonblock, UDPSocket, TCPServer and Net::HTTP on the stack printed what they print on the kernel; an IO.select TCPServer served 4 kernel clients at once"
