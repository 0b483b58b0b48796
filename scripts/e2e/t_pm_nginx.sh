#!/usr/bin/env bash
# Process model: nginx as it ships (master_process on, worker_processes 2) preloaded on 10.77.0.2:
# the master listens, both workers accept on the shared listener. Sixteen parallel kernel curls each
# get the 3 MiB file exact. Then each worker in turn is stopped (SIGSTOP) while four more downloads
# run, so the other must accept them: the access log, which records the worker's $pid, shows that
# each worker served. (Left alone, one idle worker may take every connection: nginx watches the
# listener with EPOLLEXCLUSIVE, and on the kernel's sockets one worker served all 16.)
source "$(dirname "$0")/lib.sh"
setup pmnginx
command -v nginx >/dev/null || fail "nginx is not installed (apt-get install nginx-light)"
nginx_conf "  log_format withpid '\$remote_addr \$pid \"\$request\" \$status \$body_bytes_sent';
  access_log $WORK/logs/access.log withpid;
  sendfile on;
  server { listen $STACK_IP:8081; root $WORK/html; }" 128 "master_process on;
worker_processes 2;
user root;"
head -c $((3 << 20)) /dev/urandom > "$WORK/html/big.bin"
want=$(sha256sum < "$WORK/html/big.bin" | cut -d' ' -f1)
onstack -- timeout 60 nginx -c "$WORK/nginx.conf" -p "$WORK" > "$WORK/nginx.out" 2>&1 &
wait_port "$STACK_IP" 8081
pids=()
for i in $(seq 16); do
  inns timeout 20 curl -sS --max-time 15 -o "$WORK/got.$i" "http://$STACK_IP:8081/big.bin" & pids+=($!)
done
for p in "${pids[@]}"; do
  wait "$p" || fail "a parallel client failed; nginx error log: $(tail -n 5 "$WORK/logs/error.log")"
done
for i in $(seq 16); do
  [ "$(sha256sum < "$WORK/got.$i" | cut -d' ' -f1)" = "$want" ] || fail "client $i got different bytes"
done
for _ in $(seq 50); do [ -s "$WORK/nginx.pid" ] && break; sleep 0.1; done
master=$(cat "$WORK/nginx.pid")
# The workers by name: the master may have another child (a stack service it started).
mapfile -t workers < <(pgrep -P "$master" -f "nginx: worker process")
[ "${#workers[@]}" -eq 2 ] || fail "nginx master $master has ${#workers[@]} workers: ${workers[*]}"
# A worker left stopped would ignore the cleanup's SIGTERM: continue both on any exit.
trap 'rc=$?; kill -CONT "${workers[@]}" 2>/dev/null; (exit $rc); cleanup' EXIT
for k in 0 1; do
  stopped=${workers[$k]} running=${workers[$((1 - k))]}
  before=$(grep -c "^$KERNEL_IP $running \"GET /big.bin HTTP/1.1\" 200 $((3 << 20))$" "$WORK/logs/access.log" || true)
  kill -STOP "$stopped"
  pids=()
  for i in $(seq 4); do
    inns timeout 20 curl -sS --max-time 15 -o "$WORK/got.$k.$i" "http://$STACK_IP:8081/big.bin" & pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || { kill -CONT "$stopped"; fail "a client failed with worker $stopped stopped"; }; done
  kill -CONT "$stopped"
  for i in $(seq 4); do
    [ "$(sha256sum < "$WORK/got.$k.$i" | cut -d' ' -f1)" = "$want" ] || fail "client $k.$i got different bytes"
  done
  n=$(grep -c "^$KERNEL_IP $running \"GET /big.bin HTTP/1.1\" 200 $((3 << 20))$" "$WORK/logs/access.log" || true)
  [ "$((n - before))" -eq 4 ] || fail "worker $running served $((n - before)) of 4 downloads while $stopped was stopped: $(cat "$WORK/logs/access.log")"
done
n=$(grep -c "^$KERNEL_IP [0-9]* \"GET /big.bin HTTP/1.1\" 200 $((3 << 20))$" "$WORK/logs/access.log" || true)
[ "$n" -eq 24 ] || fail "access log shows $n of 24 full downloads: $(cat "$WORK/logs/access.log")"
echo "pm nginx: master + 2 workers, 16 parallel downloads of 3 MiB exact, each worker accepted while the other was stopped"
