#!/usr/bin/env bash
# TLS 1.3 and HTTP/2 through the stack, both ways: (1) `openssl s_server -WWW` on the stack serves
# 4 MiB to a kernel `openssl s_client`, and (2) the other way round; (3) nginx on the stack with
# `ssl http2 reuseport` (a master and two workers) serves 20 files to one kernel curl multiplexing
# them over HTTP/2 (`--parallel`) and to 20 HTTP/1.1 connections at once, and takes a 6 MiB upload
# sent chunked; (4) curl on the stack does the same against a kernel nginx. Every byte is checked.
# Skipped without openssl. E2E_KERNEL=1 runs it on kernel sockets.
source "$(dirname "$0")/lib.sh"
command -v openssl >/dev/null || { echo "tls: SKIP (no openssl)"; exit 0; }
command -v nginx >/dev/null || fail "nginx is not installed (apt-get install nginx-light)"
setup tls
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/key.pem" -out "$WORK/cert.pem" -days 2 \
  -subj /CN=tapstack >/dev/null 2>&1 || fail "no certificate"
mkdir -p "$WORK/html" "$WORK/logs" "$WORK/tmp" "$WORK/up"
head -c $((4 << 20)) /dev/urandom > "$WORK/html/blob"
head -c $((6 << 20)) /dev/urandom > "$WORK/body.bin"
for i in $(seq 20); do head -c $((i * 40000)) /dev/urandom > "$WORK/html/f$i.bin"; done
# nginx's workers run as nobody.
chmod 755 "$WORK"
chmod -R a+rX "$WORK/html" "$WORK/cert.pem"
chmod 777 "$WORK/tmp" "$WORK/up"

# s_client asks for /blob and prints the answer; -quiet ignores the end of its input, so it exits
# when the server closes.
printf 'GET /blob HTTP/1.0\r\n\r\n' > "$WORK/request"
s_client() { # [PREFIX...] ADDRESS:PORT
  local target=${*: -1}
  "${@:1:$#-1}" timeout 20 openssl s_client -quiet -tls1_3 -connect "$target" \
    < "$WORK/request" 2> "$WORK/s_client.err"
}
check_blob() { # FILE WHAT
  head -1 "$1" | grep -q "^HTTP/1.0 200 ok" || fail "$2: no 200: $(head -c 200 "$1"; cat "$WORK/s_client.err")"
  tail -c $((4 << 20)) "$1" | cmp -s - "$WORK/html/blob" || fail "$2: the 4 MiB differ"
}
cd "$WORK/html"
onstack -- timeout 30 openssl s_server -quiet -WWW -tls1_3 -accept 4433 -cert "$WORK/cert.pem" \
  -key "$WORK/key.pem" > "$WORK/s_server.out" 2>&1 &
server=$!
wait_port "$STACK_IP" 4433
s_client inns "$STACK_IP:4433" > "$WORK/got1"
check_blob "$WORK/got1" "s_server on the stack"
killtree "$server"
inns timeout 30 openssl s_server -quiet -WWW -tls1_3 -accept "$KERNEL_IP:4434" -cert "$WORK/cert.pem" \
  -key "$WORK/key.pem" > "$WORK/s_server.out" 2>&1 &
server=$!
wait_port "$KERNEL_IP" 4434
s_client onstack -- "$KERNEL_IP:4434" > "$WORK/got2"
check_blob "$WORK/got2" "s_client on the stack"
killtree "$server"
cd "$WORK"

# nginx_tls ADDRESS: an nginx with a master and two workers (as nobody) on ADDRESS:8443, HTTP/2 over TLS, files
# from $WORK/html and PUT under /up/.
nginx_tls() {
  nginx_conf "  access_log $WORK/logs/access.log;
  client_body_temp_path $WORK/tmp;
  client_max_body_size 64m;
  sendfile on;
  server {
    listen $1:8443 ssl http2 reuseport;
    ssl_certificate $WORK/cert.pem; ssl_certificate_key $WORK/key.pem;
    root $WORK/html;
    location /up/ { root $WORK; dav_methods PUT; }
  }" 256 "master_process on;
worker_processes 2;"
}
# curls [PREFIX...] ADDRESS: the 20 files over HTTP/2 on one connection, then over 20 HTTP/1.1
# connections at once, then the upload sent chunked; checks every byte.
curls() {
  local ip=${*: -1} prefix=("${@:1:$#-1}") urls=() i n
  for i in $(seq 20); do urls+=(-o "$WORK/h2.$i" "https://$ip:8443/f$i.bin"); done
  "${prefix[@]}" timeout 30 curl -sS -k --http2 --parallel --parallel-max 20 -w '%{http_version} %{http_code}\n' \
    "${urls[@]}" > "$WORK/h2.out" 2> "$WORK/h2.err" || fail "curl --http2 --parallel to $ip failed"
  n=$(grep -c '^2 200$' "$WORK/h2.out" || true)
  [ "$n" -eq 20 ] || fail "HTTP/2 to $ip: $n of 20 answers: $(cat "$WORK/h2.out")"
  for i in $(seq 20); do cmp -s "$WORK/h2.$i" "$WORK/html/f$i.bin" || fail "HTTP/2 file $i from $ip differs"; done
  urls=()
  for i in $(seq 20); do urls+=(-o "$WORK/h1.$i" "https://$ip:8443/f$i.bin"); done
  "${prefix[@]}" timeout 30 curl -sS -k --http1.1 --parallel --parallel-max 20 -w '%{http_version} %{http_code}\n' \
    "${urls[@]}" > "$WORK/h1.out" 2> "$WORK/h1.err" || fail "curl --http1.1 --parallel to $ip failed"
  n=$(grep -c '^1.1 200$' "$WORK/h1.out" || true)
  [ "$n" -eq 20 ] || fail "HTTP/1.1 to $ip: $n of 20 answers: $(cat "$WORK/h1.out")"
  for i in $(seq 20); do cmp -s "$WORK/h1.$i" "$WORK/html/f$i.bin" || fail "HTTP/1.1 file $i from $ip differs"; done
  rm -f "$WORK/up/body.bin"
  "${prefix[@]}" timeout 30 curl -sS -k --http1.1 -H 'Transfer-Encoding: chunked' -T - -o /dev/null \
    -w '%{http_code}\n' "https://$ip:8443/up/body.bin" < "$WORK/body.bin" > "$WORK/up.out" || fail "upload to $ip failed"
  [ "$(cat "$WORK/up.out")" = 201 ] || fail "upload to $ip: $(cat "$WORK/up.out")"
  cmp -s "$WORK/up/body.bin" "$WORK/body.bin" || fail "the chunked upload to $ip differs"
}
nginx_tls "$STACK_IP"
onstack -- timeout 60 nginx -c "$WORK/nginx.conf" -p "$WORK" > "$WORK/nginx.out" 2>&1 &
server=$!
wait_port "$STACK_IP" 8443
curls inns "$STACK_IP"
killtree "$server"
nginx_tls "$KERNEL_IP"
inns timeout 60 nginx -c "$WORK/nginx.conf" -p "$WORK" > "$WORK/nginx.out" 2>&1 &
server=$!
wait_port "$KERNEL_IP" 8443
curls onstack -- "$KERNEL_IP"
killtree "$server"
n=$(grep -c '" 200 ' "$WORK/logs/access.log" || true)
[ "$n" -eq 80 ] || fail "nginx logged $n answers of 200, not 80"
echo "tls: TLS 1.3 4 MiB both ways (openssl s_server/s_client); HTTP/2 and HTTP/1.1 over TLS, 20 files each and a 6 MiB chunked upload, both ways (nginx, curl)"
