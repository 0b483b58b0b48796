#!/usr/bin/env bash
# PHP's sockets both ways (scripts/e2e/php_net.php): stream clients (blocking, non-blocking under
# stream_select, async connects, half-close, a refused and a timed-out connect, UDP, HTTP) and the
# sockets extension's (socket_connect non-blocking and again, options, names, UDP's ICMP error) on
# the stack against the kernel side; then a stream server and a sockets-extension server on the
# stack for kernel-side clients. PHP dlopens its extensions with RTLD_DEEPBIND, which took the
# sockets extension past the preload onto the kernel's sockets (socket_getsockname said the
# peer's address, 10.77.0.1; a socket_create_listen server was out of the kernel clients' reach).
# Skipped without php. E2E_KERNEL=1 runs it on the kernel's sockets.
source "$(dirname "$0")/lib.sh"
command -v php >/dev/null || { echo "php: SKIP (no php)"; exit 0; }
setup php
PHP=$ROOT/scripts/e2e/php_net.php
start_pm_peer $((1 << 20))
mkdir -p "$WORK/www" && echo "hello php" > "$WORK/www/index.html"
inns timeout 60 python3 -m http.server --bind "$KERNEL_IP" --directory "$WORK/www" 8080 > "$WORK/http.log" 2>&1 &
wait_port "$KERNEL_IP" 8080

out=$(onstack -- timeout 30 php "$PHP" client "$KERNEL_IP" 2>&1) || fail "the php clients: $out"
expected="local $STACK_IP remote $KERNEL_IP:9000
echo hello php
nonblock read ''
select none 0
select 1
read y
after shutdown '' true
blob 1048576
refused 111 Connection refused
timeout 110 Connection timed out
async select 1
async echo async
async refused select 1 false
socket_connect nb false 115
socket_select 1
so_error 0
socket_connect again true 115
sock echo sock
rcvbuf>0 1 nodelay 0
nodelay 1
sockname $STACK_IP
after shutdown read ''
socket refused false Connection refused
udp write 1
udp read false
socket udp recv false Connection refused
server 0.0.0.0:7800
server again 0 Address already in use
accepted from 127.0.0.1
loopback read hi
http hello php 200
accept nb false 0"
[ "$out" = "$expected" ] || fail "the php clients: $(diff <(echo "$expected") <(echo "$out"))"
grep -q "^$STACK_IP .*GET /index.html" "$WORK/http.log" || fail "the kernel's server did not see $STACK_IP: $(cat "$WORK/http.log")"

onstack -- timeout 30 php "$PHP" server > "$WORK/server.log" 2>&1 &
server=$!
wait_line "$WORK/server.log" "listening 0.0.0.0:7800" $server 20 "the php server did not start"
for port in 7800 7800 7810 7810; do
  inns timeout 10 bash -c "exec 3<>/dev/tcp/$STACK_IP/$port; echo client$port >&3; cat <&3" >> "$WORK/clients" \
    || fail "a kernel-side client of $port: $(cat "$WORK/server.log")"
done
expected="CLIENT7800 from $KERNEL_IP
CLIENT7800 from $KERNEL_IP
CLIENT7810 from $KERNEL_IP to $STACK_IP
CLIENT7810 from $KERNEL_IP to $STACK_IP"
[ "$(cat "$WORK/clients")" = "$expected" ] || fail "the kernel-side clients: $(diff <(echo "$expected") "$WORK/clients")"
wait $server || fail "the php server: $(cat "$WORK/server.log")"
grep -qx "served 4" "$WORK/server.log" || fail "the php server: $(cat "$WORK/server.log")"
echo "php: streams and the sockets extension (loaded with RTLD_DEEPBIND) on the stack printed what they print on the kernel, as clients and as servers"
