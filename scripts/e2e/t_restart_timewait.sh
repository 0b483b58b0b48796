#!/usr/bin/env bash
# A new service meets the kernel's TIME-WAIT of the one before. nginx on the kernel side closes
# first (keepalive_timeout 0), so the kernel keeps each connection of a first ab run in TIME-WAIT
# for 60 s. The service then exits (idle), and a second ab starts a new one, which picks the same
# ephemeral ports in the same order (RFC 6056 §3.3.3). Linux lets a SYN into a TIME-WAIT 4-tuple
# only if its sequence number or its TSval is after the old connection's (tcp_timewait_state_process);
# otherwise it answers with an ACK, we reset, and the SYN is sent again a second later. With the
# secret shared by this user's services (src/service/secret.rs) and the clock counted from boot,
# the ISN (RFC 6528 §3) and TSval (RFC 7323 §5.4) go on from where the old service left them: no
# request of the second run may take 900 ms or more. The second run goes in two parts, so that a
# stack that does wait a second per connection fails within half a minute, with ab's own figures.
source "$(dirname "$0")/lib.sh"
setup restart_tw
command -v ab >/dev/null || fail "ab is not installed (apache2-utils)"
command -v nginx >/dev/null || fail "nginx is not installed (apt-get install nginx-light)"
nginx_conf "  access_log off;
  keepalive_timeout 0;
  server { listen $KERNEL_IP:8080; root $WORK/html; }" 256
printf 'small\n' > "$WORK/html/small"
inns timeout 200 nginx -c "$WORK/nginx.conf" -p "$WORK" > "$WORK/nginx.out" 2>&1 &
wait_port "$KERNEL_IP" 8080

service_pids() { ns_pgrep "^$BIN service|^tapstack service" || true; }

# ab -n N through the stack into LOG; fails unless all N complete; prints the slowest (ms).
run_ab() {
  local n=$1 log=$2
  TAPSTACK_IDLE_EXIT=1 onstack -- timeout 90 ab -n "$n" -c 8 "http://$KERNEL_IP:8080/small" \
    > "$log" 2>&1 || fail "ab -n $n failed: $(tail -5 "$log")"
  grep -q "^Complete requests: *$n$" "$log" || fail "ab -n $n: $(cat "$log")"
  grep -q "^Failed requests: *0$" "$log" || fail "ab -n $n: $(cat "$log")"
  awk '/100%/ {print $2}' "$log"
}

first=$(run_ab 3000 "$WORK/ab1.log")
# The service that served it exits once idle (TAPSTACK_IDLE_EXIT=1); stopped by its id if it lingers.
end=$((SECONDS + 20))
while [ -n "$(service_pids)" ] && [ "$SECONDS" -lt "$end" ]; do sleep 0.2; done
for pid in $(service_pids); do kill -TERM "$pid" 2>/dev/null || true; done
end=$((SECONDS + 10))
while [ -n "$(service_pids)" ] && [ "$SECONDS" -lt "$end" ]; do sleep 0.2; done
[ -z "$(service_pids)" ] || fail "the first service did not stop: $(service_pids)"

tw=$(inns ss -Htan state time-wait "( sport = :8080 )" | wc -l)
[ "$tw" -ge 2900 ] || fail "the kernel holds $tw connections in TIME-WAIT, not the 3000 of the first run"

slow1=$(run_ab 200 "$WORK/ab2.log")
line1=$(grep "100%" "$WORK/ab2.log")
[ "${slow1:-0}" -lt 900 ] || fail "after the restart, the slowest of the first 200 requests took $slow1 ms (SYNs into TIME-WAIT waited for a retry): $line1; $(grep -E '^Requests per second|^ +99%' "$WORK/ab2.log" | tr -s ' \n' ' ')"
slow2=$(run_ab 2800 "$WORK/ab3.log")
[ "${slow2:-0}" -lt 900 ] || fail "after the restart, the slowest of the next 2800 requests took $slow2 ms: $(grep "100%" "$WORK/ab3.log")"
rps=$(awk '/^Requests per second/ {print $4}' "$WORK/ab3.log")
echo "restart over TIME-WAIT: 3000 requests (slowest $first ms), a new service, $tw in TIME-WAIT, 3000 again (slowest $slow1 and $slow2 ms, $rps/s), none failed"
