#!/usr/bin/env bash
# The benchmark: one run, one table, each row side by side with the Linux kernel over veth.
#
#   bash scripts/bench.sh [--builds NAME=DIR[,NAME=DIR...]] [--rounds N] [--only ROW[,ROW...]]
#                         [--plots DIR] [SECONDS]
#
# Each DIR holds a `tapstack` and its `libtapstack.so` (e.g. before=/work/baseline,after=target/release;
# relative to where you run it). Without --builds: this tree's target/release, built or brought up to
# date with cargo first. SECONDS (default 5) is the length of each iperf3 and sockperf measurement.
# --rounds N (default 1) repeats the iperf3, sockperf, udp, ab and loss rows N times, kernel and builds taking
# turns, and shows each cell's median (the rounds listed below the table): on a busy machine one
# round of the same build can differ from the next by 2x.
#
# Rows, measured for the kernel (two namespaces over a veth pair) and for every build (a program
# preloaded with `tapstack run` in a namespace with tap0, talking to the kernel side of the TAP):
#   - one iperf3 TCP stream, stack sending and stack receiving (the kernel's: one stream over veth);
#   - sockperf ping-pong --tcp -m 64: one-way latency, average and median, sockperf server on the kernel;
#     and the median again with every process of the run on CPU 0 (taskset; a build's service, started
#     by the client, inherits it). On a VM whose idle vCPUs halt, a wake-up on the other CPU costs tens
#     of microseconds and where the scheduler puts each process decides the first figure; the pinned
#     one is what the stacks themselves cost;
#   - the same exchange as a plain program (scripts/bench/pingpong.c: 64 bytes out, 64 back, one at a
#     time, against its own echo server on the kernel side), one-way average and median: the row the
#     smoltcp comparator runs too, as it cannot run sockperf; and its median with each build's stack
#     in the program (examples/tapstack_peer.rs `ping`, spinning while a message is out as smoltcp's
#     does), the like of smoltcp's cell, which is in the program too (its figure shown in both rows);
#     and that median with the program and the echo server on CPU 0 (the kernel's: pingpong.c at
#     both ends over veth), where no wake-up of a halted CPU stands between the two ends;
#   - UDP request/response with the server on the stack: scripts/bench/udpecho.c answering each
#     64-byte datagram (recvfrom, sendto; preloaded for a build, on 10.77.0.2), its client on the
#     kernel side keeping 20 requests in flight for SECONDS: answers a second (the kernel's: the
#     same two programs over veth). What a DNS or NTP server on the stack can take;
#   - new connections per second: ab -n 5000 -c 8 (no keep-alive) against nginx on the kernel side,
#     and the CPU the whole machine spent per connection meanwhile (/proc/stat: every process and
#     kernel thread the connections make work, so the columns compare what each way costs in all);
#   - the same with one client for all: smoltcp's own loop (HTTP/1.0 requests, 8 at a time, each on a
#     new connection), and that loop written against the socket API (scripts/bench/connloop.c) on
#     the kernel and through each build, with the machine's CPU per connection likewise;
#   - the same loop with the stack in the program, on its own API: examples/tapstack_peer.rs drives
#     a build's sans-IO stack in one process and thread as smoltcp's loop drives smoltcp, where
#     connloop's every socket call crosses to the service: this row is the engine's cost, its gap
#     to the row above the hand-off's. A build column runs DIR/examples/tapstack_peer, "-" where DIR has none (a
#     build from before it; this tree's is built with cargo, so the default build has it); the
#     kernel's cell is "-", and smoltcp's is its loop's figure from the row above (one run, shown
#     in both rows, so that the last ratio compares the two stacks in the same program);
#   - 16 MiB each way at once (python3 on both ends, the stack's side timing it) with 2%, 5% and 15% of
#     frames dropped each way by nftables on the kernel's end (tap0, or the server's veth for the
#     kernel, offloads off on both so that a dropped frame is one segment; the stack with
#     TAPSTACK_OFFLOAD=off likewise; the kernel's client pings first, so that its neighbour entry
#     is not left to the lossy link). Both sides run their host's default congestion control (the
#     kernel's net.ipv4.tcp_congestion_control, which the stack takes from the host too);
#   - 10 000 connections opened one after another by one program (scripts/bench/conns.c) to a kernel
#     listener that keeps them: how many open within 60 s, how long that took, and the CPU time of
#     every process in the namespace(s) meanwhile; then, with all of them idle for 5 s, the CPU time
#     of every process in the namespace(s) in that window, and the resident memory each connection
#     added to the processes on the opening side (the kernel's sockets live outside any process, so
#     it has no figure there).
# A smoltcp column runs the rows that need no particular program (the streams, the echo ping-pong, the
# client loop to nginx, shown in both of its rows, the loss rows; not the UDP row)
# with examples/smoltcp_peer.rs, smoltcp on the same tap0 and MTU talking to the same kernel side
# (python3 sink and source for the streams, since it cannot run iperf3; its own HTTP/1.0 loop, as it
# cannot run ab); BENCH_SMOLTCP=0 leaves it out. Its other rows show "-".
# Ratios are speed relative to the kernel (build/kernel for rates, kernel/build for times), so below
# 1 is slower than the kernel; with two builds or more, the last is also compared with the first.
# A row that fails prints "failed" and a note; the rest go on. Every measurement runs in namespaces
# of its own (bench-*-PID), deleted when it ends and on any exit, Ctrl-C included.
# BENCH_CONNS and BENCH_CONNS_LIMIT change the 10 000 and the 60 s of the last rows. --only runs some
# rows alone: iperf3, sockperf, udp, ab, loss, conns.
# The 5% transfers of the first round are also drawn (scripts/bench/plot.py): sending rate, cwnd and
# RTT over time, as each sender's TCP_INFO gives them, into DIR/loss5.svg (--plots, default
# bench-plots, relative to where you run it).
# Needs root, iperf3, sockperf, nginx, ab (apache2-utils), nft, ethtool, cc, python3. A benchmark, not a test:
# it prints figures and asserts nothing about them.
set -uo pipefail

caller_dir=$(pwd)
cd "$(dirname "$0")/.." || exit 1
root=$(pwd)

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

secs=5 builds_arg="" rounds=1 only=iperf3,sockperf,udp,ab,loss,conns plots=bench-plots
while [ $# -gt 0 ]; do
  case "$1" in
    --builds) [ $# -ge 2 ] || usage; builds_arg=$2; shift 2 ;;
    --builds=*) builds_arg=${1#--builds=}; shift ;;
    --rounds) [ $# -ge 2 ] || usage; rounds=$2; shift 2 ;;
    --rounds=*) rounds=${1#--rounds=}; shift ;;
    --only) [ $# -ge 2 ] || usage; only=$2; shift 2 ;;
    --plots) [ $# -ge 2 ] || usage; plots=$2; shift 2 ;;
    --only=*) only=${1#--only=}; shift ;;
    -h|--help) usage ;;
    *[!0-9]*|"") echo "bench: unknown argument '$1'" >&2; usage ;;
    *) secs=$1; shift ;;
  esac
done
[ "$secs" -ge 1 ] || { echo "bench: SECONDS must be at least 1" >&2; exit 2; }
[[ $rounds =~ ^[1-9][0-9]?$ ]] || { echo "bench: --rounds takes 1 to 99" >&2; exit 2; }
case "$plots" in /*) ;; *) plots="$caller_dir/$plots" ;; esac

# The 10 000-connection row.
conns_target=${BENCH_CONNS:-10000} conns_limit=${BENCH_CONNS_LIMIT:-60} conns_idle=5

# ---- what it needs ---------------------------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || { echo "bench: needs root (network namespaces)" >&2; exit 1; }
missing=()
for tool in ip ss timeout taskset iperf3 sockperf nginx ab nft ethtool cc python3; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench: missing: ${missing[*]} (Debian: apt-get install iproute2 iperf3 sockperf nginx-light apache2-utils nftables ethtool gcc python3)" >&2
  exit 1
fi

# ---- the builds under test -------------------------------------------------------------------------
names=() dirs=()
if [ -z "$builds_arg" ]; then
  cargo build --release --quiet || { echo "bench: cargo build --release failed" >&2; exit 1; }
  names=(current) dirs=("${CARGO_TARGET_DIR:-$root/target}/release")
else
  IFS=, read -r -a pairs <<<"$builds_arg"
  for pair in "${pairs[@]}"; do
    name=${pair%%=*} dir=${pair#*=}
    if [ "$name" = "$pair" ] || [ -z "$name" ] || [ -z "$dir" ] || [[ $name = *[!A-Za-z0-9._-]* ]]; then
      echo "bench: a build is NAME=DIR (NAME of letters, digits, . _ -), not '$pair'" >&2; exit 2
    fi
    case "$dir" in /*) ;; *) dir="$caller_dir/$dir" ;; esac
    for n in "${names[@]}"; do [ "$n" != "$name" ] || { echo "bench: build '$name' named twice" >&2; exit 2; }; done
    names+=("$name") dirs+=("$dir")
  done
fi
for i in "${!names[@]}"; do
  d=${dirs[$i]}
  if ! [ -x "$d/tapstack" ] || ! [ -f "$d/libtapstack.so" ]; then
    echo "bench: ${names[$i]}: $d must hold tapstack and libtapstack.so" >&2; exit 1
  fi
done

# ---- namespaces, and their end on any exit ---------------------------------------------------------
work=$(mktemp -d /tmp/bench.XXXXXX)
made_ns=()
kernel_ip=10.77.0.1 va=10.77.9.1 vb=10.77.9.2

# Ends every process in namespace $1 (all started by this script), then deletes it.
drop_ns() {
  local ns=$1 pids try
  for try in 1 2 3 4 5 6 7 8 9 10; do
    pids=$(ip netns pids "$ns" 2>/dev/null) || break
    [ -n "$pids" ] || break
    # shellcheck disable=SC2086 # one pid a word
    if [ "$try" -le 5 ]; then kill -TERM $pids 2>/dev/null; else kill -KILL $pids 2>/dev/null; fi
    sleep 0.2
  done
  ip netns delete "$ns" 2>/dev/null || true
}
cleanup() {
  trap - EXIT INT TERM HUP
  local ns
  for ns in "${made_ns[@]}"; do drop_ns "$ns"; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

ns_seq=0
# new_tap TAG: a new namespace with tap0 at 10.77.0.1/24; its name in $ns.
new_tap() {
  ns_seq=$((ns_seq + 1)); ns="bench-$1-$ns_seq-$$"
  made_ns+=("$ns")
  bash scripts/netns.sh create "$ns" >/dev/null 2>&1
}
# new_veth TAG: two new namespaces joined by a veth pair, $va in $nsa and $vb in $nsb.
new_veth() {
  ns_seq=$((ns_seq + 1)); nsa="bench-$1-$ns_seq-a-$$" nsb="bench-$1-$ns_seq-b-$$"
  local link="vb$ns_seq-$$"
  made_ns+=("$nsa" "$nsb")
  ip netns add "$nsa" && ip netns add "$nsb" \
    && ip link add "$link" netns "$nsa" type veth peer name "$link" netns "$nsb" \
    && ip -n "$nsa" link set lo up && ip -n "$nsb" link set lo up \
    && ip -n "$nsa" addr add "$va/24" dev "$link" && ip -n "$nsa" link set "$link" up \
    && ip -n "$nsb" addr add "$vb/24" dev "$link" && ip -n "$nsb" link set "$link" up
}

# wait_listen NS ADDR PORT: until a kernel socket listens there (up to 5 s).
wait_listen() {
  local _
  for _ in $(seq 50); do
    ip netns exec "$1" ss -Hltn "src $2:$3" 2>/dev/null | grep -q . && return 0
    sleep 0.1
  done
  return 1
}

# ---- results ---------------------------------------------------------------------------------------
declare -A vals     # vals[ROW,COLUMN]: the figure of each round, space-separated
declare -A cell     # cell[ROW,COLUMN]: their median, "-" where there is none, or "failed"
notes=()
# The smoltcp comparator, built from this tree (a dev-dependency of the tests, never of the stack).
smol=""
if [ "${BENCH_SMOLTCP:-1}" != 0 ]; then
  if (cd "$root" && cargo build --release --quiet --example smoltcp_peer) >"$work/smoltcp-build.log" 2>&1; then
    smol="${CARGO_TARGET_DIR:-$root/target}/release/examples/smoltcp_peer"
  else
    smol_fail="no smoltcp column: cargo build --example smoltcp_peer failed (see its log)"
  fi
fi
# The stack's own loop (examples/tapstack_peer.rs), built from this tree into its target/release, the
# default build; a build given with --builds has it in DIR/examples if it is recent enough.
if ! (cd "$root" && cargo build --release --quiet --example tapstack_peer) >"$work/tapstack-peer-build.log" 2>&1; then
  peer_fail="cargo build --example tapstack_peer failed (see its log): the default build has no figure in the row of the stack in the program"
fi
cols=(kernel)
[ -z "$smol" ] || cols+=(smoltcp)
cols+=("${names[@]}")
round=1
# set_cell ROW COLUMN VALUE; fail_cell ROW COLUMN [REASON] (the reason goes to the notes).
set_cell() { vals[$1,$2]+=" $3"; }
fail_cell() {
  local in=""
  [ "$rounds" -eq 1 ] || [ -z "$round" ] || in=" (round $round)"
  [ -z "${3:-}" ] || notes+=("$2, $(row_label "$1")$in: $3")
}
# median VALUES: the middle one (the mean of the middle two), with the first's decimals.
median() {
  tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 }
    END { d = index(v[1], ".") ? length(v[1]) - index(v[1], ".") : 0
          m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
          printf "%." d "f\n", m }'
}
note() { notes+=("$1"); }
[ -z "${smol_fail:-}" ] || note "$smol_fail"
[ -z "${peer_fail:-}" ] || note "$peer_fail"
# figure FILE: FILE's last line, a number, in $val (else that line is the reason, in $why).
figure() {
  val=$(tail -1 "$1")
  why="$val"
  [[ $val =~ ^[0-9.]+$ ]]
}
# last_line FILE: its last non-empty line, cut short, for a failure's reason.
last_line() { grep -v '^[[:space:]]*$' "$1" 2>/dev/null | tail -1 | sed 's/\x1b\[[0-9;]*m//g' | cut -c1-120; }

rows=(tx rx lat_avg lat_med lat_pin echo_avg echo_med echo_peer echo_pin udp cps cps_cpu loop loop_cpu peer peer_cpu loss2 loss5 loss15 conn_n conn_t conn_ocpu conn_cpu conn_rss)
row_label() {
  case $1 in
    tx) echo "iperf3 one stream, stack sending (Gbit/s)" ;;
    rx) echo "iperf3 one stream, stack receiving (Gbit/s)" ;;
    lat_avg) echo "sockperf TCP 64 B one-way latency, avg (us)" ;;
    lat_med) echo "sockperf TCP 64 B one-way latency, median (us)" ;;
    lat_pin) echo "  the same, every process on CPU 0, median (us)" ;;
    echo_avg) echo "64 B echo ping-pong one-way, avg (us)" ;;
    echo_med) echo "64 B echo ping-pong one-way, median (us)" ;;
    echo_peer) echo "  the same, the stack in the program, median (us)" ;;
    echo_pin) echo "  the same, every process on CPU 0, median (us)" ;;
    udp) echo "UDP 64 B echo server on the stack, 20 in flight (/s)" ;;
    cps) echo "ab -n 5000 -c 8 to nginx, no keep-alive (conn/s)" ;;
    cps_cpu | loop_cpu | peer_cpu) echo "  CPU of the machine per connection (us)" ;;
    loop) echo "one client loop, 8 at a time, to nginx (conn/s)" ;;
    peer) echo "the same loop, the stack in the program (conn/s)" ;;
    loss*) echo "16 MiB each way, ${1#loss}% of frames lost each way (s)" ;;
    conn_n) echo "$conns_target connections: opened within ${conns_limit} s" ;;
    conn_t) echo "$conns_target connections: time to open them (s)" ;;
    conn_ocpu) echo "  CPU of all processes while opening (s)" ;;
    conn_cpu) echo "  then idle ${conns_idle} s: CPU of all processes (ms)" ;;
    conn_rss) echo "  then idle: resident memory per conn. (KiB)" ;;
  esac
}
# Whether more is better (hi) or less (lo): ratios are oriented so that above 1 is faster.
row_sense() { case $1 in lat_* | echo_* | loss* | *_cpu | conn_t | conn_ocpu | conn_cpu | conn_rss) echo lo ;; *) echo hi ;; esac; }

# ---- row 1: one iperf3 stream each way -------------------------------------------------------------
gbits() { python3 -c "import json,sys; print('%.2f' % (json.load(open(sys.argv[1]))['end']['sum_received']['bits_per_second'] / 1e9))" "$1" 2>/dev/null; }

# iperf_one OUT_NS SERVER_NS SERVER_ADDR LOG [PRELOAD] [-R]: one stream; the figure in $val.
iperf_one() {
  local cns=$1 sns=$2 addr=$3 log=$4 pre=$5; shift 5
  val=""
  ip netns exec "$sns" timeout $((secs + 20)) iperf3 -s -1 -B "$addr" >/dev/null 2>&1 &
  disown $!
  wait_listen "$sns" "$addr" 5201 || { echo "iperf3 server did not listen" >"$log"; return 1; }
  # shellcheck disable=SC2086 # $pre is empty or the preload command
  ip netns exec "$cns" timeout -k 2 $((secs + 15)) $pre iperf3 -J -c "$addr" -t "$secs" "$@" >"$log" 2>"$log.err"
  val=$(gbits "$log") && [ -n "$val" ]
}
iperf_reason() {
  python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['error'])" "$1" 2>/dev/null \
    || { [ -s "$1.err" ] && last_line "$1.err"; } || last_line "$1" | grep . || echo "iperf3 gave no result"
}

bench_iperf() {
  if new_veth iperf; then
    if iperf_one "$nsa" "$nsb" "$vb" "$work/iperf-k.json" ""; then
      set_cell tx kernel "$val"; set_cell rx kernel "$val"
    else
      fail_cell tx kernel "$(iperf_reason "$work/iperf-k.json")"; fail_cell rx kernel
    fi
    drop_ns "$nsa"; drop_ns "$nsb"
  else
    fail_cell tx kernel "could not make the veth namespaces"; fail_cell rx kernel
  fi
  local i n
  for i in "${!names[@]}"; do
    n=${names[$i]}
    if ! new_tap iperf; then fail_cell tx "$n" "could not make the namespace"; fail_cell rx "$n"; continue; fi
    if iperf_one "$ns" "$ns" "$kernel_ip" "$work/iperf-tx-$i.json" "${dirs[$i]}/tapstack run --"; then
      set_cell tx "$n" "$val"
      [ ! -s "$work/iperf-tx-$i.json.err" ] || note "$n, iperf3 sending: stderr said: $(head -1 "$work/iperf-tx-$i.json.err" | cut -c1-120)"
    else
      fail_cell tx "$n" "$(iperf_reason "$work/iperf-tx-$i.json")"
    fi
    if iperf_one "$ns" "$ns" "$kernel_ip" "$work/iperf-rx-$i.json" "${dirs[$i]}/tapstack run --" -R; then
      set_cell rx "$n" "$val"
      [ ! -s "$work/iperf-rx-$i.json.err" ] || note "$n, iperf3 receiving: stderr said: $(head -1 "$work/iperf-rx-$i.json.err" | cut -c1-120)"
    else
      fail_cell rx "$n" "$(iperf_reason "$work/iperf-rx-$i.json")"
    fi
    drop_ns "$ns"
  done
  [ -n "$smol" ] || return 0
  local dir mode
  for dir in tx rx; do
    mode=sink; [ "$dir" = tx ] || mode=source
    why="could not make the namespace"
    if new_tap smol && smol_stream "$ns" "$dir" "$mode"; then
      set_cell "$dir" smoltcp "$val"
    else
      fail_cell "$dir" smoltcp "$why"
    fi
    drop_ns "$ns"
  done
}

cat >"$work/stream.py" <<'PY'
import os, socket, sys
mode, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((addr, port))
l.listen(1)
s, _ = l.accept()
if mode == 'sink':
    while s.recv(1 << 20):
        pass
else:
    b = os.urandom(1 << 20)
    try:
        while True:
            s.sendall(b)
    except OSError:
        pass
PY
# smol_stream NS tx|rx sink|source: smoltcp's stream rate (Gbit/s) in $val, against a python3
# sink or source on the kernel side of tap0.
smol_stream() {
  local ns=$1 dir=$2 mode=$3 out="$work/smol-$2.log"
  val=""
  ip netns exec "$ns" timeout $((secs + 40)) python3 "$work/stream.py" "$mode" "$kernel_ip" 9300 >/dev/null 2>&1 &
  disown $!
  why="the kernel's $mode did not listen"
  wait_listen "$ns" "$kernel_ip" 9300 || return 1
  local m=send; [ "$dir" = tx ] || m=recv
  ip netns exec "$ns" timeout -k 2 $((secs + 35)) "$smol" "$m" 9300 "$secs" >"$out" 2>&1 \
    || { why="exit $?: $(last_line "$out")"; return 1; }
  figure "$out"
}

# ---- row 2: sockperf ping-pong latency -------------------------------------------------------------
# sockperf_one CLIENT_NS SERVER_NS ADDR LOG PRELOAD [PIN]: the figures in $avg and $med; PIN is a
# command both sides run under (taskset -c 0).
sockperf_one() {
  local cns=$1 sns=$2 addr=$3 log=$4 pre=$5 pin=${6:-}
  avg="" med=""
  # shellcheck disable=SC2086 # $pin is empty or the taskset command
  ip netns exec "$sns" $pin timeout $((secs + 30)) sockperf server --tcp -i "$addr" -p 11111 >/dev/null 2>&1 &
  disown $!
  why="the sockperf server did not listen"
  wait_listen "$sns" "$addr" 11111 || return 1
  # shellcheck disable=SC2086 # $pre is empty or the preload command
  ip netns exec "$cns" $pin timeout -k 2 $((secs + 20)) $pre sockperf ping-pong --tcp -i "$addr" -p 11111 \
    -m 64 -t "$secs" >"$log" 2>&1
  local rc=$?
  sed -i 's/\x1b\[[0-9;]*m//g' "$log"
  why="exit $rc: $(last_line "$log")"
  avg=$(sed -n 's/.*avg-latency=\([0-9.]*\).*/\1/p' "$log" | tail -1)
  med=$(sed -n 's/.*percentile 50.000 = *\([0-9.]*\).*/\1/p' "$log" | tail -1)
  [ -n "$avg" ] && [ -n "$med" ]
}

bench_sockperf() {
  why="could not make the veth namespaces"
  if new_veth lat && sockperf_one "$nsa" "$nsb" "$vb" "$work/sockperf-k.log" ""; then
    set_cell lat_avg kernel "$(printf %.2f "$avg")"; set_cell lat_med kernel "$(printf %.2f "$med")"
  else
    fail_cell lat_avg kernel "$why"; fail_cell lat_med kernel
  fi
  drop_ns "$nsa"; drop_ns "$nsb"
  why="could not make the veth namespaces"
  if new_veth lat && sockperf_one "$nsa" "$nsb" "$vb" "$work/sockperf-k-pin.log" "" "taskset -c 0"; then
    set_cell lat_pin kernel "$(printf %.2f "$med")"
  else
    fail_cell lat_pin kernel "$why"
  fi
  drop_ns "$nsa"; drop_ns "$nsb"
  local i n
  for i in "${!names[@]}"; do
    n=${names[$i]}
    why="could not make the namespace"
    if new_tap lat && sockperf_one "$ns" "$ns" "$kernel_ip" "$work/sockperf-$i.log" "${dirs[$i]}/tapstack run --"; then
      set_cell lat_avg "$n" "$(printf %.2f "$avg")"; set_cell lat_med "$n" "$(printf %.2f "$med")"
    else
      fail_cell lat_avg "$n" "$why"; fail_cell lat_med "$n"
    fi
    drop_ns "$ns"
    why="could not make the namespace"
    if new_tap lat && sockperf_one "$ns" "$ns" "$kernel_ip" "$work/sockperf-$i-pin.log" "${dirs[$i]}/tapstack run --" "taskset -c 0"; then
      set_cell lat_pin "$n" "$(printf %.2f "$med")"
    else
      fail_cell lat_pin "$n" "$why"
    fi
    drop_ns "$ns"
  done
}

# echo_one CLIENT_NS SERVER_NS ADDR LOG CLIENT...: pingpong.c's server on SERVER_NS, CLIENT... (the
# ping) on CLIENT_NS; the one-way average and median in $avg and $med. With $echo_pin set (the
# taskset command), the server runs under it too.
echo_pin=""
echo_one() {
  local cns=$1 sns=$2 addr=$3 log=$4
  shift 4
  avg="" med=""
  # shellcheck disable=SC2086 # $echo_pin is empty or the taskset command
  ip netns exec "$sns" $echo_pin timeout $((secs + 30)) "$work/pingpong" serve "$addr" 9400 >"$log.server" 2>&1 &
  disown $!
  why="the echo server did not listen"
  wait_listen "$sns" "$addr" 9400 || return 1
  ip netns exec "$cns" timeout -k 2 $((secs + 25)) "$@" >"$log" 2>&1 || { why="exit $?: $(last_line "$log")"; return 1; }
  read -r avg med < <(tail -1 "$log")
  why="no figures: $(last_line "$log")"
  [[ $avg =~ ^[0-9.]+$ && $med =~ ^[0-9.]+$ ]]
}

bench_echo() {
  local i n
  if ! cc -O2 -Wall -o "$work/pingpong" scripts/bench/pingpong.c 2>"$work/cc-pingpong.log"; then
    for c in "${cols[@]}"; do fail_cell echo_avg "$c" "cc scripts/bench/pingpong.c: $(last_line "$work/cc-pingpong.log")"; fail_cell echo_med "$c"; done
    return
  fi
  why="could not make the veth namespaces"
  if new_veth echo && echo_one "$nsa" "$nsb" "$vb" "$work/echo-k.log" "$work/pingpong" ping "$vb" 9400 "$secs"; then
    set_cell echo_avg kernel "$avg"; set_cell echo_med kernel "$med"
  else
    fail_cell echo_avg kernel "$why"; fail_cell echo_med kernel
  fi
  drop_ns "$nsa"; drop_ns "$nsb"
  why="could not make the veth namespaces"
  echo_pin="taskset -c 0"
  # shellcheck disable=SC2086 # $echo_pin is the taskset command
  if new_veth echo && echo_one "$nsa" "$nsb" "$vb" "$work/echo-k-pin.log" $echo_pin "$work/pingpong" ping "$vb" 9400 "$secs"; then
    set_cell echo_pin kernel "$med"
  else
    fail_cell echo_pin kernel "$why"
  fi
  echo_pin=""
  drop_ns "$nsa"; drop_ns "$nsb"
  for i in "${!names[@]}"; do
    n=${names[$i]}
    why="could not make the namespace"
    if new_tap echo && echo_one "$ns" "$ns" "$kernel_ip" "$work/echo-$i.log" \
      "${dirs[$i]}/tapstack" run -- "$work/pingpong" ping "$kernel_ip" 9400 "$secs"; then
      set_cell echo_avg "$n" "$avg"; set_cell echo_med "$n" "$med"
    else
      fail_cell echo_avg "$n" "$why"; fail_cell echo_med "$n"
    fi
    drop_ns "$ns"
  done
  [ -n "$smol" ] || return 0
  why="could not make the namespace"
  if new_tap smol && echo_one "$ns" "$ns" "$kernel_ip" "$work/echo-smol.log" "$smol" ping 9400 "$secs"; then
    set_cell echo_avg smoltcp "$avg"; set_cell echo_med smoltcp "$med"; set_cell echo_peer smoltcp "$med"
  else
    fail_cell echo_avg smoltcp "$why"; fail_cell echo_med smoltcp; fail_cell echo_peer smoltcp
  fi
  drop_ns "$ns"
  why="could not make the namespace"
  echo_pin="taskset -c 0"
  # shellcheck disable=SC2086 # $echo_pin is the taskset command
  if new_tap smolpin && echo_one "$ns" "$ns" "$kernel_ip" "$work/echo-smol-pin.log" $echo_pin "$smol" ping 9400 "$secs"; then
    set_cell echo_pin smoltcp "$med"
  else
    fail_cell echo_pin smoltcp "$why"
  fi
  echo_pin=""
  drop_ns "$ns"
}

# The ping-pong with each build's stack in the program (examples/tapstack_peer.rs `ping`): beside
# smoltcp's, which is in the program too, it compares the stacks; beside the row above, it shows
# what the hand-off to the service costs. "-" for the kernel and for a build without the example.
# Then the same with the program and the echo server on CPU 0 (the kernel's: both ends over veth):
# with no wake-up of a halted CPU between them, what is left is what the stacks cost.
bench_echo_peer() {
  local i n prog
  set_cell echo_peer kernel "-"
  for i in "${!names[@]}"; do
    n=${names[$i]} prog="${dirs[$i]}/examples/tapstack_peer"
    if ! [ -x "$prog" ] || ! grep -q ' ping ' < <("$prog" 2>&1); then
      set_cell echo_peer "$n" "-"
      set_cell echo_pin "$n" "-"
      continue
    fi
    why="could not make the namespace"
    if new_tap pecho && echo_one "$ns" "$ns" "$kernel_ip" "$work/echo-peer-$i.log" "$prog" ping 9400 "$secs"; then
      set_cell echo_peer "$n" "$med"
    else
      fail_cell echo_peer "$n" "$why"
    fi
    drop_ns "$ns"
    why="could not make the namespace"
    echo_pin="taskset -c 0"
    # shellcheck disable=SC2086 # $echo_pin is the taskset command
    if new_tap pechopin && echo_one "$ns" "$ns" "$kernel_ip" "$work/echo-peer-$i-pin.log" $echo_pin "$prog" ping 9400 "$secs"; then
      set_cell echo_pin "$n" "$med"
    else
      fail_cell echo_pin "$n" "$why"
    fi
    echo_pin=""
    drop_ns "$ns"
  done
}

# ---- UDP request/response, the server on the stack -------------------------------------------------
# udp_one CLIENT_NS SERVER_NS ADDR LOG [PRELOAD]: udpecho.c's server on SERVER_NS at ADDR (under
# PRELOAD), its load on CLIENT_NS; answers a second in $val.
udp_one() {
  local cns=$1 sns=$2 addr=$3 log=$4 pre=${5:-} _
  val=""
  # shellcheck disable=SC2086 # $pre is empty or the preload command
  ip netns exec "$sns" timeout $((secs + 30)) $pre "$work/udpecho" serve "$addr" 9500 >"$log.server" 2>&1 &
  disown $!
  why="the UDP echo server did not start: $(last_line "$log.server")"
  for _ in $(seq 50); do grep -q listening "$log.server" 2>/dev/null && break; sleep 0.1; done
  grep -q listening "$log.server" || return 1
  ip netns exec "$cns" timeout -k 2 $((secs + 20)) "$work/udpecho" load "$addr" 9500 20 "$secs" >"$log" 2>&1 \
    || { why="exit $?: $(last_line "$log")"; return 1; }
  read -r val _ < <(tail -1 "$log")
  why="no figure: $(last_line "$log")"
  [[ $val =~ ^[0-9]+$ ]]
}

bench_udp() {
  local i n
  if ! cc -O2 -Wall -o "$work/udpecho" scripts/bench/udpecho.c 2>"$work/cc-udpecho.log"; then
    for c in "${cols[@]}"; do fail_cell udp "$c" "cc scripts/bench/udpecho.c: $(last_line "$work/cc-udpecho.log")"; done
    return
  fi
  why="could not make the veth namespaces"
  if new_veth udp && udp_one "$nsa" "$nsb" "$vb" "$work/udp-k.log"; then
    set_cell udp kernel "$val"
  else
    fail_cell udp kernel "$why"
  fi
  drop_ns "$nsa"; drop_ns "$nsb"
  for i in "${!names[@]}"; do
    n=${names[$i]}
    why="could not make the namespace"
    if new_tap udp && udp_one "$ns" "$ns" 10.77.0.2 "$work/udp-$i.log" "${dirs[$i]}/tapstack run --"; then
      set_cell udp "$n" "$val"
    else
      fail_cell udp "$n" "$why"
    fi
    drop_ns "$ns"
  done
}

# ---- row 3: new connections per second, ab against nginx ------------------------------------------
# nginx_conf ADDR DIR: a one-worker nginx serving a small file at /small on ADDR:8080, all under DIR.
nginx_conf() {
  mkdir -p "$2/html" "$2/logs"
  head -c 128 /dev/zero | tr '\0' x >"$2/html/small"
  cat >"$2/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
error_log $2/logs/error.log warn;
pid $2/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_timeout 0;
  client_body_temp_path $2/tmp-body;
  proxy_temp_path $2/tmp-proxy;
  fastcgi_temp_path $2/tmp-fastcgi;
  uwsgi_temp_path $2/tmp-uwsgi;
  scgi_temp_path $2/tmp-scgi;
  server { listen $1:8080 backlog=4096; root $2/html; }
}
CONF
}

# start_nginx NS ADDR DIR: nginx_conf's server running in NS (for up to 150 s), listening.
start_nginx() {
  nginx_conf "$2" "$3"
  ip netns exec "$1" timeout 150 nginx -c "$3/nginx.conf" -p "$3" -e "$3/logs/error.log" \
    >"$3/nginx.out" 2>&1 &
  disown $!
  why="nginx did not listen"
  wait_listen "$1" "$2" 8080 || { why="$why: $(last_line "$3/logs/error.log")"; return 1; }
}

# busy_ticks: the CPU time the whole machine has spent busy (user, nice, system, irq, softirq,
# steal), in clock ticks: every process and kernel thread that a run of connections makes work
# (the service, the kernel's TCP, its workers), where no one process's count would show them all.
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }
# per_conn_us TICKS N: microseconds of CPU per connection, in $cpu_val.
per_conn_us() { cpu_val=$(awk -v t="$1" -v h="$tck" -v n="$2" 'BEGIN {printf "%.0f", t * 1e6 / h / n}'); }

# client_run CLIENT_NS SERVER_NS ADDR DIR LOG SECONDS COMMAND...: nginx (start_nginx) on SERVER_NS,
# then COMMAND (5000 connections to it) on CLIENT_NS for up to SECONDS, its output in LOG; the
# machine's CPU per connection meanwhile in $cpu_val. COMMAND starts with the preload, if any.
client_run() {
  local cns=$1 sns=$2 addr=$3 dir=$4 log=$5 secs=$6 t0
  shift 6
  cpu_val=""
  start_nginx "$sns" "$addr" "$dir" || return 1
  t0=$(busy_ticks)
  ip netns exec "$cns" timeout -k 2 "$secs" "$@" >"$log" 2>&1 \
    || { why="exit $?: $(last_line "$log")"; return 1; }
  per_conn_us $(($(busy_ticks) - t0)) 5000
}

# ab_one CLIENT_NS SERVER_NS ADDR DIR [PRELOAD]: connections per second in $val, the machine's CPU
# per connection in $cpu_val; $client_note says what failed, if any requests did.
ab_one() {
  local addr=$3 dir=$4 pre=$5
  val=""
  # shellcheck disable=SC2086 # $pre is empty or the preload command
  client_run "$1" "$2" "$addr" "$dir" "$dir/ab.log" 90 $pre ab -q -n 5000 -c 8 "http://$addr:8080/small" \
    || return 1
  val=$(awk '/^Requests per second/ {printf "%.0f", $4}' "$dir/ab.log")
  local complete failed
  complete=$(awk '/^Complete requests/ {print $3}' "$dir/ab.log")
  failed=$(awk '/^Failed requests/ {print $3}' "$dir/ab.log")
  if [ "${failed:-0}" != 0 ] || [ "${complete:-0}" != 5000 ]; then client_note="$complete complete, $failed failed"; fi
  why="no figure in ab's output"
  [ -n "$val" ]
}

# loop_one CLIENT_NS SERVER_NS ADDR DIR [PRELOAD]: scripts/bench/connloop.c's connections per second
# in $val, the machine's CPU per connection in $cpu_val.
loop_one() {
  local addr=$3 dir=$4 pre=$5
  val=""
  # shellcheck disable=SC2086 # $pre is empty or the preload command
  client_run "$1" "$2" "$addr" "$dir" "$dir/loop.log" 130 $pre "$work/connloop" "$addr" 8080 5000 8 \
    || return 1
  figure "$dir/loop.log"
}

# client_rows ROW ONE: ROW and ROW_cpu for the kernel (over veth) and each build, from ONE (ab_one
# or loop_one), with a note for a column whose client saw failures.
client_rows() {
  local row=$1 one=$2 i n
  client_note=""
  why="could not make the veth namespaces"
  if new_veth "$row" && "$one" "$nsa" "$nsb" "$vb" "$work/$row-k" ""; then
    set_cell "$row" kernel "$val"; set_cell "${row}_cpu" kernel "$cpu_val"
  else
    fail_cell "$row" kernel "$why"
  fi
  [ -z "$client_note" ] || note "kernel, $(row_label "$row"): $client_note"
  drop_ns "$nsa"; drop_ns "$nsb"
  for i in "${!names[@]}"; do
    n=${names[$i]} client_note=""
    why="could not make the namespace"
    if new_tap "$row" && "$one" "$ns" "$ns" "$kernel_ip" "$work/$row-$i" "${dirs[$i]}/tapstack run --"; then
      set_cell "$row" "$n" "$val"; set_cell "${row}_cpu" "$n" "$cpu_val"
    else
      fail_cell "$row" "$n" "$why"
    fi
    [ -z "$client_note" ] || note "$n, $(row_label "$row"): $client_note"
    drop_ns "$ns"
  done
}

bench_ab() { client_rows cps ab_one; }

# The connection rate with one client for all: smoltcp cannot run ab (it has no socket API a
# preload could drive), so its own loop (smoltcp_peer http) is the figure, and the same loop written
# against the socket API (connloop.c) runs on the kernel and through each build.
bench_loop() {
  if ! cc -O2 -Wall -o "$work/connloop" scripts/bench/connloop.c 2>"$work/cc-connloop.log"; then
    for c in "${cols[@]}"; do fail_cell loop "$c" "cc scripts/bench/connloop.c: $(last_line "$work/cc-connloop.log")"; done
    return 0
  fi
  client_rows loop loop_one
  [ -n "$smol" ] || return 0
  why="could not make the namespace"
  # The same program as the row of the stack in the program, so its one figure serves both rows.
  if new_tap smol && peer_http "$ns" "$work/loop-smol" "$smol"; then
    set_cell loop smoltcp "$val"; set_cell loop_cpu smoltcp "$cpu_val"
    set_cell peer smoltcp "$val"; set_cell peer_cpu smoltcp "$cpu_val"
  else
    fail_cell loop smoltcp "$why"; fail_cell peer smoltcp
  fi
  drop_ns "$ns"
}

# peer_http NS DIR PROGRAM: PROGRAM's own HTTP loop (smoltcp_peer or tapstack_peer, `http`) against
# nginx on the kernel side: connections per second in $val, the machine's CPU per connection in
# $cpu_val.
peer_http() {
  local ns=$1 dir=$2 prog=$3
  val=""
  client_run "$ns" "$ns" "$kernel_ip" "$dir" "$dir/peer.log" 130 "$prog" http 8080 5000 8 || return 1
  figure "$dir/peer.log"
}

# The loop with each build's stack in the program (examples/tapstack_peer.rs), no service between:
# beside the loop through the preload, it shows what the engine costs and what the hand-off does.
# smoltcp's cell is filled by bench_loop; the kernel has no such program.
bench_peer() {
  local i n prog
  set_cell peer kernel "-"; set_cell peer_cpu kernel "-"
  for i in "${!names[@]}"; do
    n=${names[$i]} prog="${dirs[$i]}/examples/tapstack_peer"
    if ! [ -x "$prog" ]; then
      set_cell peer "$n" "-"; set_cell peer_cpu "$n" "-"
      continue
    fi
    why="could not make the namespace"
    if new_tap peer && peer_http "$ns" "$work/peer-$i" "$prog"; then
      set_cell peer "$n" "$val"; set_cell peer_cpu "$n" "$cpu_val"
    else
      fail_cell peer "$n" "$why"
    fi
    drop_ns "$ns"
  done
}

# ---- row 4: 16 MiB each way through loss -----------------------------------------------------------
cat >"$work/lossy.py" <<'PY'
import os, socket, struct, sys, threading, time
N = 16 << 20
role, host = sys.argv[1], sys.argv[2]
trace = sys.argv[3] if len(sys.argv) > 3 else None
if role == 'server':
    l = socket.socket()
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((host, 9100))
    l.listen(1)
    print('READY', flush=True)
    s, _ = l.accept()
else:
    s = socket.create_connection((host, 9100), timeout=10)
    s.settimeout(None)
data = os.urandom(N)
got = [0]
def rx():
    while got[0] < N:
        b = s.recv(1 << 20)
        if not b:
            break
        got[0] += len(b)
done = [False]
def sample():
    # TCP_INFO every 2 ms: tcpi_rtt (offset 68), snd_mss (16), snd_cwnd (80), bytes_acked (120).
    rows = ['ms,bytes_acked,cwnd_bytes,rtt_us']
    while not done[0]:
        try:
            i = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 136)
        except OSError:
            break
        if len(i) >= 128:
            mss, = struct.unpack_from('I', i, 16)
            rtt, = struct.unpack_from('I', i, 68)
            cwnd, = struct.unpack_from('I', i, 80)
            acked, = struct.unpack_from('Q', i, 120)
            rows.append('%.1f,%d,%d,%d' % ((time.monotonic() - t0) * 1e3, acked, cwnd * mss, rtt))
        time.sleep(0.002)
    open(trace, 'w').write('\n'.join(rows) + '\n')
t0 = time.monotonic()
th = threading.Thread(target=rx)
th.start()
if trace:
    st = threading.Thread(target=sample)
    st.start()
s.sendall(data)
th.join(timeout=100)
took = time.monotonic() - t0
done[0] = True
if trace:
    st.join()
s.close()
print('%.3f' % took if got[0] == N else 'short %d' % got[0], flush=True)
PY
# drop_both NS DEV PERCENT: nftables drops PERCENT% of the frames DEV receives and sends.
drop_both() {
  local rule="numgen random mod 100 < $3 drop"
  ip netns exec "$1" nft -f - <<NFT
table netdev loss {
  chain in  { type filter hook ingress device "$2" priority 0; $rule; }
  chain out { type filter hook egress  device "$2" priority 0; $rule; }
}
NFT
}
# loss_one CLIENT_NS SERVER_NS ADDR LOG PRELOAD [TRACE]: the client's time in $val (the rules are
# set); with TRACE, the client's TCP_INFO samples go there.
loss_one() {
  local cns=$1 sns=$2 addr=$3 log=$4 pre=$5 trace=${6:-}
  val=""
  ip netns exec "$sns" timeout 120 python3 "$work/lossy.py" server "$addr" >"$log.server" 2>&1 &
  disown $!
  why="the server did not listen"
  wait_listen "$sns" "$addr" 9100 || return 1
  # shellcheck disable=SC2086 # $pre is empty or the preload command
  ip netns exec "$cns" env TAPSTACK_OFFLOAD=off timeout -k 2 100 $pre python3 "$work/lossy.py" client "$addr" \
    $trace >"$log" 2>&1 || { why="exit $?: $(last_line "$log")"; return 1; }
  figure "$log"
}

# trace_for PERCENT NAME: where the transfer's samples go, for the 5% transfers of the first round.
trace_for() { if [ "$1" = 5 ] && [ "${round:-1}" = 1 ]; then echo "$work/trace-$2.csv"; fi; }

bench_loss() {
  local p i n veth
  for p in 2 5 15; do
    why="could not make the veth namespaces"
    veth="vb$((ns_seq + 1))-$$"
    if new_veth loss && ip netns exec "$nsa" ethtool -K "$veth" tso off gso off gro off tx off >/dev/null 2>&1 \
      && ip netns exec "$nsb" ethtool -K "$veth" tso off gso off gro off tx off >/dev/null 2>&1 \
      && ip netns exec "$nsa" ping -c 1 -W 2 "$vb" >/dev/null 2>&1 \
      && drop_both "$nsb" "$veth" "$p" && loss_one "$nsa" "$nsb" "$vb" "$work/loss-k-$p.log" "" "$(trace_for "$p" kernel)"; then
      set_cell "loss$p" kernel "$val"
    else
      fail_cell "loss$p" kernel "$why"
    fi
    drop_ns "$nsa"; drop_ns "$nsb"
    for i in "${!names[@]}"; do
      n=${names[$i]}
      why="could not make the namespace"
      if new_tap loss && drop_both "$ns" tap0 "$p" \
        && loss_one "$ns" "$ns" "$kernel_ip" "$work/loss-$i-$p.log" "${dirs[$i]}/tapstack run --" "$(trace_for "$p" "$i")"; then
        set_cell "loss$p" "$n" "$val"
      else
        fail_cell "loss$p" "$n" "$why"
      fi
      drop_ns "$ns"
    done
    [ -n "$smol" ] || continue
    why="could not make the namespace"
    if new_tap smol && drop_both "$ns" tap0 "$p" && smol_loss "$ns" "$work/loss-smol-$p.log"; then
      set_cell "loss$p" smoltcp "$val"
    else
      fail_cell "loss$p" smoltcp "$why"
    fi
    drop_ns "$ns"
  done
}

# smol_loss NS LOG: smoltcp's time for 16 MiB each way with lossy.py's server, in $val.
smol_loss() {
  val=""
  ip netns exec "$1" timeout 130 python3 "$work/lossy.py" server "$kernel_ip" >"$2.server" 2>&1 &
  disown $!
  why="the server did not listen"
  wait_listen "$1" "$kernel_ip" 9100 || return 1
  ip netns exec "$1" timeout -k 2 125 "$smol" both 9100 >"$2" 2>&1 || { why="exit $?: $(last_line "$2")"; return 1; }
  figure "$2"
}

# ---- row 5: 10 000 connections, opened then idle ---------------------------------------------------
tck=$(getconf CLK_TCK)
# cpu_ticks NS...: "PID TICKS" (utime + stime) of every process in the namespaces.
cpu_ticks() {
  local ns pid
  for ns in "$@"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
      # Fields after the command name, which is in parentheses and may hold spaces.
      sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk -v p="$pid" '{print p, $12 + $13}'
    done
  done
}
# rss_kib NS [EXCEPT_PID]: the resident memory of the namespace's processes, in KiB.
rss_kib() {
  local pid sum=0 kib
  for pid in $(ip netns pids "$1" 2>/dev/null); do
    [ "$pid" != "${2:-}" ] || continue
    kib=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
    sum=$((sum + ${kib:-0}))
  done
  echo "$sum"
}
# wait_line FILE PATTERN SECONDS [PID]: until a line of FILE matches (or process PID has ended).
wait_line() {
  local _
  for _ in $(seq $(($3 * 10))); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    [ -z "${4:-}" ] || kill -0 "$4" 2>/dev/null || break
    sleep 0.1
  done
  grep -q "$2" "$1" 2>/dev/null
}

# poke FIFO: one line to the opener (bounded: a FIFO whose reader is gone would block the writer).
# shellcheck disable=SC2016 # $1 is the inner shell's
poke() { timeout 2 bash -c 'echo go >"$1"' _ "$1"; }

# conns_one COL OPEN_NS HOLD_NS ADDR TAG [PRELOAD]: fills the four conn_* cells of COL.
conns_one() {
  local col=$1 ons=$2 hns=$3 addr=$4 tag=$5 pre=$6
  local log="$work/conns-$tag.log" hlog="$work/hold-$tag.log" fifo="$work/conns-$tag.fifo"
  mkfifo "$fifo"
  ip netns exec "$hns" timeout $((conns_limit + 60)) "$work/conns" hold "$addr" 9000 >"$hlog" 2>&1 &
  local holder=$!
  disown "$holder"
  if ! wait_line "$hlog" '^listening pid=' 5 "$holder"; then
    fail_cell conn_n "$col" "the holder did not listen: $(last_line "$hlog")"; return
  fi
  holder=$(sed -n 's/^listening pid=//p' "$hlog")
  # shellcheck disable=SC2086 # $pre is empty or the preload command
  ip netns exec "$ons" timeout -k 2 $((conns_limit + 60)) $pre "$work/conns" open "$addr" 9000 \
    "$conns_target" "$conns_limit" "$fifo" >"$log" 2>&1 &
  local opener=$!
  disown "$opener"
  if ! wait_line "$log" '^base$' 20 "$opener"; then
    fail_cell conn_n "$col" "the first connection did not open: $(last_line "$log")"; return
  fi
  sleep 0.5
  local base pid t namespaces=("$ons")
  local -A t0
  [ "$hns" = "$ons" ] || namespaces+=("$hns")
  base=$(rss_kib "$ons" "$holder")
  while read -r pid t; do t0[$pid]=$t; done < <(cpu_ticks "${namespaces[@]}")
  poke "$fifo"
  if ! wait_line "$log" '^opened=' $((conns_limit + 15)) "$opener"; then
    fail_cell conn_n "$col" "no report within $((conns_limit + 15)) s: $(last_line "$log")"; return
  fi
  local kv opened=0 secs_taken=0 failed=0 err=none
  for kv in $(grep '^opened=' "$log" | tail -1); do
    case $kv in
      opened=*) opened=${kv#*=} ;; secs=*) secs_taken=${kv#*=} ;;
      failed=*) failed=${kv#*=} ;; error=*) err=${kv#*=} ;;
    esac
  done
  set_cell conn_n "$col" "$opened"
  set_cell conn_t "$col" "$(printf %.2f "$secs_taken")"
  [ "$opened" = "$conns_target" ] || note "$col: opened $opened of $conns_target in $(printf %.1f "$secs_taken") s"
  [ "$failed" = 0 ] || note "$col: $failed connects failed while opening (first: ${err//_/ })"
  # The kernel side's own count: the holder's established connections.
  local seen
  seen=$(ip netns exec "$hns" ss -Htn state established "( sport = :9000 )" 2>/dev/null | wc -l)
  [ "$seen" = "$opened" ] || note "$col: opened $opened, but the kernel side holds $seen established connections"

  # Every process's CPU in the namespaces while opening, then over the idle window.
  local ticks=0 rss
  while read -r pid t; do ticks=$((ticks + t - ${t0[$pid]:-0})); t0[$pid]=$t; done < <(cpu_ticks "${namespaces[@]}")
  set_cell conn_ocpu "$col" "$(awk -v t="$ticks" -v h="$tck" 'BEGIN {printf "%.2f", t / h}')"
  sleep "$conns_idle"
  ticks=0
  while read -r pid t; do ticks=$((ticks + t - ${t0[$pid]:-0})); done < <(cpu_ticks "${namespaces[@]}")
  rss=$(rss_kib "$ons" "$holder")
  set_cell conn_cpu "$col" $((ticks * 1000 / tck))
  if [ "$col" = kernel ]; then
    set_cell conn_rss "$col" "-"
  elif [ "$opened" -gt 1 ]; then
    set_cell conn_rss "$col" "$(awk -v a="$rss" -v b="$base" -v n="$opened" 'BEGIN {printf "%.1f", (a - b) / (n - 1)}')"
  fi
  if ! kill -0 "$opener" 2>/dev/null; then note "$col: the opening program had exited before the idle window ended: $(last_line "$log")"; fi
  local said
  said=$(grep -cv '^base$\|^opened=' "$log")
  [ "$said" = 0 ] || note "$col: the opening program wrote $said other lines, the first: $(grep -v '^base$\|^opened=' "$log" | head -1 | cut -c1-120)"
  poke "$fifo"
}

bench_conns() {
  if ! cc -O2 -Wall -o "$work/conns" scripts/bench/conns.c 2>"$work/cc.log"; then
    local c
    for c in "${cols[@]}"; do fail_cell conn_n "$c" "cc scripts/bench/conns.c: $(last_line "$work/cc.log")"; done
    return
  fi
  if new_veth conns; then
    conns_one kernel "$nsa" "$nsb" "$vb" k ""
  else
    fail_cell conn_n kernel "could not make the veth namespaces"
  fi
  drop_ns "$nsa"; drop_ns "$nsb"
  local i n
  for i in "${!names[@]}"; do
    n=${names[$i]}
    if new_tap conns; then
      conns_one "$n" "$ns" "$ns" "$kernel_ip" "$i" "${dirs[$i]}/tapstack run --"
    else
      fail_cell conn_n "$n" "could not make the namespace"
    fi
    drop_ns "$ns"
  done
}

# ---- the run and the table -------------------------------------------------------------------------
started=$(date -u '+%Y-%m-%d %H:%M UTC')
load=$(cut -d' ' -f1-3 /proc/loadavg)
wants() { [[ ",$only," == *",$1,"* ]]; }
step() { printf 'bench: %-10s (%3d s)\n' "$1" "$SECONDS" >&2; }
for round in $(seq "$rounds"); do
  [ "$rounds" -eq 1 ] || echo "bench: round $round of $rounds" >&2
  wants iperf3 && { step iperf3; bench_iperf; }
  wants sockperf && { step sockperf; bench_sockperf; bench_echo; bench_echo_peer; }
  wants udp && { step udp; bench_udp; }
  wants ab && { step ab; bench_ab; bench_loop; bench_peer; }
  wants loss && { step loss; bench_loss; }
done
round=""
wants conns && { step conns; bench_conns; }
if wants loss && [ -f "$work/trace-kernel.csv" ]; then
  traces=("kernel=$work/trace-kernel.csv")
  for i in "${!names[@]}"; do traces+=("${names[$i]}=$work/trace-$i.csv"); done
  mkdir -p "$plots" && python3 scripts/bench/plot.py "$plots/loss5.svg" \
    "16 MiB each way, 5% of frames lost each way: the sender's view (TCP_INFO every 2 ms)" "${traces[@]}" \
    && note "plot of the 5% transfers: $plots/loss5.svg"
fi
step finished

# Each cell: the median of its rounds; their range aside when there were several.
spread=()
for r in "${rows[@]}"; do
  for c in "${cols[@]}"; do
    v=${vals[$r,$c]:-}
    if [ "$c" = smoltcp ] && [[ ! $r =~ ^(tx|rx|echo_.*|loop.*|peer.*|loss.*)$ ]]; then cell[$r,$c]=-
    elif [ -z "$v" ]; then cell[$r,$c]=failed
    elif [[ $v =~ ^( -)+$ ]]; then cell[$r,$c]=-
    else
      cell[$r,$c]=$(median "$v")
      read -r -a each <<<"$v"
      [ ${#each[@]} -le 1 ] || spread+=("$c, $(row_label "$r"): ${#each[@]} rounds,$v")
    fi
  done
done

# ratio ROW NUMERATOR_COLUMN DENOMINATOR_COLUMN: oriented by row_sense, "-" where it has no meaning.
ratio() {
  local a=${cell[$1,$2]:-} b=${cell[$1,$3]:-}
  [[ $a =~ ^[0-9.]+$ && $b =~ ^[0-9.]+$ ]] || { echo "-"; return; }
  [ "$(row_sense "$1")" = hi ] || { local t=$a; a=$b; b=$t; }
  awk -v a="$a" -v b="$b" 'BEGIN { if (b == 0) print "-"; else if (a / b < 0.1) printf "%.2g", a / b; else printf "%.2f", a / b }'
}

header=("${cols[@]}")
for n in "${names[@]}"; do header+=("$n/kernel"); done
last=$((${#names[@]} - 1))
[ -z "$smol" ] || header+=("${names[$last]}/smoltcp")
[ "$last" -eq 0 ] || header+=("${names[$last]}/${names[0]}")
width=10
for h in "${header[@]}"; do [ ${#h} -lt $width ] || width=$((${#h} + 1)); done

echo
echo "tapstack benchmark, $started: ${secs} s per stream and latency run, $rounds round(s); $(nproc) CPUs, load $load at start"
for i in "${!names[@]}"; do
  commit=""
  [ -f "${dirs[$i]}/COMMIT" ] && commit=" (commit $(head -c 12 "${dirs[$i]}/COMMIT"))"
  echo "  ${names[$i]} = ${dirs[$i]}$commit"
done
echo "  kernel = the same programs, no preload, between two namespaces over veth"
printf '%-50s' ""
for h in "${header[@]}"; do printf " %${width}s" "$h"; done
echo
# The rows of the groups --only left out are not shown.
row_group() {
  case $1 in tx|rx) echo iperf3 ;; lat_* | echo_*) echo sockperf ;; udp) echo udp ;; cps* | loop* | peer*) echo ab ;; loss*) echo loss ;; *) echo conns ;; esac
}
for r in "${rows[@]}"; do
  wants "$(row_group "$r")" || continue
  printf '%-50s' "$(row_label "$r")"
  for c in "${cols[@]}"; do printf " %${width}s" "${cell[$r,$c]}"; done
  for n in "${names[@]}"; do printf " %${width}s" "$(ratio "$r" "$n" kernel)"; done
  [ -z "$smol" ] || printf " %${width}s" "$(ratio "$r" "${names[$last]}" smoltcp)"
  [ "$last" -eq 0 ] || printf " %${width}s" "$(ratio "$r" "${names[$last]}" "${names[0]}")"
  echo
done
echo "(ratios: above 1 is faster or smaller than the divisor; the kernel's iperf3 figure is one stream a->b, used for both directions)"
if [ ${#spread[@]} -gt 0 ]; then
  echo "each round (the table shows the median):"
  for n in "${spread[@]}"; do echo "  - $n"; done
fi
if [ ${#notes[@]} -gt 0 ]; then
  echo "notes:"
  for n in "${notes[@]}"; do echo "  - $n"; done
fi
