#!/usr/bin/env bash
# Redis both ways: a preloaded redis-server on 10.77.0.2 answers the kernel's redis-cli and
# redis-benchmark (pipelined too), and a preloaded redis-cli stores and reads back a value on a
# kernel-side redis-server, which lists the stack's address among its clients.
source "$(dirname "$0")/lib.sh"
setup redis
command -v redis-server >/dev/null || fail "redis-server is not installed"
ip netns exec "$NS" "$BIN" run -- timeout 60 redis-server --bind "$STACK_IP" --port 6379 --save "" --appendonly no \
  --protected-mode no > "$WORK/redis.log" 2>&1 &
server=$!
wait_port "$STACK_IP" 6379
[ "$(inns timeout 10 redis-cli -h "$STACK_IP" ping)" = PONG ] || fail "no PONG from the preloaded server"
inns timeout 10 redis-cli -h "$STACK_IP" set greeting "hello over the tap" >/dev/null
[ "$(inns timeout 10 redis-cli -h "$STACK_IP" get greeting)" = "hello over the tap" ] || fail "GET"
bench() { inns timeout 60 redis-benchmark -h "$STACK_IP" -q -n 20000 -c 8 "$@" -t set,get 2>&1 | tr '\r' '\n'; }
bench > "$WORK/bench.log"
bench -P 16 > "$WORK/bench16.log"
for f in bench bench16; do
  n=$(grep -c "requests per second" "$WORK/$f.log" || true)
  [ "$n" -eq 2 ] || fail "redis-benchmark ($f): $(cat "$WORK/$f.log")"
done
get=$(awk '/^GET:.*requests per second/ {print $2}' "$WORK/bench.log")
get16=$(awk '/^GET:.*requests per second/ {print $2}' "$WORK/bench16.log")

inns timeout 60 redis-server --bind "$KERNEL_IP" --port 6380 --save '' --appendonly no \
  --protected-mode no > "$WORK/kredis.log" 2>&1 &
wait_port "$KERNEL_IP" 6380
# The preloaded server holds the TAP; stop it so the client's own stack can take it.
kill "$server" && wait "$server" || true
onstack -- timeout 10 redis-cli -h "$KERNEL_IP" -p 6380 set k "from the stack" >/dev/null
[ "$(onstack -- timeout 10 redis-cli -h "$KERNEL_IP" -p 6380 get k)" = "from the stack" ] || fail "preloaded GET"
onstack -- timeout 10 redis-cli -h "$KERNEL_IP" -p 6380 client list > "$WORK/clients"
grep -q "addr=$STACK_IP:" "$WORK/clients" || fail "the kernel's redis did not see $STACK_IP: $(cat "$WORK/clients")"
echo "redis: served the kernel's redis-benchmark at $get GET/s ($get16 pipelined); a preloaded client stored and read back"
