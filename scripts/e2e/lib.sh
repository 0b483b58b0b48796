# Shared pieces of the end-to-end tests: a fresh namespace per test, cleanup on any exit, checks.
# Each test script sources this, calls `setup NAME`, and uses $NS, $WORK, $BIN.
#
# TAPSTACK_BIN=PATH runs the tests against another build of tapstack (libtapstack.so beside it).
# E2E_KERNEL=1 runs a test with no stack at all, to prove the scenario itself can pass: the "stack"
# side becomes a second namespace ($NS-s) holding 10.77.0.2 on a veth whose peer in $NS is 10.77.0.1,
# and `onstack -- PROGRAM` runs PROGRAM there on the kernel's own sockets. Only tests that use
# `onstack -- …` (no `tapstack run` flags, no $BIN) make sense in that mode.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${TAPSTACK_BIN:-$ROOT/target/release/tapstack}
E2E_KERNEL=${E2E_KERNEL:-}
KERNEL_IP=10.77.0.1
STACK_IP=10.77.0.2

setup() {
  NS="e2e-$1-$$"
  WORK=$(mktemp -d)
  trap cleanup EXIT
  if [ -n "$E2E_KERNEL" ]; then
    bash "$ROOT/scripts/netns.sh" reference "$NS"
  else
    bash "$ROOT/scripts/netns.sh" create "$NS"
  fi
}

cleanup() {
  local rc=$?
  # Everything started in the namespace goes with it.
  bash "$ROOT/scripts/netns.sh" delete "$NS" || true
  if [ -n "$E2E_KERNEL" ]; then bash "$ROOT/scripts/netns.sh" delete "$NS-s" || true; fi
  rm -rf "$WORK"
  exit $rc
}

# Runs a command in the namespace.
inns() { ip netns exec "$NS" "$@"; }

# The processes in the namespace whose command line matches PATTERN (pgrep -f), and only those:
# the process table is shared, so a plain pgrep would also find another test's service.
ns_pgrep() { inns sh -c 'exec pgrep --nslist net --ns $$ -f "$1"' _ "$1"; }
# The same for pkill: ends only this namespace's processes matching PATTERN.
ns_pkill() { inns sh -c 'exec pkill --nslist net --ns $$ -f "$1"' _ "$1"; }

# Runs a command in the namespace with its sockets on the stack.
# With E2E_KERNEL=1: on the kernel's sockets in the second namespace (flags before `--` dropped).
onstack() {
  if [ -n "$E2E_KERNEL" ]; then
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do shift; done
    shift
    ip netns exec "$NS-s" "$@"
  else
    ip netns exec "$NS" "$BIN" run "$@"
  fi
}

fail() { echo "FAIL: $*" >&2; exit 1; }

# Waits (up to SECONDS, in tenths) until the file FILE has the line LINE, while the background job
# PID runs; fails with MESSAGE (after printing FILE) if it never comes.
wait_line() {
  local file=$1 want=$2 pid=$3 seconds=$4 message=$5
  for _ in $(seq $((seconds * 10))); do
    grep -qx "$want" "$file" && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  grep -qx "$want" "$file" || { cat "$file"; fail "$message"; }
}

# Waits (up to 10 s) until a TCP port listens in the namespace: on the kernel (ss shows it) or,
# for the stack's address, until a connection succeeds.
wait_port() {
  local ip=$1 port=$2 end=$((SECONDS + 10))
  while [ "$SECONDS" -lt "$end" ]; do
    if [ "$ip" = "$STACK_IP" ]; then
      inns timeout 1 bash -c "exec 3<>/dev/tcp/$ip/$port" 2>/dev/null && return 0
    else
      inns ss -Hltn "src $ip:$port" | grep -q . && return 0
    fi
    sleep 0.1
  done
  fail "nothing listens on $ip:$port"
}

# Starts the kernel-side HTTP peer (scripts/e2e/http_peer.py) serving $WORK/www on 10.77.0.1:8080.
start_http_peer() {
  mkdir -p "$WORK/www"
  inns timeout 120 python3 "$ROOT/scripts/e2e/http_peer.py" "$KERNEL_IP" 8080 "$WORK/www" "$WORK/peer.log" &
  wait_port "$KERNEL_IP" 8080
}

# Proves traffic crossed the TAP: the peer's log names our address as the client.
peer_saw_stack() {
  grep -q "CLIENT $STACK_IP $1" "$WORK/peer.log" || fail "the kernel-side peer did not see $STACK_IP do $1: $(cat "$WORK/peer.log")"
}

# Starts the process-model tests' kernel-side peer (scripts/e2e/pm_peer.py) on 10.77.0.1: echo on
# 9000, the blob $WORK/blob ([SIZE] random bytes, 4 MiB by default) on 9002 and 9003, control on
# 9009; it logs to $WORK/peer.log.
start_pm_peer() {
  head -c "${1:-$((4 << 20))}" /dev/urandom > "$WORK/blob"
  inns timeout 120 python3 "$ROOT/scripts/e2e/pm_peer.py" "$KERNEL_IP" "$WORK/peer.log" "$WORK/blob" &
  for port in 9000 9002 9003 9009; do wait_port "$KERNEL_IP" "$port"; done
}

# Ends a background job and everything it started (by process id, children first found from the
# top): `onstack … &` leaves a subshell whose child is the program, so killing $! alone is not enough.
killtree() {
  local sig=${2:-TERM} kids
  kids=$(pgrep -P "$1" || true)
  kill -STOP "$1" 2>/dev/null || true
  for k in $kids; do killtree "$k" "$sig"; done
  kill -"$sig" "$1" 2>/dev/null || true
  kill -CONT "$1" 2>/dev/null || true
}

# nginx_conf HTTP [CONNECTIONS] [MAIN]: $WORK/nginx.conf for an nginx in the foreground whose files
# (logs, pid) are all under $WORK, with HTTP as its http block's body, CONNECTIONS per worker (128),
# and MAIN as its main-context lines (one worker, no master process).
nginx_conf() {
  mkdir -p "$WORK/html" "$WORK/logs"
  cat > "$WORK/nginx.conf" <<CONF
daemon off;
${3:-master_process off;
worker_processes 1;}
error_log $WORK/logs/error.log warn;
pid $WORK/nginx.pid;
events { worker_connections ${2:-128}; }
http {
$1
}
CONF
}

# Builds scripts/e2e/NAME.c into $WORK/NAME (warnings are errors), or fails the test.
build_c() {
  cc -Wall -Werror -O1 -I"$ROOT/c-tests" -o "$WORK/$1" "$ROOT/scripts/e2e/$1.c" || fail "$1.c does not build"
}
