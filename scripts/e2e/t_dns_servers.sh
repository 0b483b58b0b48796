#!/usr/bin/env bash
# Real DNS servers on the stack, as on Linux, each answering the same checks (`dns_check`):
# - named (BIND 9) as `named -g -u bind`, `listen-on { any; }`: it narrows its capabilities with
#   libcap (CAP_NET_ADMIN goes) before its setuid, so the service starts in that capset; it lists
#   the interfaces with getifaddrs and binds each address (10.77.0.2 and 127.0.0.1) on port 53,
#   UDP and TCP;
# - unbound with `interface-automatic: yes` (one wildcard socket, IP_PKTINFO, replies naming the
#   destination as their source) and with `interface: 0.0.0.0` (a wildcard socket, plain replies),
#   dropping root to its user by setuid.
# The checks: dig from the kernel side (10.77.0.1 -> 10.77.0.2) over UDP and TCP, and from
# 127.0.0.1 in the server's namespace; a TXT answer too large for UDP (dig sees TC and asks again
# over TCP, 60 records); the same by hand without EDNS and with EDNS sizes 512, 1232 and 4096 (TC
# each time: named's max-udp-size and unbound's are 1232 by default); 2000 queries, 20 outstanding,
# none lost; and the server exits at SIGTERM. Then each forwards to a dnsmasq on the kernel side
# (10.77.0.1) as a resolver does, from ports of its own (named's connected UDP sockets, unbound's
# random ports): 500 new names, each asked upstream, none lost. Each server is skipped when it is
# not installed.
# With E2E_KERNEL=1 the same servers run on the kernel: the expected lines are Linux's.
source "$(dirname "$0")/lib.sh"
setup dnssrv
chmod 755 "$WORK"
if [ -n "$E2E_KERNEL" ]; then lo_ns=$NS-s; else lo_ns=$NS; fi

# The records: www is 10.77.0.9; big is 60 TXT records, some 4.4 KB of answer.
records() {
  echo "www 300 IN A 10.77.0.9"
  for i in $(seq 60); do
    echo "big 300 IN TXT \"record-$i-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\""
  done
}

# dns_check NAME PID: the checks above against the server NAME running as background job PID.
dns_check() {
  local name=$1 pid=$2 out=""
  for _ in $(seq 100); do
    out=$(inns dig +short +time=1 +tries=1 @"$STACK_IP" www.example.test 2>&1) && [ "$out" = 10.77.0.9 ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  [ "$out" = 10.77.0.9 ] || { cat "$WORK/$name.log"; fail "$name: dig @$STACK_IP said: $out"; }
  local got
  got=$(
    inns dig +short +time=2 +tries=1 +tcp @"$STACK_IP" www.example.test 2>&1
    ip netns exec "$lo_ns" dig +short +time=2 +tries=1 @127.0.0.1 www.example.test 2>&1
    ip netns exec "$lo_ns" dig +short +time=2 +tries=1 +tcp @127.0.0.1 www.example.test 2>&1
    inns dig +time=2 +tries=1 @"$STACK_IP" big.example.test TXT 2>&1 | grep -E 'Truncated|^;; flags' \
      | sed 's/;; flags: [a-z ]*;/;; flags:/'
    inns timeout 60 python3 "$ROOT/scripts/e2e/dns_client.py" "$STACK_IP" 2000 2>&1
    ip netns exec "$lo_ns" timeout 60 python3 "$ROOT/scripts/e2e/dns_client.py" 127.0.0.1 500 2>&1 | tail -n 1
  )
  echo "$name:"
  echo "$got" | sed 's/^/  /'
  [ "$got" = "10.77.0.9
10.77.0.9
10.77.0.9
;; Truncated, retrying in TCP mode.
;; flags: QUERY: 1, ANSWER: 60, AUTHORITY: 0, ADDITIONAL: 1
big TXT, EDNS none: truncated
big TXT, EDNS 512: truncated with 0 answers
big TXT, EDNS 1232: truncated with 0 answers
big TXT, EDNS 4096: truncated with 0 answers
2000 answered, 0 lost, 0 wrong
500 answered, 0 lost, 0 wrong" ] || { cat "$WORK/$name.log"; fail "$name answered otherwise"; }
  # SIGTERM to the server itself (not to its `timeout`): it shuts its sockets down and exits.
  local server
  server=$(pgrep -P "$(pgrep -P "$pid" | head -n 1)" || true)
  [ -n "$server" ] || server=$(pgrep -P "$pid" | head -n 1)
  kill -TERM "$server"
  for _ in $(seq 50); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$server" 2>/dev/null; then
    killtree "$pid" KILL
    fail "$name did not exit within 5 s of SIGTERM"
  fi
  wait "$pid" || true
}

# forward_check NAME PID: 500 queries for new names to the forwarding server NAME (job PID), each
# answered by the upstream dnsmasq; then SIGTERM ends it.
forward_check() {
  local name=$1 pid=$2 out=""
  for _ in $(seq 100); do
    out=$(inns dig +short +time=1 +tries=1 @"$STACK_IP" first.example.test 2>&1) && [ "$out" = 10.77.0.9 ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  [ "$out" = 10.77.0.9 ] || { cat "$WORK/$name.log"; fail "$name forwarding: dig said: $out"; }
  out=$(inns timeout 60 python3 "$ROOT/scripts/e2e/dns_client.py" "$STACK_IP" 500 'h{}.example.test' 2>&1)
  echo "$name forwarding: $out"
  [ "$out" = "500 answered, 0 lost, 0 wrong" ] || { cat "$WORK/$name.log"; fail "$name forwarding"; }
  killtree "$pid"
  wait "$pid" 2>/dev/null || true
}
# The upstream, on the kernel side: every name under example.test is 10.77.0.9.
inns timeout 120 dnsmasq --no-daemon --listen-address="$KERNEL_IP" --bind-interfaces --port 53 \
  --no-resolv --no-hosts --address=/example.test/10.77.0.9 --pid-file="$WORK/upstream.pid" \
  --user=root > "$WORK/upstream.log" 2>&1 &

ran=()
NAMED=$(command -v named || echo /usr/sbin/named)
if [ -x "$NAMED" ] && id bind >/dev/null 2>&1; then
  mkdir -p "$WORK/named"
  { echo '$TTL 300'
    echo '@ IN SOA ns.example.test. admin.example.test. 1 3600 600 86400 300'
    echo '@ IN NS ns.example.test.'
    echo "ns IN A $STACK_IP"
    records
  } > "$WORK/named/example.test.zone"
  cat > "$WORK/named.conf" <<CONF
options {
  directory "$WORK/named";
  listen-on port 53 { any; };
  listen-on-v6 { none; };
  recursion no;
  pid-file none;
  dnssec-validation no;
};
zone "example.test" { type primary; file "$WORK/named/example.test.zone"; };
CONF
  chown -R bind "$WORK/named"
  onstack -- timeout 60 "$NAMED" -g -u bind -c "$WORK/named.conf" > "$WORK/named.log" 2>&1 &
  dns_check named $!
  grep -q "listening on IPv4 interface .*, $STACK_IP#53" "$WORK/named.log" || fail "named: $(cat "$WORK/named.log")"
  mkdir -p "$WORK/namedf" && chown bind "$WORK/namedf"
  cat > "$WORK/namedf.conf" <<CONF
options {
  directory "$WORK/namedf";
  listen-on port 53 { any; };
  listen-on-v6 { none; };
  allow-recursion { any; };
  forwarders { $KERNEL_IP; };
  forward only;
  pid-file none;
  dnssec-validation no;
};
CONF
  onstack -- timeout 60 "$NAMED" -g -u bind -c "$WORK/namedf.conf" > "$WORK/named.log" 2>&1 &
  forward_check named $!
  ran+=(named)
else
  echo "named: SKIP (not installed)"
fi

UNBOUND=$(command -v unbound || echo /usr/sbin/unbound)
if [ -x "$UNBOUND" ] && id unbound >/dev/null 2>&1; then
  for mode in "interface-automatic: yes" "interface: 0.0.0.0"; do
    {
      echo "server:"
      echo "  $mode"
      printf '  %s\n' 'chroot: ""' 'username: "unbound"' "directory: \"$WORK\"" 'pidfile: ""' \
        'use-syslog: no' 'logfile: ""' 'do-ip6: no' 'port: 53' 'access-control: 0.0.0.0/0 allow' \
        'module-config: "iterator"' 'local-zone: "example.test." static'
      records | sed "s/^\([a-z]*\) \(.*\)\$/  local-data: '\1.example.test. \2'/"
      echo "remote-control:"
      echo "  control-enable: no"
    } > "$WORK/unbound.conf"
    onstack -- timeout 60 "$UNBOUND" -d -c "$WORK/unbound.conf" > "$WORK/unbound.log" 2>&1 &
    dns_check "unbound ($mode)" $!
  done
  # Forwarding ("test." is one of unbound's locally served zones, RFC 6761, unless told not).
  printf '%s\n' server: '  interface: 0.0.0.0' '  chroot: ""' '  username: "unbound"' \
    "  directory: \"$WORK\"" '  pidfile: ""' '  use-syslog: no' '  logfile: ""' '  do-ip6: no' \
    '  port: 53' '  access-control: 0.0.0.0/0 allow' '  module-config: "iterator"' \
    '  local-zone: "test." nodefault' '  qname-minimisation: no' forward-zone: '  name: "."' \
    "  forward-addr: $KERNEL_IP" remote-control: '  control-enable: no' > "$WORK/unbound.conf"
  onstack -- timeout 60 "$UNBOUND" -d -c "$WORK/unbound.conf" > "$WORK/unbound.log" 2>&1 &
  forward_check unbound $!
  ran+=(unbound)
else
  echo "unbound: SKIP (not installed)"
fi
echo "dns servers: ${ran[*]:-none} answer dig over UDP and TCP, from the kernel side and loopback, TC and EDNS as Linux, 2000 queries without loss, and forward 500 new names to the kernel side"
