#!/usr/bin/env bash
# rsync's daemon on the stack: `rsync --daemon --no-detach` accepts, forks a child per client that
# chroots to the module and drops to uid/gid nobody before it moves a file (`uid`/`gid`, `use
# chroot`); its `socket options` are set on each accepted socket and the ones Linux refuses are
# logged the same way. The kernel's rsync client lists the modules, pulls a tree (a 3 MiB file, 20
# small ones, a symlink) and pushes it back; then the preloaded client pulls from a kernel daemon.
# Skipped without rsync. E2E_KERNEL=1 runs it all on kernel sockets.
source "$(dirname "$0")/lib.sh"
command -v rsync >/dev/null || { echo "rsyncd: SKIP (no rsync)"; exit 0; }
id nobody >/dev/null 2>&1 || { echo "rsyncd: SKIP (no user nobody)"; exit 0; }
setup rsyncd
chmod 755 "$WORK"
mkdir -p "$WORK/tree/sub/deep" "$WORK/push"
chown nobody "$WORK/push"
head -c $((3 << 20)) /dev/urandom > "$WORK/tree/big"
for i in $(seq 20); do echo "file $i" > "$WORK/tree/sub/f$i"; done
head -c 100000 /dev/urandom > "$WORK/tree/sub/deep/mid"
ln -s big "$WORK/tree/link"
chmod -R a+rX "$WORK/tree"
nogroup=$(id -gn nobody)
# rsyncd_conf NAME: a daemon whose pid and log files are NAME's.
rsyncd_conf() {
  cat <<CONF
uid = nobody
gid = $nogroup
use chroot = yes
reverse lookup = no
pid file = $WORK/$1.pid
log file = $WORK/$1.log
socket options = SO_KEEPALIVE,TCP_NODELAY,SO_SNDLOWAT=4,IPTOS_LOWDELAY
[tree]
  path = $WORK/tree
  read only = yes
[push]
  path = $WORK/push
  read only = no
CONF
}
rsyncd_conf rsyncd > "$WORK/rsyncd.conf"
rsyncd_conf krsyncd > "$WORK/krsyncd.conf"

onstack -- timeout 60 rsync --daemon --no-detach --port 8730 --config "$WORK/rsyncd.conf" > "$WORK/rsyncd.out" 2>&1 &
wait_port "$STACK_IP" 8730
out=$(inns timeout 10 rsync rsync://$STACK_IP:8730/ 2>&1 | tr -s ' \t' ' ')
[ "$out" = "tree 
push " ] || fail "module list: $out"
inns timeout 20 rsync -a rsync://$STACK_IP:8730/tree/ "$WORK/pulled/" || fail "pull: $(tail -n 3 "$WORK/rsyncd.log")"
diff -r "$WORK/tree" "$WORK/pulled" || fail "the pulled tree differs"
inns timeout 20 rsync -rl "$WORK/tree/" rsync://$STACK_IP:8730/push/ || fail "push: $(tail -n 3 "$WORK/rsyncd.log")"
diff -r "$WORK/tree" "$WORK/push" || fail "the pushed tree differs"
[ "$(stat -c %U "$WORK/push/big")" = nobody ] || fail "the pushed files are not nobody's"
# What the daemon logged, times and process ids aside: the same lines as on the kernel (but for
# those of wait_port's probe, whose child may or may not log a reset, by timing, on either).
out=$(sed -E 's/^[0-9/]+ [0-9:]+ \[[0-9]+\] //' "$WORK/rsyncd.log" |
  grep -v -e '^sent ' -e '^connect from' -e 'safe_read failed' -e 'error in rsync protocol data stream' | sort | uniq -c | sed 's/^ *//')
expected="2 rsync: [Receiver] failed to set socket option SO_SNDLOWAT: Protocol not available (92)
1 module-list request from UNDETERMINED ($KERNEL_IP)
1 receiving file list
1 rsync allowed access on module push from UNDETERMINED ($KERNEL_IP)
1 rsync allowed access on module tree from UNDETERMINED ($KERNEL_IP)
1 rsync on tree/ from UNDETERMINED ($KERNEL_IP)
1 rsync to push/ from UNDETERMINED ($KERNEL_IP)
1 building file list
1 rsyncd version $(rsync --version | awk 'NR == 1 {print $3}') starting, listening on port 8730"
[ "$(echo "$out" | sort)" = "$(echo "$expected" | sort)" ] || fail "rsyncd's log: $out"

# The client on the stack, the daemon on the kernel.
inns timeout 60 rsync --daemon --no-detach --address $KERNEL_IP --port 8731 --config "$WORK/krsyncd.conf" > "$WORK/krsyncd.out" 2>&1 &
wait_port "$KERNEL_IP" 8731
onstack -- timeout 20 rsync -a rsync://$KERNEL_IP:8731/tree/ "$WORK/kpulled/" || fail "pull from the stack: $(tail -n 3 "$WORK/krsyncd.log")"
diff -r "$WORK/tree" "$WORK/kpulled" || fail "the tree pulled by the stack's client differs"
grep -q "connect from UNDETERMINED ($STACK_IP)" "$WORK/krsyncd.log" || fail "the kernel daemon saw: $(cat "$WORK/krsyncd.log")"
echo "rsyncd: rsync --daemon (chroot, uid nobody) on the stack lists, serves and takes a tree as on the kernel; the stack's client pulls from a kernel daemon"
