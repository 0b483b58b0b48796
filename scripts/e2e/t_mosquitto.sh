#!/usr/bin/env bash
# Mosquitto (MQTT) both ways: a broker on the stack for kernel-side mosquitto_sub and mosquitto_pub
# (QoS 0, 1 and 2, a retained message, a client's will published when it is killed and its
# connection closes, a refused connect to a port nobody listens on), then a kernel-side broker
# for mosquitto_sub and mosquitto_pub on the stack. Skipped without mosquitto. E2E_KERNEL=1 runs
# it on the kernel's sockets.
source "$(dirname "$0")/lib.sh"
command -v mosquitto >/dev/null && command -v mosquitto_sub >/dev/null || { echo "mosquitto: SKIP (no mosquitto)"; exit 0; }
setup mosquitto
kernel_side() { shift; inns "$@"; }

# broker SIDE IP: a broker on SIDE (onstack or kernel_side) listening on IP:1883.
broker() {
  printf 'listener 1883 %s\nallow_anonymous true\npersistence false\n' "$2" > "$WORK/m-$1.conf"
  $1 -- timeout 60 mosquitto -c "$WORK/m-$1.conf" > "$WORK/broker-$1.log" 2>&1 &
  broker_pid=$!
  for _ in $(seq 100); do
    grep -q "Opening ipv4 listen socket on port 1883" "$WORK/broker-$1.log" && return 0
    sleep 0.1
  done
  fail "the broker ($1) did not start: $(cat "$WORK/broker-$1.log")"
}

# exchange BROKER_IP CLIENT_SIDE: subscribers and publishers on CLIENT_SIDE, through the broker.
exchange() {
  local ip=$1 c=$2
  $c -- timeout 20 mosquitto_sub -h "$ip" -t 't/#' -C 4 -v > "$WORK/sub.out" 2>&1 &
  local sub=$!
  $c -- timeout 20 mosquitto_sub -h "$ip" -t 'will/#' -C 1 -v > "$WORK/will.out" 2>&1 &
  local will=$!
  sleep 1
  for q in 0 1 2; do
    $c -- timeout 10 mosquitto_pub -h "$ip" -t "t/q$q" -m "qos $q" -q "$q" || fail "publish at QoS $q"
  done
  $c -- timeout 10 mosquitto_pub -h "$ip" -t t/retained -m kept -r || fail "publish retained"
  wait $sub || fail "the subscriber: $(cat "$WORK/sub.out")"
  [ "$(sort "$WORK/sub.out")" = "$(printf 't/q0 qos 0\nt/q1 qos 1\nt/q2 qos 2\nt/retained kept')" ] \
    || fail "the subscriber got: $(cat "$WORK/sub.out")"
  [ "$($c -- timeout 10 mosquitto_sub -h "$ip" -t t/retained -C 1 -W 5)" = kept ] || fail "no retained message"
  # A client killed while subscribed: the broker sees its connection close and sends its will.
  $c -- timeout 20 mosquitto_sub -h "$ip" -t idle --will-topic will/gone --will-payload "went away" > /dev/null 2>&1 &
  local victim=$!
  sleep 1
  killtree "$victim" KILL
  { wait "$victim"; } 2>/dev/null || true
  wait $will || fail "no will: $(cat "$WORK/will.out")"
  [ "$(cat "$WORK/will.out")" = "will/gone went away" ] || fail "the will: $(cat "$WORK/will.out")"
  out=$($c -- timeout 10 mosquitto_sub -h "$ip" -p 1884 -t x -C 1 -W 3 2>&1) && fail "connected to a closed port"
  [ "$out" = "Error: Connection refused" ] || fail "a closed port: $out"
}

broker onstack "$STACK_IP"
exchange "$STACK_IP" kernel_side
killtree "$broker_pid"
wait "$broker_pid" || true
grep -q "New client connected from $KERNEL_IP" "$WORK/broker-onstack.log" || fail "the broker did not log $KERNEL_IP: $(cat "$WORK/broker-onstack.log")"
broker kernel_side "$KERNEL_IP"
exchange "$KERNEL_IP" onstack
grep -q "New client connected from $STACK_IP" "$WORK/broker-kernel_side.log" || fail "the kernel's broker did not log $STACK_IP"
echo "mosquitto: a broker on the stack and one on the kernel each passed QoS 0-2, retained, a killed client's will and a refused connect"
