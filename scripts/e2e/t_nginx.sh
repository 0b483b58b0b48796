#!/usr/bin/env bash
# nginx preloaded on 10.77.0.2 (epoll edge-triggered, nonblocking sendfile, accept4) serves eight
# parallel kernel curls exactly; its access log records the kernel's address.
source "$(dirname "$0")/lib.sh"
setup nginx
command -v nginx >/dev/null || fail "nginx is not installed (apt-get install nginx-light)"
nginx_conf "  access_log $WORK/logs/access.log;
  sendfile on;
  server { listen $STACK_IP:8081; root $WORK/html; }"
head -c $((3 << 20)) /dev/urandom > "$WORK/html/big.bin"
inns timeout 60 "$BIN" run -- nginx -c "$WORK/nginx.conf" -p "$WORK" > "$WORK/nginx.out" 2>&1 &
wait_port "$STACK_IP" 8081
pids=()
for i in $(seq 8); do
  inns curl -sS --max-time 20 -o "$WORK/got.$i" "http://$STACK_IP:8081/big.bin" & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a parallel client failed: $(cat "$WORK/logs/error.log")"; done
for i in $(seq 8); do cmp "$WORK/got.$i" "$WORK/html/big.bin" || fail "client $i got different bytes"; done
n=$(grep -c "^$KERNEL_IP .*GET /big.bin HTTP/1.1\" 200 $((3 << 20))" "$WORK/logs/access.log" || true)
[ "$n" -eq 8 ] || fail "access log shows $n of 8 full downloads: $(cat "$WORK/logs/access.log")"
echo "nginx: 8 parallel downloads of 3 MiB exact (epoll ET + sendfile)"
