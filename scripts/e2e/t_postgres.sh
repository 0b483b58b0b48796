#!/usr/bin/env bash
# PostgreSQL 15 both ways, run as the postgres user. A preloaded postmaster on the stack (listening
# on * and on a UNIX socket; it forks a backend per connection, which wait on latches with epoll and
# signals, set SO_KEEPALIVE and TCP_NODELAY, read their peer and own names) serves the kernel's psql
# and pgbench (-i, then 4 clients on 2 threads for 5 s); then a preloaded psql and pgbench use a
# postgres on the kernel side. Skipped without postgresql. E2E_KERNEL=1 runs it on kernel sockets.
source "$(dirname "$0")/lib.sh"
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
{ [ -n "$PGBIN" ] && [ -x "$PGBIN/postgres" ] && [ -x "$PGBIN/pgbench" ] && [ -x "$PGBIN/psql" ]; } ||
  { echo "postgres: SKIP (no postgresql)"; exit 0; }
id postgres >/dev/null 2>&1 || { echo "postgres: SKIP (no user postgres)"; exit 0; }
setup postgres
pids=()
stop_pg() {
  # Every postmaster this test started: fast shutdown, then a hard one.
  for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  for _ in $(seq 50); do
    alive=""
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ -z "$alive" ] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -QUIT "$p" 2>/dev/null || true; done
}
trap 'rc=$?; stop_pg; (exit $rc); cleanup' EXIT
chmod 755 "$WORK"
asuser() { runuser -u postgres -- "$@"; }
# initdb DIR: a cluster in DIR owned by postgres, trusting the test network.
initdb() {
  mkdir -p "$1" && chown postgres: "$1"
  asuser "$PGBIN/initdb" -D "$1" -U postgres --auth=trust -E UTF8 --locale=C >"$1.initdb.log" 2>&1 ||
    fail "initdb: $(cat "$1.initdb.log")"
  echo "host all all 10.77.0.0/24 trust" >> "$1/pg_hba.conf"
  mkdir -p "$1.sock" && chown postgres: "$1.sock"
}
# pg ONSTACK_OR_INNS DIR LISTEN PORT: starts a postmaster in the foreground on LISTEN:PORT.
PGOPTS=(-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=16MB
  -c max_connections=20 -c logging_collector=off -c tcp_keepalives_idle=60 -c tcp_keepalives_interval=7 -c tcp_keepalives_count=3 -c tcp_user_timeout=9000)
initdb "$WORK/s"
onstack -- timeout 120 runuser -u postgres -- "$PGBIN/postgres" -D "$WORK/s" -p 5432 -c listen_addresses='*' \
  -k "$WORK/s.sock" "${PGOPTS[@]}" > "$WORK/s.log" 2>&1 &
pids+=($!)
wait_port "$STACK_IP" 5432
PSQL=("$PGBIN/psql" -X -A -t -v ON_ERROR_STOP=1 -U postgres)
out=$(inns timeout 20 "${PSQL[@]}" -h "$STACK_IP" -p 5432 -d postgres -c "select inet_server_addr(), inet_server_port(), inet_client_addr()" 2>&1) ||
  fail "psql to the stack: $out ($(tail -n 5 "$WORK/s.log"))"
[ "$out" = "$STACK_IP|5432|$KERNEL_IP" ] || fail "psql to the stack: $out"
echo "$out"
# Over the UNIX socket and over loopback (the wildcard listener is reached at 127.0.0.1 too), from a
# client in the server's namespace.
out=$(onstack -- timeout 20 runuser -u postgres -- "${PSQL[@]}" -h "$WORK/s.sock" -p 5432 -d postgres \
  -c "select coalesce(inet_client_addr()::text, 'unix')" 2>&1) || fail "psql over the UNIX socket: $out"
[ "$out" = unix ] || fail "psql over the UNIX socket: $out"
out=$(onstack -- timeout 20 "${PSQL[@]}" -h 127.0.0.1 -p 5432 -d postgres -c "select inet_client_addr()" 2>&1) ||
  fail "psql over loopback: $out"
[ "$out" = 127.0.0.1 ] || fail "psql over loopback: $out"
# The backends' sockets: keepalive as configured, TCP_NODELAY on.
out=$(inns timeout 20 "${PSQL[@]}" -h "$STACK_IP" -p 5432 -d postgres \
  -c "select current_setting('tcp_keepalives_idle'), current_setting('tcp_keepalives_interval'),
        current_setting('tcp_keepalives_count'), current_setting('tcp_user_timeout')" \
  -c "select count(*) from pg_stat_activity where client_addr = '$KERNEL_IP'" 2>&1)
[ "$out" = "60|7|3|9000
1" ] || fail "keepalive / pg_stat_activity: $out"
PGBENCH=("$PGBIN/pgbench" -U postgres)
inns timeout 60 "${PGBENCH[@]}" -h "$STACK_IP" -p 5432 -i -s 2 postgres > "$WORK/init.log" 2>&1 ||
  fail "pgbench -i: $(cat "$WORK/init.log")"
inns timeout 60 "${PGBENCH[@]}" -h "$STACK_IP" -p 5432 -c 4 -j 2 -T 5 postgres > "$WORK/bench.log" 2>&1 ||
  fail "pgbench: $(cat "$WORK/bench.log")"
grep -q "number of failed transactions: 0 " "$WORK/bench.log" || fail "pgbench: $(cat "$WORK/bench.log")"
tps=$(awk '/^tps = / {print $3; exit}' "$WORK/bench.log")
n=$(inns timeout 20 "${PSQL[@]}" -h "$STACK_IP" -p 5432 -d postgres -c "select count(*) from pgbench_history")
[ "$n" -gt 0 ] || fail "no transactions recorded"

# A new connection (a new backend) for every transaction.
inns timeout 60 "${PGBENCH[@]}" -h "$STACK_IP" -p 5432 -C -c 4 -j 2 -t 50 postgres > "$WORK/benchC.log" 2>&1 ||
  fail "pgbench -C: $(cat "$WORK/benchC.log")"
grep -q "number of transactions actually processed: 200/200" "$WORK/benchC.log" || fail "pgbench -C: $(cat "$WORK/benchC.log")"
# A cancel request (psql's answer to SIGINT: a new connection to the postmaster, which signals the
# backend) ends a long query.
inns timeout 20 "${PSQL[@]}" -h "$STACK_IP" -p 5432 -d postgres -c "select pg_sleep(15)" > "$WORK/cancel.log" 2>&1 &
cpid=$!
for _ in $(seq 50); do
  [ "$(inns timeout 5 "${PSQL[@]}" -h "$STACK_IP" -p 5432 -d postgres -c "select count(*) from pg_stat_activity where query like 'select pg_sleep%' and state = 'active'")" = 1 ] && break
  sleep 0.1
done
start=$SECONDS
kill -INT $(ns_pgrep "^$PGBIN/psql .*pg_sleep") 2>/dev/null || true
wait "$cpid" || true
grep -q "canceling statement due to user request" "$WORK/cancel.log" || fail "cancel: $(cat "$WORK/cancel.log")"
[ $((SECONDS - start)) -lt 5 ] || fail "the cancel took $((SECONDS - start)) s"

# The other way: psql and pgbench on the stack, postgres on the kernel side.
initdb "$WORK/k"
inns timeout 120 runuser -u postgres -- "$PGBIN/postgres" -D "$WORK/k" -p 5433 -c listen_addresses="$KERNEL_IP" \
  -k "$WORK/k.sock" "${PGOPTS[@]}" > "$WORK/k.log" 2>&1 &
pids+=($!)
wait_port "$KERNEL_IP" 5433
out=$(onstack -- timeout 20 "${PSQL[@]}" -h "$KERNEL_IP" -p 5433 -d postgres \
  -c "select inet_server_addr(), inet_server_port(), inet_client_addr()" 2>&1) ||
  fail "psql from the stack: $out ($(tail -n 5 "$WORK/k.log"))"
[ "$out" = "$KERNEL_IP|5433|$STACK_IP" ] || fail "psql from the stack: $out"
onstack -- timeout 60 "${PGBENCH[@]}" -h "$KERNEL_IP" -p 5433 -i -s 2 postgres > "$WORK/kinit.log" 2>&1 ||
  fail "pgbench -i from the stack: $(cat "$WORK/kinit.log")"
onstack -- timeout 60 "${PGBENCH[@]}" -h "$KERNEL_IP" -p 5433 -c 4 -j 2 -T 5 postgres > "$WORK/kbench.log" 2>&1 ||
  fail "pgbench from the stack: $(cat "$WORK/kbench.log")"
grep -q "number of failed transactions: 0 " "$WORK/kbench.log" || fail "pgbench from the stack: $(cat "$WORK/kbench.log")"
ktps=$(awk '/^tps = / {print $3; exit}' "$WORK/kbench.log")
onstack -- timeout 60 "${PGBENCH[@]}" -h "$KERNEL_IP" -p 5433 -C -c 4 -j 2 -t 50 postgres > "$WORK/kbenchC.log" 2>&1 ||
  fail "pgbench -C from the stack: $(cat "$WORK/kbenchC.log")"
grep -q "number of transactions actually processed: 200/200" "$WORK/kbenchC.log" ||
  fail "pgbench -C from the stack: $(cat "$WORK/kbenchC.log")"
# Neither server logged a socket call that failed (postgres says "could not ..." for each).
! grep -h -i "could not\|unexpected\|FATAL\|PANIC" "$WORK/s.log" "$WORK/k.log" || fail "postgres logged the above"
echo "postgres: a postmaster on the stack served psql (TCP, UNIX socket, loopback), pgbench -i, -c 4 -j 2 -T 5 ($tps tps) and -C, a cancel; psql and pgbench on the stack used a kernel-side postgres ($ktps tps)"
