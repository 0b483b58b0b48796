#!/usr/bin/env bash
# haproxy on the stack (epoll, non-blocking connect, SO_REUSEPORT shards, splice, a master and a
# worker) in front of a kernel-side nginx: kernel curls download through it in parallel and upload,
# exact; its health checks find the live server up and the closed port down. haproxy sets
# TCP_QUICKACK 0 before its health checks connect (on their own port here, 8089), so that the
# first data carries the handshake's ACK (Linux's tcp_rcv_synsent_state_process holds the ACK): no
# bare ACK may follow a check's SYN-ACK in the capture, the L4 check's connection ends SYN, SYN-ACK,
# RST, and the HTTP check's request goes with the ACK. Skipped without haproxy. E2E_KERNEL=1 runs it on kernel sockets.
source "$(dirname "$0")/lib.sh"
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
[ -x "$HAPROXY" ] || { echo "haproxy: SKIP (no haproxy)"; exit 0; }
command -v nginx >/dev/null || fail "nginx is not installed (apt-get install nginx-light)"
setup haproxy
nginx_conf "  access_log off;
  client_body_temp_path $WORK/tmp;
  client_max_body_size 64m;
  server { listen $KERNEL_IP:8088; listen $KERNEL_IP:8089; root $WORK/html;
    location /up/ { root $WORK; dav_methods PUT; } }"
mkdir -p "$WORK/tmp" "$WORK/up"
echo hello > "$WORK/html/index.html"
head -c $((4 << 20)) /dev/urandom > "$WORK/html/big.bin"
head -c $((8 << 20)) /dev/urandom > "$WORK/body.bin"
inns timeout 60 nginx -c "$WORK/nginx.conf" -p "$WORK" > "$WORK/nginx.out" 2>&1 &
wait_port "$KERNEL_IP" 8088

if [ -n "$E2E_KERNEL" ]; then dev=veth0; else dev=tap0; fi
inns timeout 60 tcpdump -i "$dev" -nn --immediate-mode -U -w "$WORK/hc.pcap" tcp port 8089 2>/dev/null &
capture=$!
for _ in $(seq 50); do [ -s "$WORK/hc.pcap" ] && break; sleep 0.1; done

cat > "$WORK/haproxy.cfg" <<CFG
global
  nbthread 2
  stats socket $WORK/stats.sock mode 600 level admin
defaults
  mode http
  timeout connect 2s
  timeout client 20s
  timeout server 20s
  option splice-auto
frontend fe
  bind $STACK_IP:8090 shards 2
  default_backend be
backend be
  option httpchk GET /index.html
  server live $KERNEL_IP:8088 check port 8089 inter 200
backend l4
  server l4 $KERNEL_IP:8088 check port 8089 inter 200
backend gone
  server gone $KERNEL_IP:8099 check inter 200
CFG
onstack -- "$HAPROXY" -W -db -f "$WORK/haproxy.cfg" > "$WORK/haproxy.out" 2>&1 &
wait_port "$STACK_IP" 8090

pids=()
for i in $(seq 6); do
  inns curl -sS --max-time 20 -o "$WORK/got.$i" "http://$STACK_IP:8090/big.bin" & pids+=($!)
done
inns curl -sS --max-time 20 -T "$WORK/body.bin" -o /dev/null "http://$STACK_IP:8090/up/body.bin" & pids+=($!)
for p in "${pids[@]}"; do wait "$p" || fail "a client through haproxy failed: $(cat "$WORK/haproxy.out")"; done
for i in $(seq 6); do cmp "$WORK/got.$i" "$WORK/html/big.bin" || fail "download $i differs"; done
cmp "$WORK/up/body.bin" "$WORK/body.bin" || fail "the upload differs"

# Every check has run a few times by now (200 ms apart).
sleep 1
state=""
for _ in $(seq 30); do
  state=$(echo "show servers state" | inns timeout 3 socat - "UNIX-CONNECT:$WORK/stats.sock" |
    awk 'NF > 6 && $1 != "#" {print $2 "/" $4 "=" $6}' | sort | tr '\n' ' ')
  [ "$state" = "be/live=2 gone/gone=0 l4/l4=2 " ] && break
  sleep 0.2
done
[ "$state" = "be/live=2 gone/gone=0 l4/l4=2 " ] || fail "server states: $state"
sleep 0.5
kill "$capture" 2>/dev/null || true
sleep 0.5

flows=$(tcpdump -nn -r "$WORK/hc.pcap" 2>/dev/null)
# tcpdump numbers each flow's sequence from 1: the handshake's ACK is "Flags [.], ack 1,".
bare=$(echo "$flows" | grep -c "$STACK_IP\.[0-9]* > $KERNEL_IP\.8089: Flags \[\.\], ack 1," || true)
[ "$bare" -eq 0 ] || fail "$bare bare ACKs of a SYN-ACK from haproxy: $(echo "$flows" | head -20)"
# The L4 checks: SYN, SYN-ACK, RST at once (SO_LINGER 0), nothing else on their flows.
synacks=$(echo "$flows" | grep -c "$KERNEL_IP\.8089 > $STACK_IP\.[0-9]*: Flags \[S\.\]" || true)
requests=$(echo "$flows" | grep -c "$STACK_IP\.[0-9]* > $KERNEL_IP\.8089: Flags \[P\.\], seq 1:[0-9]*, ack 1," || true)
resets=$(echo "$flows" | grep -c "$STACK_IP\.[0-9]* > $KERNEL_IP\.8089: Flags \[R\.\], seq 1, ack 1," || true)
[ "$resets" -ge 3 ] || fail "$resets L4 checks ended by RST right after the SYN-ACK: $(echo "$flows" | head -30)"
[ $((requests + resets)) -eq "$synacks" ] ||
  fail "$synacks handshakes, $requests first requests and $resets resets: $(echo "$flows" | head -30)"
echo "haproxy: 6 downloads of 4 MiB and an 8 MiB upload exact; checks: live up, closed port down; $synacks check connections, each first segment after the SYN-ACK data or RST"
