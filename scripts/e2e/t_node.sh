#!/usr/bin/env bash
# Node.js's net, http and dgram both ways (scripts/e2e/node_net.js): a server on the stack for a
# kernel-side client, then a kernel-side server for a client on the stack. Half-open TCP
# (allowHalfOpen: the client's FIN first, the answer after it), a 2 MiB download with write()
# backpressure and a paused reader, five requests over one keep-alive agent connection, UDP echo,
# a refused connect, a connected UDP socket told of an ICMP port unreachable, an idle timeout.
# Skipped without node. E2E_KERNEL=1 runs it on the kernel's sockets.
source "$(dirname "$0")/lib.sh"
command -v node >/dev/null || { echo "node: SKIP (no node)"; exit 0; }
setup node
JS=$ROOT/scripts/e2e/node_net.js
kernel_side() { shift; inns "$@"; }

for srv in onstack kernel_side; do
  if [ "$srv" = onstack ]; then cli=kernel_side ip=$STACK_IP peer=$KERNEL_IP; else cli=onstack ip=$KERNEL_IP peer=$STACK_IP; fi
  $srv -- timeout 40 node "$JS" server "$ip" > "$WORK/server.log" 2>&1 &
  pid=$!
  wait_line "$WORK/server.log" "listening $ip:7400 7403" $pid 20 "the node server ($srv) did not start"
  $cli -- timeout 60 node "$JS" client "$ip" > "$WORK/client.log" 2>&1 || { cat "$WORK/client.log"; fail "the node client ($cli)"; }
  wait $pid || { cat "$WORK/server.log"; fail "the node server ($srv) did not finish"; }
  expected="half: sent FIN first, read \"after your FIN: 4 bytes \"ping\"\", writable false
big: 2097152 bytes intact
http: 5 responses over 1 connection(s), last \"request 5 GET /r4\"
udp: echo one, echo two, echo three from $ip:7403
refused: ECONNREFUSED connect
udp refused: ECONNREFUSED recvmsg
timeout: idle after connect, local set"
  [ "$(cat "$WORK/client.log")" = "$expected" ] || fail "the client ($cli): $(diff <(echo "$expected") "$WORK/client.log")"
  expected="listening $ip:7400 7403
half: peer $peer got \"ping\" then FIN
big: sent 2097152 bytes, waited for drain: true
http: 5 requests over 1 connection(s)
udp: 3 datagrams from $peer
idle: the client closed after 0 bytes"
  [ "$(cat "$WORK/server.log")" = "$expected" ] || fail "the server ($srv): $(diff <(echo "$expected") "$WORK/server.log")"
done
echo "node: net (half-open, backpressure, refused, idle timeout), http keep-alive and dgram (echo, ICMP refused) matched the kernel's, the stack serving and the stack calling"
