#!/usr/bin/env bash
# `tapstack run` refuses a program the preload cannot reach, rather than let it use the kernel's
# sockets unseen: a statically linked one (no dynamic loader, so LD_PRELOAD is never read), one
# whose `#!` interpreter is, and a Go program (found by its `.note.go.buildid` section; here a
# dynamically linked C program given one with objcopy). Each exits 126 with one line saying why,
# and never runs. The same program linked dynamically runs, its connection on the stack; and
# `--allow-unreachable` runs the static one, whose connection the peer sees come from the kernel.
# Without a static libc (`cc -static` fails) the static cases are reported skipped. Not a kernel
# scenario: under E2E_KERNEL=1 it only says so.
source "$(dirname "$0")/lib.sh"
[ -n "$E2E_KERNEL" ] && { echo "run static (kernel): nothing to compare, the refusal is tapstack run's"; exit 0; }
setup runstatic
src=$ROOT/scripts/e2e/run_reach.c
cc -Wall -Werror -O1 -o "$WORK/dynamic" "$src" || fail "run_reach.c does not build"
static=yes
cc -Wall -Werror -O1 -static -o "$WORK/static" "$src" 2> "$WORK/cc.err" || static=""
start_http_peer
echo "reach" > "$WORK/www/page"

# runs LABEL EXPECTED_STATUS MESSAGE_PATTERN [RUN ARGS...] -- PROGRAM: runs PROGRAM under `tapstack
# run` with the marker $WORK/ran.LABEL, and checks the exit status, the message on stderr (none
# when the pattern is empty) and whether it ran (it runs unless refused).
runs() {
  local label=$1 want=$2 pattern=$3 rc=0
  shift 3
  inns "$BIN" run "$@" "$KERNEL_IP" "$WORK/ran.$label" > "$WORK/$label.out" 2> "$WORK/$label.err" || rc=$?
  [ "$rc" = "$want" ] || fail "$label: exit status $rc, not $want: $(cat "$WORK/$label.err")"
  if [ -n "$pattern" ]; then
    grep -q -- "$pattern" "$WORK/$label.err" || fail "$label: stderr says: $(cat "$WORK/$label.err")"
    [ "$(wc -l < "$WORK/$label.err")" = 1 ] || fail "$label: more than one line: $(cat "$WORK/$label.err")"
  fi
  if [ "$want" = 126 ]; then
    [ ! -e "$WORK/ran.$label" ] || fail "$label: refused, yet it ran"
  else
    [ -e "$WORK/ran.$label" ] || fail "$label: it did not run"
    grep -q "^HTTP/1.[01] 200" "$WORK/$label.out" || fail "$label: got: $(cat "$WORK/$label.out" "$WORK/$label.err")"
  fi
}

runs dynamic 0 "" -- "$WORK/dynamic"
peer_saw_stack "GET /page"

printf 'Go\0\0' > "$WORK/note"
objcopy --add-section .note.go.buildid="$WORK/note" "$WORK/dynamic" "$WORK/fakego" || fail "objcopy failed"
runs go 126 "fakego is a Go program: .* itself, not through libc" -- "$WORK/fakego"
# By name, found in PATH as execvp would.
PATH=$WORK:$PATH runs goname 126 "^tapstack run: fakego is a Go program" -- fakego

if [ -n "$static" ]; then
  runs static 126 "static is statically linked: the preload cannot reach its sockets" -- "$WORK/static"
  PATH=$WORK:$PATH runs staticname 126 "^tapstack run: static is statically linked" -- static
  printf '#!%s\n' "$WORK/static" > "$WORK/script" && chmod +x "$WORK/script"
  runs script 126 "script (its interpreter $WORK/static) is statically linked" -- "$WORK/script"
  # Let through, it runs on the kernel's sockets: the peer sees the kernel's own address.
  : > "$WORK/peer.log"
  runs allowed 0 "" --allow-unreachable -- "$WORK/static"
  grep -q "CLIENT $KERNEL_IP GET /page" "$WORK/peer.log" || fail "the static program's request: $(cat "$WORK/peer.log")"
  echo "run static: static, static by PATH, a script run by it and a fake Go program refused (126, one line, not run); the dynamic build ran on the stack; --allow-unreachable ran the static one on the kernel's sockets"
else
  echo "run static: cc -static is unavailable ($(head -n 1 "$WORK/cc.err")): the static cases were NOT checked; a fake Go program refused (126, one line, not run); the dynamic build ran on the stack"
fi
