#!/usr/bin/env bash
# An NTP server on the stack, as on Linux: chronyd (`-u _chrony`: it drops root by setuid, keeping
# CAP_NET_BIND_SERVICE; a wildcard IPv4 socket on port 123 with IP_PKTINFO, its IPv6 one
# IPV6_V6ONLY and so on the kernel; SO_SELECT_ERR_QUEUE then SO_TIMESTAMPING for its receive
# times, software stamps that come with each datagram) answers SNTP queries from the kernel side and from 127.0.0.1 in its namespace: each answer
# echoes the query's transmit time and its receive and transmit times fall within the query's
# round trip. Skipped without chrony. With E2E_KERNEL=1 chronyd runs on the kernel.
source "$(dirname "$0")/lib.sh"
CHRONYD=$(command -v chronyd || echo /usr/sbin/chronyd)
{ [ -x "$CHRONYD" ] && id _chrony >/dev/null 2>&1; } || { echo "ntp_server: SKIP (no chrony)"; exit 0; }
setup ntpsrv
chmod 755 "$WORK"
if [ -n "$E2E_KERNEL" ]; then lo_ns=$NS-s; else lo_ns=$NS; fi
# A server of its own clock (stratum 8), leaving the system clock alone (-x).
cat > "$WORK/chrony.conf" <<CONF
local stratum 8
allow all
port 123
cmdport 0
driftfile $WORK/chrony.drift
pidfile $WORK/chronyd.pid
CONF
onstack -- timeout 60 "$CHRONYD" -d -x -u _chrony -f "$WORK/chrony.conf" > "$WORK/chronyd.log" 2>&1 &
ntpd=$!
out=""
for _ in $(seq 50); do
  out=$(inns timeout 5 python3 "$ROOT/scripts/e2e/ntp_client.py" "$STACK_IP" 1 2>&1) || true
  [ "$out" = "1 answered, 0 lost, 0 wrong, 0 out of order" ] && break
  kill -0 "$ntpd" 2>/dev/null || break
  sleep 0.1
done
got=$(
  inns timeout 30 python3 "$ROOT/scripts/e2e/ntp_client.py" "$STACK_IP" 300 2>&1
  ip netns exec "$lo_ns" timeout 30 python3 "$ROOT/scripts/e2e/ntp_client.py" 127.0.0.1 100 2>&1
)
echo "$got"
[ "$got" = "300 answered, 0 lost, 0 wrong, 0 out of order
100 answered, 0 lost, 0 wrong, 0 out of order" ] || { cat "$WORK/chronyd.log"; fail "chronyd answered otherwise"; }
owner=$(ps -o user= -p "$(pgrep -P "$(pgrep -P "$ntpd" | head -n 1)" | head -n 1)" 2>/dev/null || true)
[ "$owner" = _chrony ] || fail "chronyd runs as $owner, not _chrony"
killtree "$ntpd"
wait "$ntpd" 2>/dev/null || true
echo "ntp server: chronyd -u _chrony answers SNTP from the kernel side and on loopback, its times in order"
