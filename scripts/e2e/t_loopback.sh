#!/usr/bin/env bash
# Loopback to a stack listener, as Linux gives it: a preloaded server listening on 0.0.0.0 (on the
# stack, at 10.77.0.2) is also reached at 127.0.0.1 and at 0.0.0.0 (which Linux takes as a
# destination to mean the local host), by preloaded and plain programs alike; the server sees
# those peers as 127.0.0.1 and their sockets as the kernel's AF_INET ones; the kernel side still
# reaches it at 10.77.0.2. A listener bound to 10.77.0.2 alone is not reached at 127.0.0.1
# (refused, as on Linux). An AF_INET6 `[::]` server is reached at localhost, 127.0.0.1 and ::1,
# with IPv4-mapped peers. Bytes exact throughout. Then (loopback_more.py) forked workers accepting
# from one listener, accept4's flags and the listener's options on loopback sockets, the port
# given back at the last close, and a listener shut down no longer reached on loopback. With
# E2E_KERNEL=1 the same runs on the kernel.
source "$(dirname "$0")/lib.sh"
setup loopback
SERVER="$ROOT/scripts/e2e/loopback_server.py"
head -c $((1 << 20)) /dev/urandom > "$WORK/blob"
want=$(sha256sum < "$WORK/blob" | cut -d' ' -f1)
sha() { sha256sum < "$1" | cut -d' ' -f1; }
seen() { grep -qxF -- "$1" "$WORK/$2" || { cat "$WORK/$2"; fail "expected in $2: $1"; }; }

cat > "$WORK/local.sh" <<SCRIPT
set -u
# Preloaded servers: on 0.0.0.0 (AF_INET), on 10.77.0.2 alone, and on [::] (AF_INET6).
timeout 40 python3 "$SERVER" 4 0.0.0.0 8000 "$WORK/blob" "$WORK/any.log" > "$WORK/any.out" 2>&1 &
timeout 40 python3 "$SERVER" 4 $STACK_IP 8001 "$WORK/blob" "$WORK/own.log" > "$WORK/own.out" 2>&1 &
timeout 40 python3 "$SERVER" 6 :: 8002 "$WORK/blob" "$WORK/six.log" > "$WORK/six.out" 2>&1 &
for f in any own six; do
  for _ in \$(seq 100); do grep -q ready "$WORK/\$f.out" 2>/dev/null && break; sleep 0.1; done
done
get() { timeout 10 curl -sS --max-time 8 -o "$WORK/got.\$1" "\$2" || echo "client \$1 (\$2) failed"; }
get lo "http://127.0.0.1:8000/lo"
get any "http://0.0.0.0:8000/any"
get own "http://$STACK_IP:8000/own"
# A program that is not preloaded, beside the preloaded ones.
env -u LD_PRELOAD timeout 10 curl -sS --max-time 8 -o "$WORK/got.plain" "http://127.0.0.1:8000/plain" \
  || echo "client plain failed"
get bound "http://$STACK_IP:8001/bound"
# Not at 127.0.0.1: refused (curl's 7), preloaded or not.
timeout 10 curl -sS --max-time 8 -o /dev/null "http://127.0.0.1:8001/no" 2>/dev/null; echo "bound-lo \$?"
env -u LD_PRELOAD timeout 10 curl -sS --max-time 8 -o /dev/null "http://127.0.0.1:8001/no" 2>/dev/null
echo "bound-lo-plain \$?"
get six "http://localhost:8002/six"
get six4 "http://127.0.0.1:8002/six4"
get six6 "http://[::1]:8002/six6"
echo done
SCRIPT
# (Output goes through a file, not $(…): a stack service that lingers must not hold the test up.)
onstack -- timeout 60 bash "$WORK/local.sh" > "$WORK/local.out" 2>&1 || fail "script: $(cat "$WORK/local.out")"
out=$(cat "$WORK/local.out")
echo "$out"
[ "$(echo "$out" | tail -n 1)" = done ] || fail "script: $out"
echo "$out" | grep -q failed && fail "script: $out"
for c in lo any own plain bound six six4 six6; do
  [ "$(sha "$WORK/got.$c")" = "$want" ] || fail "client $c got different bytes"
done
echo "$out" | grep -qx "bound-lo 7" || fail "a listener on $STACK_IP was reached at 127.0.0.1 (preloaded)"
echo "$out" | grep -qx "bound-lo-plain 7" || fail "a listener on $STACK_IP was reached at 127.0.0.1 (plain)"
# The kernel side reaches the 0.0.0.0 server at the stack's address while it runs.
inns timeout 10 curl -sS --max-time 8 -o "$WORK/got.kernel" "http://$STACK_IP:8000/kernel" \
  || fail "the kernel side could not reach the server at $STACK_IP"
[ "$(sha "$WORK/got.kernel")" = "$want" ] || fail "the kernel side got different bytes"
cat "$WORK/any.log" "$WORK/own.log" "$WORK/six.log"
seen "PEER 127.0.0.1 SOCK 127.0.0.1 FAMILY AF_INET PATH /lo" any.log
seen "PEER 127.0.0.1 SOCK 127.0.0.1 FAMILY AF_INET PATH /any" any.log
seen "PEER $STACK_IP SOCK $STACK_IP FAMILY AF_INET PATH /own" any.log
seen "PEER 127.0.0.1 SOCK 127.0.0.1 FAMILY AF_INET PATH /plain" any.log
seen "PEER $KERNEL_IP SOCK $STACK_IP FAMILY AF_INET PATH /kernel" any.log
seen "PEER $STACK_IP SOCK $STACK_IP FAMILY AF_INET PATH /bound" own.log
# localhost: ::1 or 127.0.0.1, as curl's resolver orders them.
grep -qxE "PEER (::1 SOCK ::1|::ffff:127.0.0.1 SOCK ::ffff:127.0.0.1) FAMILY AF_INET6 PATH /six" "$WORK/six.log" \
  || fail "the [::] server did not see localhost"
seen "PEER ::ffff:127.0.0.1 SOCK ::ffff:127.0.0.1 FAMILY AF_INET6 PATH /six4" six.log
seen "PEER ::1 SOCK ::1 FAMILY AF_INET6 PATH /six6" six.log
# Forked workers accepting from one listener, several connections at once, accept4's flags and the
# listener's options on the loopback sockets, the port given back at the close, and a listener
# shut down (SHUT_RD) no longer reached on loopback.
onstack -- timeout 30 python3 "$ROOT/scripts/e2e/loopback_more.py" 8010 "$STACK_IP" > "$WORK/more.out" 2>&1 \
  || fail "more: $(cat "$WORK/more.out")"
cat "$WORK/more.out"
flags="cloexec=1 nonblock=0 nodelay=1 keepalive=1"
seen "3 x lo from 127.0.0.1 $flags" more.out
seen "2 x any from 127.0.0.1 $flags" more.out
seen "1 x mapped-any from 127.0.0.1 $flags" more.out
seen "2 x own from $STACK_IP $flags" more.out
seen "after close: 127.0.0.1 port free" more.out
seen "before shutdown: accepted from 127.0.0.1" more.out
seen "after shutdown: ECONNREFUSED" more.out
seen "done" more.out
echo "loopback: a 0.0.0.0 listener on the stack reached at 127.0.0.1 and 0.0.0.0 (preloaded and plain) and at $STACK_IP, a $STACK_IP one refused at 127.0.0.1, a [::] one at localhost, exact"
