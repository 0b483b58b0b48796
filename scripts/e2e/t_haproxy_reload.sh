#!/usr/bin/env bash
# HAProxy in master-worker mode on the stack, in front of the kernel-side HTTP peer: the master
# binds 10.77.0.2:8081 and the wildcard :8082, forks a worker that drops to nobody and proxies
# (health checks and requests are its own new connections to 10.77.0.1:8080). A reload (SIGUSR2)
# re-executes the master, whose new worker takes the listeners over (from the master's kept
# descriptors, or from the old worker's stats socket with `expose-fd listeners`, SCM_RIGHTS),
# while the old worker finishes: requests sent all through the reload are all answered. Skipped
# without haproxy. E2E_KERNEL=1 runs it all on kernel sockets.
source "$(dirname "$0")/lib.sh"
command -v haproxy >/dev/null || { echo "haproxy: SKIP (no haproxy)"; exit 0; }
id nobody >/dev/null 2>&1 || { echo "haproxy: SKIP (no user nobody)"; exit 0; }
setup haproxyrl
start_http_peer
echo page > "$WORK/www/index.html"
head -c $((1 << 20)) /dev/urandom > "$WORK/www/big"
cat > "$WORK/haproxy.cfg" <<CONF
global
  maxconn 100
  stats socket $WORK/stats.sock mode 600 level admin expose-fd listeners
  pidfile $WORK/haproxy.pid
  user nobody
  group $(id -gn nobody)
defaults
  mode http
  timeout connect 2s
  timeout client 10s
  timeout server 10s
frontend fe
  bind $STACK_IP:8081
  bind :8082
  default_backend be
backend be
  option httpchk GET /index.html
  server s1 $KERNEL_IP:8080 check inter 10s
CONF
onstack -- timeout 60 haproxy -W -db -f "$WORK/haproxy.cfg" > "$WORK/haproxy.log" 2>&1 &
wait_port "$STACK_IP" 8081
get() { inns timeout 5 curl -s -o "${2:-/dev/stdout}" -w "${3:-}" "http://$1"; }
# On loopback, from the namespace where haproxy runs (its wildcard listener takes 127.0.0.1 too).
get_loopback() { onstack -- timeout 5 curl -s "http://127.0.0.1:8082/index.html"; }
for _ in $(seq 50); do [ "$(get $STACK_IP:8081/index.html)" = page ] && break; sleep 0.1; done
out="$(get $STACK_IP:8081/index.html) $(get $STACK_IP:8082/index.html) $(get_loopback)"
[ "$out" = "page page page" ] || fail "through haproxy: $out ($(cat "$WORK/haproxy.log"))"
get $STACK_IP:8082/big "$WORK/got"
cmp -s "$WORK/got" "$WORK/www/big" || fail "1 MiB through haproxy differs"
worker=$(sed -n 's/.*New worker (\([0-9]*\)) forked.*/\1/p' "$WORK/haproxy.log" | tail -n 1)
[ "$(ps -o user= -p "$worker")" = nobody ] || fail "the worker $worker is not nobody's"

# Requests through a reload, every 50 ms for 2 s.
(for _ in $(seq 40); do get $STACK_IP:8081/index.html /dev/null "%{http_code}\n"; sleep 0.05; done) > "$WORK/codes" &
loop=$!
sleep 0.5
kill -USR2 "$(cat "$WORK/haproxy.pid")"
wait "$loop"
codes=$(sort "$WORK/codes" | uniq -c | sed 's/^ *//')
[ "$codes" = "40 200" ] || fail "requests through the reload: $codes ($(cat "$WORK/haproxy.log"))"
for _ in $(seq 50); do grep -q "Former worker ($worker) exited with code 0" "$WORK/haproxy.log" && break; sleep 0.1; done
grep -q "Former worker ($worker) exited with code 0" "$WORK/haproxy.log" || fail "the old worker did not end: $(cat "$WORK/haproxy.log")"
new=$(sed -n 's/.*New worker (\([0-9]*\)) forked.*/\1/p' "$WORK/haproxy.log" | tail -n 1)
[ "$new" != "$worker" ] && [ "$(ps -o user= -p "$new")" = nobody ] || fail "no new worker of nobody's: $(cat "$WORK/haproxy.log")"
out="$(get $STACK_IP:8081/index.html) $(get $STACK_IP:8082/index.html) $(get_loopback)"
[ "$out" = "page page page" ] || fail "after the reload: $out ($(cat "$WORK/haproxy.log"))"
! grep -q -e ALERT -e "is DOWN" "$WORK/haproxy.log" || fail "haproxy complained: $(cat "$WORK/haproxy.log")"
echo "haproxy: master-worker haproxy (worker as nobody) proxies to the kernel, and a reload hands its listeners to a new worker with no request lost"
