#!/usr/bin/env bash
# The demo: build tapstack, start it in a fresh network namespace and ping it from the kernel side,
# then run an unmodified curl through it (tapstack run) against a web server on the kernel side,
# show the captures, clean up. Needs root (network namespaces), ping, curl, python3 and tcpdump.
set -euo pipefail
cd "$(dirname "$0")/.."

ns="tapstack-demo-$$"
work=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  bash scripts/netns.sh delete "$ns"
  rm -rf "$work"
}
trap cleanup EXIT

echo "== building"
cargo build --release --quiet
bin=target/release/tapstack

echo "== namespace $ns: tap0 with 10.77.0.1/24 on the kernel side"
bash scripts/netns.sh create "$ns"

echo "== starting the stack at 10.77.0.2 (tapstack up), recording to a pcap"
ip netns exec "$ns" "$bin" up --pcap "$work/demo.pcap" >"$work/up.log" 2>&1 &
pid=$!
for _ in $(seq 50); do grep -q "running on" "$work/up.log" 2>/dev/null && break; sleep 0.1; done
cat "$work/up.log"

echo "== the kernel pings the stack"
ip netns exec "$ns" ping -c 3 -i 0.3 -W 2 10.77.0.2
ip netns exec "$ns" ping -c 2 -i 0.3 -W 2 -s 3000 10.77.0.2

echo "== the kernel's neighbour table now holds the stack's MAC"
ip netns exec "$ns" ip neigh show dev tap0

echo "== stopping the stack"
kill -INT "$pid"
wait "$pid" || true
pid=""
sed -n '/stopped by/,$p' "$work/up.log"

echo "== the capture, as tcpdump reads it"
tcpdump -n -r "$work/demo.pcap" 2>&1

echo "== an unmodified curl through the stack: tapstack run -- curl http://10.77.0.1:8080/hello.txt"
mkdir -p "$work/www"
echo "hello from the kernel side of the TAP" > "$work/www/hello.txt"
(cd "$work/www" && exec ip netns exec "$ns" timeout 30 python3 -m http.server 8080 --bind 10.77.0.1) \
  > "$work/http.log" 2>&1 &
for _ in $(seq 50); do ip netns exec "$ns" ss -Hltn "src 10.77.0.1:8080" | grep -q . && break; sleep 0.1; done
ip netns exec "$ns" "$bin" run --pcap "$work/curl.pcap" -- curl -sS http://10.77.0.1:8080/hello.txt
echo "== the web server saw the client as:"
grep "GET /hello.txt" "$work/http.log"
echo "== the curl run's capture"
tcpdump -n -r "$work/curl.pcap" 2>&1 | grep -v IP6
