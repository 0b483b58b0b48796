#!/usr/bin/env bash
# wget downloads through `tapstack run`.
source "$(dirname "$0")/lib.sh"
setup wget
start_http_peer
head -c $((4 << 20)) /dev/urandom > "$WORK/www/file.bin"
onstack -- wget -q -O "$WORK/got.bin" "http://$KERNEL_IP:8080/file.bin"
cmp "$WORK/got.bin" "$WORK/www/file.bin" || fail "wget download differs"
peer_saw_stack "GET /file.bin"
echo "wget: 4 MiB exact"
