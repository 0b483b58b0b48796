#!/usr/bin/env bash
# OpenSSH both ways, the server with its whole process model on the stack. sshd -D on 10.77.0.2
# accepts, forks a pre-authentication child that chroots to /run/sshd, drops to the sshd user and
# puts itself under seccomp, passes descriptors between it and the privileged monitor, then forks
# the session child that becomes the user. The kernel's ssh client logs in as root and runs a
# command, scp copies 4 MiB each way; as nobody (ForceCommand internal-sftp: the session child is
# nobody's) sftp copies both ways, -L opens a new stack connection from that child to the kernel's
# echo, -R makes it listen on 10.77.0.2 (GatewayPorts clientspecified) for a kernel-side client.
# Then the preloaded ssh client logs in to a kernel sshd on 10.77.0.1, scp copies from it and -L
# forwards through it. sshd -i, exec'd by socat in fork mode with the stack socket as its stdin and
# stdout (inetd style), serves a command and an scp. Skipped without openssh-server and
# openssh-client. E2E_KERNEL=1 runs it all
# on kernel sockets.
source "$(dirname "$0")/lib.sh"
SSHD=/usr/sbin/sshd
{ [ -x "$SSHD" ] && command -v ssh >/dev/null && command -v scp >/dev/null && command -v sftp >/dev/null; } ||
  { echo "sshd: SKIP (no openssh-server or openssh-client)"; exit 0; }
id nobody >/dev/null 2>&1 || { echo "sshd: SKIP (no user nobody)"; exit 0; }
setup sshd
start_pm_peer
# The privilege separation directory sshd chroots its pre-authentication child into (the package
# makes it when its service starts, which the tests never do).
mkdir -p /run/sshd && chmod 755 /run/sshd
chmod 755 "$WORK"   # nobody reads authorized_keys (sshd reads it as the user)
mkdir -m 777 "$WORK/up"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/hostkey"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/userkey"
cp "$WORK/userkey.pub" "$WORK/authorized_keys" && chmod 644 "$WORK/authorized_keys"
sshd_conf() {
  cat <<CONF
HostKey $WORK/hostkey
AuthorizedKeysFile $WORK/authorized_keys
PidFile $WORK/$1.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
AllowTcpForwarding yes
GatewayPorts clientspecified
Subsystem sftp internal-sftp
Match User nobody
  ForceCommand internal-sftp
CONF
}
sshd_conf sshd > "$WORK/sshd_config"
sshd_conf ksshd > "$WORK/ksshd_config"
SSHO=(-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR
  -i "$WORK/userkey")
head -c $((4 << 20)) /dev/urandom > "$WORK/four"
sum() { sha256sum < "$1" | cut -c1-16; }
want=$(sum "$WORK/four")
# echo_check HOST PORT: 1 MiB through an echo at HOST:PORT, half-closed; prints its length and sum.
echo_check() {
  timeout 10 python3 -c "
import hashlib, socket, sys, threading
data = bytes(range(256)) * 4096
s = socket.create_connection(('$1', $2), timeout=8)
t = threading.Thread(target=lambda: (s.sendall(data), s.shutdown(socket.SHUT_WR))); t.start()
got = b''
while True:
    d = s.recv(65536)
    if not d: break
    got += d
t.join()
print(len(got), got == data)"
}

onstack -- timeout 60 "$SSHD" -D -e -p 2222 -f "$WORK/sshd_config" > "$WORK/sshd.log" 2>&1 &
wait_port "$STACK_IP" 2222
out=$(inns timeout 10 ssh "${SSHO[@]}" -p 2222 root@$STACK_IP 'set -- $SSH_CONNECTION; echo $1 $3 $4; id -un' 2>&1)
[ "$out" = "$KERNEL_IP $STACK_IP 2222
root" ] || fail "ssh root@stack: $out ($(cat "$WORK/sshd.log"))"
inns timeout 20 scp "${SSHO[@]}" -P 2222 "$WORK/four" root@$STACK_IP:"$WORK/up/root-up" || fail "scp up: $(tail -n 3 "$WORK/sshd.log")"
inns timeout 20 scp "${SSHO[@]}" -P 2222 root@$STACK_IP:"$WORK/four" "$WORK/root-down" || fail "scp down: $(tail -n 3 "$WORK/sshd.log")"
[ "$(sum "$WORK/up/root-up") $(sum "$WORK/root-down")" = "$want $want" ] || fail "scp copies differ"
out=$(printf 'put %s %s\nget %s %s\n' "$WORK/four" "$WORK/up/nobody-up" "$WORK/four" "$WORK/nobody-down" |
  inns timeout 20 sftp "${SSHO[@]}" -P 2222 -q -b - nobody@$STACK_IP 2>&1) || fail "sftp as nobody: $out"
[ "$(stat -c %U "$WORK/up/nobody-up")" = nobody ] || fail "the upload is not nobody's"
[ "$(sum "$WORK/up/nobody-up") $(sum "$WORK/nobody-down")" = "$want $want" ] || fail "sftp copies differ"
inns timeout 20 ssh "${SSHO[@]}" -p 2222 -N -o ExitOnForwardFailure=yes -L 127.0.0.1:7001:$KERNEL_IP:9000 \
  -R $STACK_IP:7002:$KERNEL_IP:9000 nobody@$STACK_IP > "$WORK/fwd.log" 2>&1 &
wait_port 127.0.0.1 7001
wait_port "$STACK_IP" 7002
out="-L $(inns bash -c "$(declare -f echo_check); echo_check 127.0.0.1 7001" 2>&1)
-R $(inns bash -c "$(declare -f echo_check); echo_check $STACK_IP 7002" 2>&1)"
[ "$out" = "-L 1048576 True
-R 1048576 True" ] || fail "forwarding as nobody: $out ($(cat "$WORK/fwd.log"; tail -n 3 "$WORK/sshd.log"))"
ps -eo user=,args= | grep -qx "nobody *sshd: nobody" || fail "no session child of nobody's: $(ps -eo user=,args= | grep "sshd:")"

# inetd style: socat accepts and execs `sshd -i` with the stack socket as its stdin and stdout.
onstack -- timeout 60 socat TCP-LISTEN:2224,bind=$STACK_IP,reuseaddr,fork \
  EXEC:"$SSHD -i -e -f $WORK/sshd_config",nofork > "$WORK/inetd.log" 2>&1 &
wait_port "$STACK_IP" 2224
out=$(inns timeout 10 ssh "${SSHO[@]}" -p 2224 root@$STACK_IP 'set -- $SSH_CONNECTION; echo $1 $3 $4' 2>&1)
[ "$out" = "$KERNEL_IP $STACK_IP 2224" ] || fail "sshd -i: $out ($(cat "$WORK/inetd.log"))"
inns timeout 20 scp "${SSHO[@]}" -P 2224 root@$STACK_IP:"$WORK/four" "$WORK/inetd-down" || fail "scp from sshd -i: $(tail -n 3 "$WORK/inetd.log")"
[ "$(sum "$WORK/inetd-down")" = "$want" ] || fail "scp from sshd -i: the copy differs"

# The client on the stack, a kernel sshd on 10.77.0.1.
inns timeout 60 "$SSHD" -D -e -p 2223 -o ListenAddress=$KERNEL_IP -f "$WORK/ksshd_config" > "$WORK/ksshd.log" 2>&1 &
wait_port "$KERNEL_IP" 2223
out=$(onstack -- timeout 10 ssh "${SSHO[@]}" -p 2223 root@$KERNEL_IP 'set -- $SSH_CONNECTION; echo $1 $3 $4' 2>&1)
[ "$out" = "$STACK_IP $KERNEL_IP 2223" ] || fail "ssh from the stack: $out ($(cat "$WORK/ksshd.log"))"
onstack -- timeout 20 scp "${SSHO[@]}" -P 2223 root@$KERNEL_IP:"$WORK/four" "$WORK/client-down" || fail "scp from the stack"
[ "$(sum "$WORK/client-down")" = "$want" ] || fail "scp from the stack: the copy differs"
onstack -- timeout 20 ssh "${SSHO[@]}" -p 2223 -N -o ExitOnForwardFailure=yes -L $STACK_IP:7003:$KERNEL_IP:9000 \
  root@$KERNEL_IP > "$WORK/cfwd.log" 2>&1 &
wait_port "$STACK_IP" 7003
out=$(inns bash -c "$(declare -f echo_check); echo_check $STACK_IP 7003" 2>&1)
[ "$out" = "1048576 True" ] || fail "-L through the stack's client: $out ($(cat "$WORK/cfwd.log"))"
echo "sshd: sshd -D on the stack (privilege separation, root and nobody sessions): command, scp and sftp 4 MiB each way, -L and -R as nobody; sshd -i under socat; ssh, scp and -L from the stack to a kernel sshd"
