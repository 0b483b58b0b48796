#!/usr/bin/env bash
# Process model: a child that leaves the network namespace keeps its inherited stack sockets
# working (scripts/e2e/pm_netns.c, against the kernel-side echo peer). A child made by fork then
# unshare(CLONE_NEWNET), and one made by a raw clone(CLONE_NEWNET) as vsftpd makes its session
# process, can no longer reach the service by its name; they go through the door their parent
# kept (src/service/client.rs): setsockopt, getsockopt, getsockname, getpeername, send, recv and
# shutdown succeed as on the kernel, and a new socket of theirs is their namespace's. An
# inetd-style child whose stderr is a stack socket gets nothing of the stack's written into it.
# Then, if vsftpd is installed: curl on the kernel side lists a directory from a preloaded vsftpd
# with its default isolate_network=YES.
source "$(dirname "$0")/lib.sh"
setup pmnetns
build_c pm_netns
start_pm_peer
onstack -- timeout 30 "$WORK/pm_netns" "$KERNEL_IP" "$STACK_IP" > "$WORK/out" 2>&1 || true
cat "$WORK/out"
grep -qx "PASS netns" "$WORK/out" || fail "$(grep FAIL "$WORK/out")"

if ! command -v vsftpd >/dev/null; then
  echo "pm netns: vsftpd is not installed; its check is skipped"
else
  mkdir -m 755 "$WORK/ftp" "$WORK/empty"
  chmod 755 "$WORK"
  echo "a file in the ftp root" > "$WORK/ftp/listed.txt"
  cat > "$WORK/vsftpd.conf" <<CONF
listen=YES
listen_ipv6=NO
listen_address=$STACK_IP
listen_port=2121
background=NO
anonymous_enable=YES
local_enable=NO
no_anon_password=YES
anon_root=$WORK/ftp
secure_chroot_dir=$WORK/empty
pasv_enable=YES
pasv_min_port=40000
pasv_max_port=40100
xferlog_enable=NO
CONF
  # isolate_network is left at its default (YES): each session's unprivileged process is cloned
  # into a new network namespace and works on its control connection from there.
  onstack -- timeout 60 "$(command -v vsftpd)" "$WORK/vsftpd.conf" > "$WORK/vsftpd.out" 2>&1 &
  wait_port "$STACK_IP" 2121
  inns timeout 10 curl -sS "ftp://$STACK_IP:2121/" > "$WORK/list" 2>&1 || true
  grep -q " listed.txt$" "$WORK/list" || fail "curl's listing from vsftpd (passive): $(cat "$WORK/list"; cat "$WORK/vsftpd.out")"
  inns timeout 10 curl -sS -P - "ftp://$STACK_IP:2121/" > "$WORK/list" 2>&1 || true
  grep -q " listed.txt$" "$WORK/list" || fail "curl's listing from vsftpd (active): $(cat "$WORK/list"; cat "$WORK/vsftpd.out")"
  inns timeout 10 curl -sS "ftp://$STACK_IP:2121/listed.txt" > "$WORK/got" 2>&1 || true
  cmp -s "$WORK/got" "$WORK/ftp/listed.txt" || fail "curl's download from vsftpd: $(cat "$WORK/got")"
  echo "ok: vsftpd (isolate_network=YES): curl listed its directory, passive and active, and fetched a file"
fi
echo "pm netns: children outside the namespace keep their inherited stack sockets; nothing said into stderr sockets"
