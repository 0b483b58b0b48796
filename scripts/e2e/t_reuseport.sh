#!/usr/bin/env bash
# SO_REUSEPORT: listeners of one user share a port, each connection going to one of them. Two
# preloaded python servers, separate processes, listen on one port with SO_REUSEPORT; a third
# socket without it is refused (EADDRINUSE); 60 connections from the kernel side are answered,
# every one, and both servers take some. Then nginx with `listen … reuseport` and two workers (a
# listener per worker, bound to one port) serves curl and ab.
source "$(dirname "$0")/lib.sh"
setup reuseport

cat > "$WORK/server.py" <<'PY'
import socket, sys, time
name = sys.argv[1]
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
s.bind(("0.0.0.0", 9300))
s.listen(64)
print("listening", flush=True)
s.settimeout(1)
end = time.time() + 40
while time.time() < end:
    try:
        c, _ = s.accept()
    except socket.timeout:
        continue
    c.sendall(name.encode() + b"\n")
    c.close()
PY
cat > "$WORK/third.py" <<'PY'
import socket
s = socket.socket()
s.bind(("0.0.0.0", 9300))
PY
for n in one two; do
  onstack -- timeout 45 python3 "$WORK/server.py" "$n" > "$WORK/$n.log" 2>&1 &
done
for n in one two; do wait_line "$WORK/$n.log" listening $! 10 "server $n did not listen"; done
onstack -- timeout 10 python3 "$WORK/third.py" > "$WORK/third.log" 2>&1 && fail "a socket without SO_REUSEPORT bound the shared port"
grep -q "Address already in use" "$WORK/third.log" || fail "third socket: $(cat "$WORK/third.log")"
cat > "$WORK/client.py" <<PY
import socket, collections
got = collections.Counter()
for _ in range(60):
    c = socket.create_connection(("$STACK_IP", 9300), timeout=5)
    got[c.makefile().readline().strip()] += 1
    c.close()
print(" ".join(f"{k}={v}" for k, v in sorted(got.items())))
PY
out=$(inns timeout 30 python3 "$WORK/client.py") || fail "client: $out"
echo "$out" | grep -Eq '^one=[0-9]+ two=[0-9]+$' || fail "60 connections went: $out"
echo "two SO_REUSEPORT servers shared 60 connections: $out"

mkdir -p "$WORK/ng/html" "$WORK/ng/logs"
echo small > "$WORK/ng/html/s"
cat > "$WORK/ng/nginx.conf" <<CONF
daemon off; master_process on; worker_processes 2; user root;
error_log $WORK/ng/logs/error.log warn; pid $WORK/ng/nginx.pid;
events { worker_connections 256; }
http { access_log off; client_body_temp_path $WORK/ng/tb; proxy_temp_path $WORK/ng/tp;
  fastcgi_temp_path $WORK/ng/tf; uwsgi_temp_path $WORK/ng/tu; scgi_temp_path $WORK/ng/ts;
  server { listen $STACK_IP:8088 reuseport; root $WORK/ng/html; } }
CONF
onstack -- timeout 40 nginx -c "$WORK/ng/nginx.conf" -p "$WORK/ng" > "$WORK/ng.out" 2>&1 &
wait_port "$STACK_IP" 8088 || fail "nginx did not listen: $(cat "$WORK/ng/logs/error.log")"
[ "$(inns curl -sS --max-time 5 "http://$STACK_IP:8088/s")" = small ] || fail "curl to nginx: $(cat "$WORK/ng/logs/error.log")"
ab=$(inns timeout 30 ab -q -n 2000 -c 16 "http://$STACK_IP:8088/s" 2>&1) || fail "ab: $ab"
echo "$ab" | grep -q '^Failed requests: *0' || fail "ab: $ab"
grep -q emerg "$WORK/ng/logs/error.log" && fail "nginx: $(cat "$WORK/ng/logs/error.log")"
echo "nginx with reuseport and two workers: 2000 requests, none failed"
