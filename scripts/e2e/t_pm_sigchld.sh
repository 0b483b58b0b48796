#!/usr/bin/env bash
# Process model: starting the stack is invisible to the program, as the kernel's sockets are. The
# service is started by the program's first socket call, but no SIGCHLD reaches the program for it
# and its waitpid(-1) finds no child of the stack's: servers that count their children by their
# SIGCHLD (ncat -c asserts it never reaps more than it forked) are not thrown off. A real one:
# `ncat -l -k -c`, which forks a shell per connection, serves the kernel side.
source "$(dirname "$0")/lib.sh"
setup pmsigchld
out=$(onstack -- timeout 20 python3 -c "
import os, signal, socket, time
got = []
signal.signal(signal.SIGCHLD, lambda *a: got.append(1))
s = socket.socket()
s.bind(('0.0.0.0', 0)); s.listen()    # the first socket call starts the stack
time.sleep(0.5)
try:
    print('child', os.waitpid(-1, os.WNOHANG))
except ChildProcessError:
    print('no child')
print('SIGCHLD', len(got))
" 2>&1 || true)
[ "$out" = "no child
SIGCHLD 0" ] || fail "starting the stack showed the program a child: $out"

if command -v ncat >/dev/null || [ -n "${CI:-}" ]; then
  # After the service above has gone (idle exit), so that ncat starts one.
  sleep 2.5
  onstack -- timeout 60 ncat -l -k "$STACK_IP" 7000 -c 'echo hi' > "$WORK/ncat.log" 2>&1 &
  ncat_job=$!
  wait_port "$STACK_IP" 7000
  for i in $(seq 5); do
    got=$(inns timeout 5 python3 -c "
import socket
c = socket.create_connection(('$STACK_IP', 7000), timeout=5)
print(c.makefile().readline().strip())
" 2>&1) || true
    [ "$got" = "hi" ] || fail "ncat -c, connection $i: $got ($(cat "$WORK/ncat.log"))"
  done
  kill -0 "$ncat_job" 2>/dev/null || fail "ncat exited: $(cat "$WORK/ncat.log")"
  killtree "$ncat_job"
fi
echo "pm sigchld: starting the stack sends the program no SIGCHLD and leaves it no child; ncat -l -k -c serves 5 connections"
