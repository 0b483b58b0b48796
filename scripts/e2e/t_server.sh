#!/usr/bin/env bash
# A preloaded server (python's http.server) on 10.77.0.2 serves the kernel's curl, several clients in
# parallel, exactly.
source "$(dirname "$0")/lib.sh"
setup server
mkdir -p "$WORK/site"
head -c $((2 << 20)) /dev/urandom > "$WORK/site/blob.bin"
(cd "$WORK/site" && exec ip netns exec "$NS" "$BIN" run -- timeout 60 python3 -m http.server 8000 --bind "$STACK_IP") \
  > "$WORK/server.log" 2>&1 &
wait_port "$STACK_IP" 8000
pids=()
for i in $(seq 8); do
  inns curl -sS --max-time 30 -o "$WORK/got.$i" "http://$STACK_IP:8000/blob.bin" & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a parallel client failed"; done
for i in $(seq 8); do cmp "$WORK/got.$i" "$WORK/site/blob.bin" || fail "client $i got different bytes"; done
n=$(grep -c "\"GET /blob.bin HTTP/1.1\" 200" "$WORK/server.log" || true)
[ "$n" -eq 8 ] || fail "server log shows $n of 8 requests: $(cat "$WORK/server.log")"
grep -q "^$KERNEL_IP " "$WORK/server.log" || fail "server did not see the kernel's address"
echo "server: 8 parallel downloads of 2 MiB exact"
