#!/usr/bin/env bash
# UDP on the wildcard reached at localhost, as Linux gives it: a preloaded UDP echo server on
# 0.0.0.0 (on the stack, at 10.77.0.2) answers a plain client and a preloaded one at 127.0.0.1 and
# at 0.0.0.0, a preloaded one at 10.77.0.2, and the kernel side at 10.77.0.2; each client sees the
# reply come from the address it sent to (127.0.0.1 for 0.0.0.0), and the server sees its peers'
# real addresses, with IP_PKTINFO's destination 127.0.0.1 and interface 1 (lo) for loopback ones.
# Sockets a bind put on the stack first talk to loopback: UDP ones bound to 0.0.0.0 (port 0 or a
# fixed one) send to 127.0.0.1, or connect there; an AF_INET6 one bound to [::] sends to ::1. An
# AF_INET6 [::] server is reached at ::1 and 127.0.0.1. A server that ends leaves 127.0.0.1 and
# its port free again. One connected to the kernel side takes nothing from loopback; one bound to
# 10.77.0.2 is told ENETUNREACH when it sends there (Linux sends from that address over lo). A
# TCP client bound to ('0.0.0.0', 0), or to a fixed port, then connecting to a kernel server on
# 127.0.0.1 gets its page, the server seeing that port. With E2E_KERNEL=1 the same runs on the kernel.
source "$(dirname "$0")/lib.sh"
setup udplo
PY="$ROOT/scripts/e2e/udp_loopback.py"
seen() { grep -qxF -- "$1" "$WORK/$2" || { cat "$WORK/$2"; fail "expected in $2: $1"; }; }

onstack -- timeout 50 python3 "$PY" server 4 0.0.0.0 9500 "$WORK/s4.log" 40 > "$WORK/s4.out" 2>&1 &
onstack -- timeout 50 python3 "$PY" server 6 :: 9501 "$WORK/s6.log" 40 > "$WORK/s6.out" 2>&1 &
for f in s4 s6; do
  for _ in $(seq 100); do grep -q ready "$WORK/$f.out" 2>/dev/null && break; sleep 0.1; done
  grep -q ready "$WORK/$f.out" || fail "server $f: $(cat "$WORK/$f.out")"
done
inns timeout 10 python3 "$PY" client 4 "$STACK_IP" 9500 kernel > "$WORK/c.kernel" 2>&1 \
  || fail "kernel side: $(cat "$WORK/c.kernel")"

cat > "$WORK/local.sh" <<SCRIPT
set -u
plain() { env -u LD_PRELOAD "\$@"; }
plain timeout 40 python3 "$PY" tcpserver 127.0.0.1 9580 "$WORK/tcp.log" 30 > "$WORK/tcps.out" 2>&1 &
for _ in \$(seq 100); do grep -q ready "$WORK/tcps.out" 2>/dev/null && break; sleep 0.1; done
c() { local n=\$1; shift; timeout 10 python3 "$PY" client "\$@" > "$WORK/c.\$n" 2>&1 || echo "client \$n failed"; }
pc() { local n=\$1; shift; plain timeout 10 python3 "$PY" client "\$@" > "$WORK/c.\$n" 2>&1 || echo "client \$n failed"; }
pc plain 4 127.0.0.1 9500 plain
c lo 4 127.0.0.1 9500 lo
c zero 4 0.0.0.0 9500 zero
c own 4 $STACK_IP 9500 own
c bound 4 127.0.0.1 9500 bound 0.0.0.0 0
c fixed 4 127.0.0.1 9500 fixed 0.0.0.0 9560
c conn 4 127.0.0.1 9500 conn 0.0.0.0 0 connect
c six1 6 ::1 9501 six1
pc six1plain 6 ::1 9501 six1plain
c six4 4 127.0.0.1 9501 six4
c sixbound 6 ::1 9501 sixbound :: 0
# Connected to a peer on the kernel side, a socket on the wildcard takes nothing from loopback.
timeout 10 python3 "$PY" quiet 9561 $KERNEL_IP > "$WORK/c.quiet" 2>&1 &
quiet=\$!
for _ in \$(seq 50); do grep -q ready "$WORK/c.quiet" 2>/dev/null && break; sleep 0.1; done
plain python3 -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"stray", ("127.0.0.1", 9561))'
wait \$quiet
# Bound to the stack's own address, a socket cannot reach loopback here (that address is not the
# kernel's): its send says ENETUNREACH, before and after it has sent elsewhere. Linux sends it
# over lo from that address (E2E_KERNEL=1).
timeout 10 python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 0))
for to in (("127.0.0.1", 9500), (sys.argv[2], 9599), ("127.0.0.1", 9500)):
    try:
        s.sendto(b"ownlo", to); print("SENT", to[0])
    except OSError as e:
        print("ERR", to[0], e.errno)
' $STACK_IP $KERNEL_IP > "$WORK/c.ownlo" 2>&1
t() { local n=\$1; shift; timeout 10 python3 "$PY" tcpclient "\$@" > "$WORK/c.\$n" 2>&1 || echo "client \$n failed"; }
t tcpany 0.0.0.0 0 127.0.0.1 9580
t tcpfixed 0.0.0.0 9570 127.0.0.1 9580
# A server that ends takes its twin with it: 127.0.0.1 and its port are free again on the kernel
# (a moment later: the service learns of the close as of any).
timeout 10 python3 "$PY" server 4 0.0.0.0 9502 "$WORK/s2.log" 1 > "$WORK/s2.out" 2>&1
free=no
for _ in \$(seq 30); do
  plain python3 -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).bind(("127.0.0.1", 9502))' \
    2>/dev/null && { free=yes; break; }
  sleep 0.1
done
echo "after close: \$free"
echo done
SCRIPT
onstack -- timeout 90 bash "$WORK/local.sh" > "$WORK/local.out" 2>&1 || fail "script: $(cat "$WORK/local.out")"
out=$(cat "$WORK/local.out")
echo "$out"
for c in "$WORK"/c.*; do echo "${c##*/}: $(cat "$c")"; done
[ "$(echo "$out" | tail -n 1)" = done ] || fail "script: $out"
echo "$out" | grep -q failed && fail "script: $out"
cat "$WORK/s4.log" "$WORK/s6.log" "$WORK/tcp.log"
seen "REPLY echo:kernel FROM $STACK_IP 9500" c.kernel
for c in plain lo zero bound fixed conn; do seen "REPLY echo:$c FROM 127.0.0.1 9500" "c.$c"; done
seen "REPLY echo:own FROM $STACK_IP 9500" c.own
seen "NAME 127.0.0.1 PEER 127.0.0.1 9500" c.conn
seen "REPLY echo:six1 FROM ::1 9501" c.six1
seen "REPLY echo:six1plain FROM ::1 9501" c.six1plain
seen "REPLY echo:six4 FROM 127.0.0.1 9501" c.six4
seen "REPLY echo:sixbound FROM ::1 9501" c.sixbound
for c in plain lo zero bound fixed conn; do seen "GOT $c FROM 127.0.0.1 DST 127.0.0.1 IF 1" s4.log; done
grep -qx "GOT own FROM $STACK_IP DST $STACK_IP IF [0-9]*" "$WORK/s4.log" || fail "own not seen"
grep -qx "GOT kernel FROM $KERNEL_IP DST $STACK_IP IF [0-9]*" "$WORK/s4.log" || fail "kernel not seen"
seen "GOT six1 FROM ::1 DST - IF -" s6.log
seen "GOT six1plain FROM ::1 DST - IF -" s6.log
seen "GOT sixbound FROM ::1 DST - IF -" s6.log
seen "GOT six4 FROM ::ffff:127.0.0.1 DST 127.0.0.1 IF 1" s6.log
grep -qx "PAGE page FROM [0-9]*" "$WORK/c.tcpany" || fail "tcpany: $(cat "$WORK/c.tcpany")"
seen "PAGE page FROM 9570" c.tcpfixed
seen "NOTHING" c.quiet
seen "SENT $KERNEL_IP" c.ownlo
if [ -n "$E2E_KERNEL" ]; then
  [ "$(grep -c "SENT 127.0.0.1" "$WORK/c.ownlo")" = 2 ] || fail "ownlo: $(cat "$WORK/c.ownlo")"
else
  [ "$(grep -c "ERR 127.0.0.1 101" "$WORK/c.ownlo")" = 2 ] || fail "ownlo: $(cat "$WORK/c.ownlo")"
fi
seen "PEER 127.0.0.1 9570" tcp.log
echo "$out" | grep -qx "after close: yes" || fail "a closed server's port stayed taken on loopback"
echo "udp loopback: a 0.0.0.0 UDP server on the stack answers 127.0.0.1, 0.0.0.0, $STACK_IP and the kernel side, with the senders' addresses and IP_PKTINFO as Linux's; sockets bound on the stack reach loopback (UDP sendto/connect, [::] to ::1, TCP connect)"
