#!/usr/bin/env bash
# lighttpd (sendfile, CGI children) and git, both ways between the stack and the kernel: (1)
# lighttpd on the stack serves a 32 MiB file to four kernel curls at once, a small site to a
# kernel `wget --mirror`, and git's smart HTTP (git http-backend as a CGI) to a kernel `git clone`
# and `git push`; (2) lighttpd on the kernel, wget, clone and push on the stack; (3) `git daemon
# --detach --user=nobody` on the stack (it forks away, drops root, forks a child per client)
# serves a kernel `git clone`, and a clone on the stack reads a kernel git daemon. Every byte and
# commit is checked. Skipped without lighttpd or git. E2E_KERNEL=1 runs it on kernel sockets.
source "$(dirname "$0")/lib.sh"
LIGHTTPD=$(command -v lighttpd || echo /usr/sbin/lighttpd)
[ -x "$LIGHTTPD" ] || { echo "git: SKIP (no lighttpd)"; exit 0; }
command -v git >/dev/null || { echo "git: SKIP (no git)"; exit 0; }
setup git
# git's own configuration from $WORK: the daemon's nobody reads the repositories root made.
export HOME=$WORK GIT_CONFIG_NOSYSTEM=1
unset XDG_CONFIG_HOME
git config --global safe.directory '*'
git config --global user.name tapstack
git config --global user.email tapstack@example.invalid
git config --global init.defaultBranch main
chmod 755 "$WORK"

mkdir -p "$WORK/www/site/sub"
head -c $((32 << 20)) /dev/urandom > "$WORK/www/big.bin"
{
  echo '<html><body><img src="logo.bin">'
  for i in $(seq 8); do echo "<a href=\"sub/p$i.html\">$i</a>"; done
  echo '</body></html>'
} > "$WORK/www/site/index.html"
for i in $(seq 8); do
  echo "<html><a href=\"../index.html\">up</a> <a href=\"q$i.html\">next</a></html>" > "$WORK/www/site/sub/p$i.html"
  echo "<html>leaf $i</html>" > "$WORK/www/site/sub/q$i.html"
done
head -c 300000 /dev/urandom > "$WORK/www/site/logo.bin"

git init -q "$WORK/src"
for i in $(seq 20); do
  head -c 30000 /dev/urandom | base64 > "$WORK/src/f$i"
  git -C "$WORK/src" add "f$i"
  git -C "$WORK/src" commit -qm "commit $i"
done
mkdir -p "$WORK/repos"
git clone -q --bare "$WORK/src" "$WORK/repos/r.git"
git -C "$WORK/repos/r.git" config http.receivepack true
chmod -R a+rX "$WORK/www" "$WORK/repos" "$WORK/.gitconfig"

lighttpd_conf() { # ADDRESS
  cat > "$WORK/lighttpd.conf" <<CONF
server.document-root = "$WORK/www"
server.bind = "$1"
server.port = 8089
server.errorlog = "$WORK/lighttpd.err"
server.network-backend = "sendfile"
index-file.names = ("index.html")
mimetype.assign = (".html" => "text/html", ".bin" => "application/octet-stream")
server.modules = ("mod_cgi", "mod_alias", "mod_setenv")
alias.url = ("/git/" => "$(git --exec-path)/git-http-backend/")
\$HTTP["url"] =~ "^/git/" {
  cgi.assign = ("" => "")
  setenv.add-environment = ("GIT_PROJECT_ROOT" => "$WORK/repos", "GIT_HTTP_EXPORT_ALL" => "",
                            "REMOTE_USER" => "tapstack", "HOME" => "$WORK")
}
CONF
}

# clone_push WHERE [PREFIX...] URL: clones URL into $WORK/WHERE, checks the head, commits and pushes.
clone_push() {
  local where=$1 url=${*: -1} prefix=("${@:2:$#-2}")
  "${prefix[@]}" timeout 30 git clone -q "$url" "$WORK/$where" || fail "git clone $url failed"
  [ "$(git -C "$WORK/$where" rev-parse HEAD)" = "$(git -C "$WORK/repos/r.git" rev-parse HEAD)" ] ||
    fail "the clone of $url has another head"
  head -c 200000 /dev/urandom | base64 > "$WORK/$where/pushed-$where"
  git -C "$WORK/$where" add "pushed-$where"
  git -C "$WORK/$where" commit -qm "pushed from $where"
  "${prefix[@]}" timeout 30 git -C "$WORK/$where" push -q origin HEAD || fail "git push to $url failed"
  [ "$(git -C "$WORK/repos/r.git" rev-parse HEAD)" = "$(git -C "$WORK/$where" rev-parse HEAD)" ] ||
    fail "the push to $url did not arrive"
}

# mirror WHERE [PREFIX...] URL: wget --mirror of the site into $WORK/WHERE, compared with it.
mirror() {
  local where=$1 url=${*: -1} prefix=("${@:2:$#-2}")
  mkdir -p "$WORK/$where"
  (cd "$WORK/$where" && "${prefix[@]}" timeout 30 wget -nv --mirror -np -nH "$url" 2> "$WORK/wget.err") || fail "wget --mirror $url failed: $(cat "$WORK/wget.err")"
  diff -r "$WORK/$where/site" "$WORK/www/site" > "$WORK/mirror.diff" || fail "the mirror of $url differs: $(cat "$WORK/mirror.diff")"
}

# (1) lighttpd on the stack.
lighttpd_conf "$STACK_IP"
onstack -- timeout 60 "$LIGHTTPD" -D -f "$WORK/lighttpd.conf" > "$WORK/lighttpd.out" 2>&1 &
server=$!
wait_port "$STACK_IP" 8089
pids=()
for i in $(seq 4); do
  inns timeout 30 curl -sS -o "$WORK/big.$i" "http://$STACK_IP:8089/big.bin" & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a download from lighttpd failed"; done
for i in $(seq 4); do cmp -s "$WORK/big.$i" "$WORK/www/big.bin" || fail "download $i from lighttpd differs"; done
rm -f "$WORK"/big.[0-9]
mirror m1 inns "http://$STACK_IP:8089/site/"
clone_push c1 inns "http://$STACK_IP:8089/git/r.git"
killtree "$server"

# (2) lighttpd on the kernel.
lighttpd_conf "$KERNEL_IP"
inns timeout 60 "$LIGHTTPD" -D -f "$WORK/lighttpd.conf" > "$WORK/lighttpd.out" 2>&1 &
server=$!
wait_port "$KERNEL_IP" 8089
mirror m2 onstack -- "http://$KERNEL_IP:8089/site/"
clone_push c2 onstack -- "http://$KERNEL_IP:8089/git/r.git"
killtree "$server"

# (3) git daemon, detached and as nobody, each way.
chown -R nobody "$WORK/repos"
onstack -- timeout 5 git daemon --detach --pid-file="$WORK/daemon.pid" --user=nobody --group=nogroup \
  --base-path="$WORK/repos" --export-all --reuseaddr --listen="$STACK_IP" --port=9418 ||
  fail "git daemon did not start"
wait_port "$STACK_IP" 9418
[ "$(ps -o user= -p "$(cat "$WORK/daemon.pid")")" = nobody ] || fail "git daemon is not nobody's"
inns timeout 30 git clone -q "git://$STACK_IP/r.git" "$WORK/d1" || fail "clone from the stack's git daemon failed"
kill "$(cat "$WORK/daemon.pid")"
inns timeout 5 git daemon --detach --pid-file="$WORK/daemon2.pid" --user=nobody --group=nogroup \
  --base-path="$WORK/repos" --export-all --reuseaddr --listen="$KERNEL_IP" --port=9418 ||
  fail "the kernel's git daemon did not start"
wait_port "$KERNEL_IP" 9418
onstack -- timeout 30 git clone -q "git://$KERNEL_IP/r.git" "$WORK/d2" || fail "clone from the kernel's git daemon failed"
kill "$(cat "$WORK/daemon2.pid")"
for d in d1 d2; do
  [ "$(git -C "$WORK/$d" rev-parse HEAD)" = "$(git -C "$WORK/repos/r.git" rev-parse HEAD)" ] ||
    fail "$d: the clone by git:// has another head"
done
echo "git: lighttpd 32 MiB to 4 curls, wget --mirror, git clone and push over smart HTTP, both ways; git daemon --detach --user=nobody served a clone, both ways"
