#!/usr/bin/env bash
# PostgreSQL both ways, run as the postgres user. A preloaded postmaster on the stack (listening on *
# and on a UNIX socket, TLS on; it forks a backend per connection, which wait on latches with epoll
# and signals, set SO_KEEPALIVE, TCP_NODELAY and the keepalive times, read their peer's and own
# names) serves the kernel's psql (TCP with and without TLS; also the UNIX socket and 127.0.0.1 from
# its own namespace), pgbench (-i, 4 clients on 2 threads for 5 s, a new connection per transaction),
# a cancel request, LISTEN/NOTIFY, pg_basebackup and a streaming standby on the kernel side; one of
# its backends reaches a kernel-side postgres through postgres_fdw and dblink, another runs curl
# (COPY FROM PROGRAM); it survives a backend killed with SIGKILL (the postmaster ends every backend
# and starts afresh, its listeners kept) and its fast shutdown ends an idle client's session with
# postgres's own message. Then psql, pgbench
# and pg_basebackup run on the stack against the kernel-side postgres, and a standby on the stack
# streams from it; the postgres user's own `tapstack run -- pg_ctl start` serves on the stack.
# Skipped without postgresql. E2E_KERNEL=1 runs it on kernel sockets.
source "$(dirname "$0")/lib.sh"
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
{ [ -n "$PGBIN" ] && [ -x "$PGBIN/postgres" ] && [ -x "$PGBIN/pgbench" ] && [ -x "$PGBIN/psql" ]; } ||
  { echo "postgres: SKIP (no postgresql)"; exit 0; }
id postgres >/dev/null 2>&1 || { echo "postgres: SKIP (no user postgres)"; exit 0; }
command -v openssl >/dev/null || fail "openssl is not installed"
setup postgres
clusters=()
# The postmaster of the cluster in DIR (the first line of its pid file), if it runs.
pm_pid() { head -n 1 "$1/postmaster.pid" 2>/dev/null || true; }
stop_pg() {
  # Every postmaster this test started: fast shutdown, then an immediate one.
  local d p
  for d in "${clusters[@]}"; do p=$(pm_pid "$d"); [ -n "$p" ] && kill -INT "$p" 2>/dev/null || true; done
  for _ in $(seq 50); do
    p=""
    for d in "${clusters[@]}"; do [ -e "$d/postmaster.pid" ] && p=1; done
    [ -z "$p" ] && break
    sleep 0.1
  done
  for d in "${clusters[@]}"; do p=$(pm_pid "$d"); [ -n "$p" ] && kill -QUIT "$p" 2>/dev/null || true; done
}
trap 'rc=$?; set +e; stop_pg; (exit $rc); cleanup' EXIT
chmod 755 "$WORK"
# The postgres user loads the library and runs the program itself: a copy it may read, since the
# build may lie under a directory of root's alone (CI's clone in a mktemp one: the dynamic loader
# then ignores LD_PRELOAD, and postgres would run on the kernel's sockets).
if [ -z "$E2E_KERNEL" ]; then
  mkdir "$WORK/bin"
  cp "$BIN" "$(dirname "$BIN")/libtapstack.so" "$WORK/bin/"
  chmod -R a+rX "$WORK/bin"
  BIN=$WORK/bin/tapstack
fi
# Its programs start in a directory it may enter (psql warns of one it may not).
cd "$WORK"
asuser() { runuser -u postgres -- "$@"; }
# initdb DIR: a cluster in DIR owned by postgres, trusting the test network, with a UNIX socket
# directory DIR.sock.
initdb() {
  mkdir -p "$1" && chown postgres: "$1"
  asuser "$PGBIN/initdb" -D "$1" -U postgres --auth=trust -E UTF8 --locale=C >"$1.initdb.log" 2>&1 ||
    fail "initdb: $(cat "$1.initdb.log")"
  printf 'host all all 10.77.0.0/24 trust\nhost replication all 10.77.0.0/24 trust\n' >> "$1/pg_hba.conf"
  mkdir -p "$1.sock" && chown postgres: "$1.sock"
  clusters+=("$1")
}
# basebackup inns|onstack DIR HOST PORT: a standby in DIR, copied from HOST:PORT by a pg_basebackup
# on the kernel or on the stack.
basebackup() {
  local how=(inns)
  [ "$1" = onstack ] && how=(onstack --)
  mkdir -m 700 "$2" && chown postgres: "$2" && mkdir -p "$2.sock" && chown postgres: "$2.sock"
  clusters+=("$2")
  "${how[@]}" timeout 60 runuser -u postgres -- "$PGBIN/pg_basebackup" -h "$3" -p "$4" -U postgres -D "$2" -R \
    -X stream -c fast > "$2.log" 2>&1 || fail "pg_basebackup from $3: $(cat "$2.log")"
}
PGOPTS=(-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=16MB
  -c max_connections=30 -c logging_collector=off -c tcp_keepalives_idle=60 -c tcp_keepalives_interval=7
  -c tcp_keepalives_count=3 -c tcp_user_timeout=9000 -c wal_retrieve_retry_interval=500ms)
# postmaster PREFIX DIR PORT LISTEN [OPTIONS...]: starts the cluster in DIR in the background (PREFIX
# `onstack --` or `inns`), its log in DIR.out.
postmaster() {
  local how=$1 dir=$2 port=$3 listen=$4
  shift 4
  if [ "$how" = onstack ]; then
    onstack -- timeout 200 runuser -u postgres -- "$PGBIN/postgres" -D "$dir" -p "$port" -c listen_addresses="$listen" \
      -k "$dir.sock" "${PGOPTS[@]}" "$@" > "$dir.out" 2>&1 &
  else
    inns timeout 200 runuser -u postgres -- "$PGBIN/postgres" -D "$dir" -p "$port" -c listen_addresses="$listen" \
      -k "$dir.sock" "${PGOPTS[@]}" "$@" > "$dir.out" 2>&1 &
  fi
}
PSQL=("$PGBIN/psql" -X -A -t -v ON_ERROR_STOP=1 -U postgres)
PGBENCH=("$PGBIN/pgbench" -U postgres)
# psql from the kernel side: its output and errors (a check follows).
kq() { inns timeout 20 "${PSQL[@]}" "$@" 2>&1 || true; }
# until_is WANT COMMAND...: runs COMMAND every 0.1 s (up to 10 s) until it prints WANT; prints the last.
until_is() {
  local want=$1 got=""
  shift
  for _ in $(seq 100); do
    got=$("$@" 2>&1) || true
    [ "$got" = "$want" ] && break
    sleep 0.1
  done
  echo "$got"
}

# The kernel-side postgres first: the stack's backends reach it through postgres_fdw and dblink.
initdb "$WORK/k"
postmaster inns "$WORK/k" 5433 "$KERNEL_IP"
wait_port "$KERNEL_IP" 5433

initdb "$WORK/s"
openssl req -new -x509 -days 2 -nodes -subj /CN=tapstack-test -keyout "$WORK/s/server.key" \
  -out "$WORK/s/server.crt" 2>/dev/null
chown postgres: "$WORK/s/server.key" "$WORK/s/server.crt" && chmod 600 "$WORK/s/server.key"
postmaster onstack "$WORK/s" 5432 '*' -c ssl=on
wait_port "$STACK_IP" 5432
out=$(kq -h "$STACK_IP" -p 5432 -c "select inet_server_addr(), inet_server_port(), inet_client_addr()")
[ "$out" = "$STACK_IP|5432|$KERNEL_IP" ] || fail "psql to the stack: $out ($(tail -n 5 "$WORK/s.out"))"
out=$(kq -d "host=$STACK_IP port=5432 sslmode=require" \
  -c "select ssl, version from pg_stat_ssl where pid = pg_backend_pid()" 2>&1)
[ "$out" = "t|TLSv1.3" ] || fail "psql with TLS: $out"
# Over the UNIX socket and over loopback (the wildcard listener is reached at 127.0.0.1 too), from a
# client in the server's namespace.
out=$(onstack -- timeout 20 runuser -u postgres -- "${PSQL[@]}" -h "$WORK/s.sock" -p 5432 \
  -c "select coalesce(inet_client_addr()::text, 'unix')" 2>&1) || fail "psql over the UNIX socket: $out"
[ "$out" = unix ] || fail "psql over the UNIX socket: $out"
out=$(onstack -- timeout 20 "${PSQL[@]}" -h 127.0.0.1 -p 5432 -c "select inet_client_addr()" 2>&1) ||
  fail "psql over loopback: $out"
[ "$out" = 127.0.0.1 ] || fail "psql over loopback: $out"
out=$(kq -h "$STACK_IP" -p 5432 \
  -c "select current_setting('tcp_keepalives_idle'), current_setting('tcp_keepalives_interval'),
        current_setting('tcp_keepalives_count'), current_setting('tcp_user_timeout')" \
  -c "select count(*) from pg_stat_activity where client_addr = '$KERNEL_IP'" 2>&1)
[ "$out" = "60|7|3|9000
1" ] || fail "keepalive / pg_stat_activity: $out"

inns timeout 60 "${PGBENCH[@]}" -h "$STACK_IP" -p 5432 -i -s 2 postgres > "$WORK/init.log" 2>&1 ||
  fail "pgbench -i: $(cat "$WORK/init.log")"
inns timeout 60 "${PGBENCH[@]}" -h "$STACK_IP" -p 5432 -c 4 -j 2 -T 5 postgres > "$WORK/bench.log" 2>&1 ||
  fail "pgbench: $(cat "$WORK/bench.log")"
grep -q "number of failed transactions: 0 " "$WORK/bench.log" || fail "pgbench: $(cat "$WORK/bench.log")"
tps=$(awk '/^tps = / {print $3; exit}' "$WORK/bench.log")
n=$(kq -h "$STACK_IP" -p 5432 -c "select count(*) from pgbench_history")
[ "$n" -gt 0 ] || fail "no transactions recorded"
# A new connection (a new backend) for every transaction.
inns timeout 60 "${PGBENCH[@]}" -h "$STACK_IP" -p 5432 -C -c 4 -j 2 -t 50 postgres > "$WORK/benchC.log" 2>&1 ||
  fail "pgbench -C: $(cat "$WORK/benchC.log")"
grep -q "number of transactions actually processed: 200/200" "$WORK/benchC.log" || fail "pgbench -C: $(cat "$WORK/benchC.log")"

# A cancel request (psql's answer to SIGINT: a new connection to the postmaster, which signals the
# backend) ends a long query.
active() {
  inns timeout 5 "${PSQL[@]}" -h "$STACK_IP" -p 5432 \
    -c "select count(*) from pg_stat_activity where query like '$1%' and state = 'active'"
}
inns timeout 20 "${PSQL[@]}" -h "$STACK_IP" -p 5432 -c "select pg_sleep(15)" > "$WORK/cancel.log" 2>&1 &
cpid=$!
[ "$(until_is 1 active "select pg_sleep")" = 1 ] || fail "the long query did not start"
start=$SECONDS
kill -INT $(ns_pgrep "^$PGBIN/psql .*pg_sleep") 2>/dev/null || true
wait "$cpid" || true
grep -q "canceling statement due to user request" "$WORK/cancel.log" || fail "cancel: $(cat "$WORK/cancel.log")"
[ $((SECONDS - start)) -lt 5 ] || fail "the cancel took $((SECONDS - start)) s"

# LISTEN/NOTIFY: the notification reaches a listener waiting in another backend.
inns timeout 20 "${PSQL[@]}" -h "$STACK_IP" -p 5432 -c "listen ch" -c "select pg_sleep(2)" > "$WORK/listen.log" 2>&1 &
lpid=$!
[ "$(until_is 1 active "select pg_sleep(2)")" = 1 ] || fail "the listener did not start"
inns timeout 10 "${PSQL[@]}" -h "$STACK_IP" -p 5432 -c "notify ch, 'over the tap'" >/dev/null
wait "$lpid" || fail "listener: $(cat "$WORK/listen.log")"
grep -q 'Asynchronous notification "ch" with payload "over the tap" received' "$WORK/listen.log" ||
  fail "no notification: $(cat "$WORK/listen.log")"

# A backend on the stack connects out to the kernel-side postgres.
inns timeout 20 "${PSQL[@]}" -h "$KERNEL_IP" -p 5433 -c "create table kt as select generate_series(1, 1000) x" >/dev/null
out=$(kq -h "$STACK_IP" -p 5432 -c "create extension postgres_fdw" \
  -c "create server k foreign data wrapper postgres_fdw options (host '$KERNEL_IP', port '5433', dbname 'postgres')" \
  -c "create user mapping for postgres server k options (user 'postgres')" \
  -c "create foreign table ft (x int) server k options (table_name 'kt')" -c "select count(*), sum(x) from ft" \
  -c "create extension dblink" \
  -c "select * from dblink('host=$KERNEL_IP port=5433 user=postgres dbname=postgres', 'select inet_client_addr()::text') t(a text)" 2>&1)
[ "$out" = "CREATE EXTENSION
CREATE SERVER
CREATE USER MAPPING
CREATE FOREIGN TABLE
1000|500500
CREATE EXTENSION
$STACK_IP/32" ] || fail "postgres_fdw and dblink from the stack: $out"

# A program a backend runs (COPY FROM PROGRAM: curl, preloaded as its parent) fetches over the stack.
start_http_peer
seq 1 1000 > "$WORK/www/data.csv"
out=$(kq -h "$STACK_IP" -p 5432 -c "create table fetched(x int)" \
  -c "copy fetched from program 'curl -sS --max-time 10 http://$KERNEL_IP:8080/data.csv'" -c "select sum(x) from fetched")
[ "$out" = "CREATE TABLE
COPY 1000
500500" ] || fail "COPY FROM PROGRAM curl: $out"
peer_saw_stack "GET /data.csv"

# pg_basebackup from the kernel side, and a standby there streaming from the stack's postmaster.
basebackup inns "$WORK/ks" "$STACK_IP" 5432
postmaster inns "$WORK/ks" 5434 "$KERNEL_IP"
wait_port "$KERNEL_IP" 5434
inns timeout 20 "${PSQL[@]}" -h "$STACK_IP" -p 5432 -c "create table r as select generate_series(1, 5000) x" >/dev/null
out=$(until_is 5000 kq -h "$KERNEL_IP" -p 5434 -c "select count(*) from r")
[ "$out" = 5000 ] || fail "the kernel-side standby: $out ($(tail -n 5 "$WORK/ks.out"))"
out=$(kq -h "$STACK_IP" -p 5432 -c "select client_addr, state from pg_stat_replication")
[ "$out" = "$KERNEL_IP|streaming" ] || fail "pg_stat_replication on the stack: $out"

# A backend killed: the postmaster ends the others (the walsender too) and starts afresh.
inns timeout 30 "${PGBENCH[@]}" -h "$STACK_IP" -p 5432 -c 4 -j 2 -T 4 postgres > "$WORK/crash.log" 2>&1 &
bpid=$!
victim=$(until_is 4 kq -h "$STACK_IP" -p 5432 \
  -c "select count(*) from pg_stat_activity where application_name = 'pgbench'")
[ "$victim" = 4 ] || fail "pgbench did not start: $victim"
victim=$(kq -h "$STACK_IP" -p 5432 \
  -c "select pid from pg_stat_activity where application_name = 'pgbench' limit 1")
kill -KILL "$victim"
wait "$bpid" && fail "pgbench went on after its backend was killed"
out=$(until_is back kq -h "$STACK_IP" -p 5432 -c "select 'back'")
[ "$out" = back ] || fail "after the crash: $out ($(tail -n 5 "$WORK/s.out"))"
grep -q "all server processes terminated; reinitializing" "$WORK/s.out" || fail "no crash restart: $(tail "$WORK/s.out")"
inns timeout 20 "${PSQL[@]}" -h "$STACK_IP" -p 5432 -c "insert into r values (5001)" >/dev/null
out=$(until_is 5001 kq -h "$KERNEL_IP" -p 5434 -c "select count(*) from r")
[ "$out" = 5001 ] || fail "the standby after the crash: $out ($(tail -n 5 "$WORK/ks.out"))"

# A fast shutdown ends an idle client's session with a message.
inns timeout 20 "${PSQL[@]}" -h "$STACK_IP" -p 5432 -c "select pg_sleep(15)" > "$WORK/shutdown.log" 2>&1 &
cpid=$!
[ "$(until_is 1 active "select pg_sleep")" = 1 ] || fail "the long query did not start"
start=$SECONDS
kill -INT "$(pm_pid "$WORK/s")"
wait "$cpid" && fail "psql ended well after the shutdown"
grep -q "terminating connection due to administrator command" "$WORK/shutdown.log" ||
  fail "shutdown: $(cat "$WORK/shutdown.log")"
[ $((SECONDS - start)) -lt 5 ] || fail "the shutdown took $((SECONDS - start)) s to reach the client"
for _ in $(seq 100); do [ -e "$WORK/s/postmaster.pid" ] || break; sleep 0.1; done
[ -e "$WORK/s/postmaster.pid" ] && fail "the stack's postmaster did not stop"

# The other way: psql, pgbench and pg_basebackup on the stack, postgres on the kernel side.
out=$(onstack -- timeout 20 "${PSQL[@]}" -h "$KERNEL_IP" -p 5433 \
  -c "select inet_server_addr(), inet_server_port(), inet_client_addr()" 2>&1) ||
  fail "psql from the stack: $out ($(tail -n 5 "$WORK/k.out"))"
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
basebackup onstack "$WORK/sk" "$KERNEL_IP" 5433
postmaster onstack "$WORK/sk" 5435 '*'
wait_port "$STACK_IP" 5435
inns timeout 20 "${PSQL[@]}" -h "$KERNEL_IP" -p 5433 -c "create table r2 as select generate_series(1, 3000) x" >/dev/null
out=$(until_is 3000 kq -h "$STACK_IP" -p 5435 -c "select count(*) from r2")
[ "$out" = 3000 ] || fail "the standby on the stack: $out ($(tail -n 5 "$WORK/sk.out"))"
out=$(kq -h "$KERNEL_IP" -p 5433 -c "select client_addr, state from pg_stat_replication")
[ "$out" = "$STACK_IP|streaming" ] || fail "pg_stat_replication on the kernel side: $out"

# As a user starts a server: the postgres user's own `tapstack run -- pg_ctl start` (it may not
# open the TAP, but the service of root's that the standby's postmaster started still runs, and
# serves every user) brings the stack's first cluster back, daemonized by pg_ctl.
if [ -z "$E2E_KERNEL" ]; then
  ctl=(inns runuser -u postgres -- "$BIN" run --)
else
  ctl=(ip netns exec "$NS-s" runuser -u postgres --)
fi
"${ctl[@]}" "$PGBIN/pg_ctl" -D "$WORK/s" -l "$WORK/s.sock/ctl.log" -w -t 30 \
  -o "-p 5436 -c listen_addresses=* -k $WORK/s.sock" start > /dev/null || fail "pg_ctl start: $(cat "$WORK/s.sock/ctl.log")"
out=$(kq -h "$STACK_IP" -p 5436 -c "select inet_server_addr(), count(*) from r")
[ "$out" = "$STACK_IP|5001" ] || fail "the cluster pg_ctl started: $out"
"${ctl[@]}" "$PGBIN/pg_ctl" -D "$WORK/s" -m fast -w stop > /dev/null || fail "pg_ctl stop"

# No server logged a system call that failed (postgres says "... () failed" or "could not ...").
! grep -h -E "\(\) failed|could not (accept|bind|listen|create .*socket|set|get)|PANIC" "$WORK"/*.out ||
  fail "postgres logged the above"
echo "postgres: a postmaster on the stack served psql (TCP, TLS, UNIX socket, loopback), pgbench -i, -c 4 -j 2 -T 5 ($tps tps) and -C, a cancel, NOTIFY, postgres_fdw, dblink and COPY FROM PROGRAM curl out, pg_basebackup and a kernel standby, a crash restart, a fast shutdown; psql, pgbench ($ktps tps), pg_basebackup and a standby on the stack used a kernel-side postgres; the postgres user's own tapstack run -- pg_ctl start served"
