#!/usr/bin/env bash
# End-to-end NFQUEUE benchmark: a burst of UDP packets inside a private network
# namespace, each queued by `iptables -j NFQUEUE` and answered by one reader at a time.
# Reports packets answered, loss (packets the kernel dropped because the queue was
# full), packets/s over the burst and the reader's CPU time per packet answered
# (utime+stime from /proc/PID/stat).
#
# Readers: the bare libnetfilter_queue reader nfq-sink (accepts everything: the
# yardstick), ulogd-rs NFQ with an accept-all stack (NFQ,NULL) and with a VERDICT+JSON
# stack (NFQ,BASE,VERDICT,JSON), and MTNFQ with 2 queues (--queue-cpu-fanout, the burst
# sent from both CPUs) with the same two stacks.
# Usage: sudo bash benches/e2e-nfq.sh [PACKETS]
# Quote ratios, not times: absolute figures move from machine to machine.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200000}
RCVBUF=8388608
MAXLEN=65536
Q=20
NS=unfq$$
WORK=$(mktemp -d /tmp/ulogd-nfqbench.XXXXXX)
[ "$(id -u)" = 0 ] || { echo "skip: needs root (network namespace, iptables)"; exit 0; }
command -v iptables >/dev/null || { echo "skip: iptables not installed"; exit 0; }

cleanup() {
  [ -n "${RPID:-}" ] && kill "$RPID" 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

if [ -n "${ULOGD_BIN:-}" ]; then BIN=$ULOGD_BIN; else
  cargo build --release --quiet -p ulogd-cli --bin ulogd
  BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/ulogd
fi
gcc -O2 -o "$WORK/udpflood" benches/tools/udpflood.c
HAVE_SINK=0
if gcc -O2 -o "$WORK/nfq-sink" benches/tools/nfq-sink.c -lnetfilter_queue 2>/dev/null; then HAVE_SINK=1; fi

ip netns add "$NS"
ip -n "$NS" link set lo up
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
NCPU=$(nproc)

rules() { # $1 = NFQUEUE target options
  ip netns exec "$NS" iptables -F INPUT
  # shellcheck disable=SC2086
  ip netns exec "$NS" iptables -A INPUT -p udp --dport 9000:9063 -j NFQUEUE $1
}

conf() { # $1 = source plugin, $2 = stack tail, $3 = extra source options
  cat <<CONF
[global]
logfile="$WORK/daemon.log"
loglevel=3
threads=0
stack=q:$1,$2
[q]
queue_num=$Q
queue_maxlen=$MAXLEN
netlink_socket_buffer_size=$RCVBUF
$3
[v]
rules="udp.dport == 9063 -> drop, mark 1; ip.daddr == 127.0.0.0/8 -> accept, mark 0x2a"
[j]
file="$WORK/out.json"
sync=0
CONF
}

# measure NAME SPLIT CMD...: starts CMD in the namespace, offers the burst (from one
# CPU, or half from each CPU when SPLIT=2), waits until the reader is idle, prints the
# figures. Answered packets: nfq-sink's "seen", ulogd's final "received" counter.
measure() {
  local name=$1 split=$2; shift 2
  : > "$WORK/daemon.log"
  ip netns exec "$NS" "$@" > "$WORK/reader.out" 2>&1 &
  RPID=$!
  sleep 1
  local t0 w0 w1; t0=$(cpu_ticks "$RPID")
  w0=$(date +%s.%N)
  if [ "$split" = 2 ] && [ "$NCPU" -ge 2 ]; then
    ip netns exec "$NS" taskset -c 0 "$WORK/udpflood" $((N / 2)) 9000 64 2>"$WORK/flood0.txt" &
    local fp=$!
    ip netns exec "$NS" taskset -c 1 "$WORK/udpflood" $((N - N / 2)) 9000 64 2>"$WORK/flood1.txt"
    wait "$fp" || true
  else
    ip netns exec "$NS" "$WORK/udpflood" "$N" 9000 64 2>"$WORK/flood0.txt"
  fi
  local last=-1 now idle=0
  for _ in $(seq 1 120); do
    sleep 0.2
    now=$(cpu_ticks "$RPID")
    if [ "$now" = "$last" ]; then idle=$((idle + 1)); [ $idle -ge 3 ] && break; else idle=0; fi
    last=$now
  done
  w1=$(date +%s.%N)
  local t1; t1=$(cpu_ticks "$RPID")
  kill -TERM "$RPID" 2>/dev/null || true
  wait "$RPID" 2>/dev/null || true
  RPID=
  local got
  if [ "$name" = nfq-sink ]; then
    got=$(awk '/^seen/ {print $2}' "$WORK/reader.out" | tail -1)
  else
    got=$(grep -o 'final counters: q ([A-Z]*):.*' "$WORK/daemon.log" | grep -o ' received=[0-9]*' | tail -1 | cut -d= -f2)
  fi
  got=${got:-0}
  awk -v n="$N" -v got="$got" -v ticks=$((t1 - t0)) -v hz="$HZ" -v name="$name" -v wall="$(awk -v a="$w0" -v b="$w1" 'BEGIN { print b - a - 0.6 }')" 'BEGIN {
    us = ticks * 1e6 / hz / (got > 0 ? got : 1);
    printf "%-28s answered %8d of %d  loss %6.2f%%  %9.0f packets/s  CPU %6.2f us/packet\n", name, got, n, 100 * (n - got) / n, got / (wall > 0 ? wall : 1), us
  }'
}

echo "burst of $N UDP packets to 127.0.0.1, each queued with iptables -j NFQUEUE; queue_maxlen $MAXLEN, socket buffer $RCVBUF bytes, $NCPU CPUs"
rules "--queue-num $Q"
if [ "$HAVE_SINK" = 1 ]; then
  measure nfq-sink 1 "$WORK/nfq-sink" "$Q" accept "$RCVBUF"
else
  echo "nfq-sink                     not built: apt-get install libnetfilter-queue-dev"
fi
conf NFQ "n:NULL" "" > "$WORK/a.conf"
measure "NFQ accept-all" 1 "$BIN" -c "$WORK/a.conf"
conf NFQ "b:BASE,v:VERDICT,j:JSON" "" > "$WORK/v.conf"
measure "NFQ VERDICT+JSON" 1 "$BIN" -c "$WORK/v.conf"
# Same load as the MTNFQ rows below: half of the burst from each CPU.
measure "NFQ accept-all, 2 senders" 2 "$BIN" -c "$WORK/a.conf"
measure "NFQ VERDICT+JSON, 2 senders" 2 "$BIN" -c "$WORK/v.conf"

rules "--queue-balance $Q:$((Q + 1)) --queue-cpu-fanout"
if [ "$HAVE_SINK" = 1 ]; then
  echo "(nfq-sink binds one queue only: no 2-queue yardstick)"
fi
conf MTNFQ "n:NULL" "queue_count=2" > "$WORK/ma.conf"
measure "MTNFQ x2 accept-all, 2 senders" 2 "$BIN" -c "$WORK/ma.conf"
conf MTNFQ "b:BASE,v:VERDICT,j:JSON" "queue_count=2" > "$WORK/mv.conf"
measure "MTNFQ x2 VERDICT+JSON, 2 send." 2 "$BIN" -c "$WORK/mv.conf"
