#!/usr/bin/env bash
# End-to-end conntrack benchmark: a burst of short UDP flows inside a private network
# namespace (one flow per destination port), each NEW conntrack event read by the stack
# NFCT,IP2STR,JSON (hash_enable=0, event_mask=1: every NEW event is a record). Reports
# records written, events lost and CPU per event for ulogd-rs and, when installed,
# Debian's ulogd2 with the same stack. Quote ratios, not times.
# Usage: sudo bash benches/e2e-nfct.sh [FLOWS] [RCVBUF_BYTES]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-50000}
RCVBUF=${2:-8388608}
NS=ubct$$
WORK=$(mktemp -d /tmp/ulogd-bench-ct.XXXXXX)
[ "$(id -u)" = 0 ] || { echo "skip: needs root (network namespace, conntrack)"; exit 0; }
command -v nft >/dev/null || { echo "skip: nft not installed"; exit 0; }

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

cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)

# A fresh namespace per reader, so every run sees N new flows.
fresh_ns() {
  ip netns del "$NS" 2>/dev/null || true
  ip netns add "$NS"
  ip -n "$NS" link set lo up
  ip netns exec "$NS" sysctl -qw net.netfilter.nf_conntrack_acct=1 2>/dev/null || true
  # A conntrack rule makes the namespace track connections.
  ip netns exec "$NS" nft -f - <<NFT
table inet bench {
  chain in {
    type filter hook input priority 0; policy accept;
    ct state new counter
  }
}
NFT
}

measure() {
  local name=$1 out=$2; shift 2
  fresh_ns
  : > "$out"
  ip netns exec "$NS" "$@" &
  RPID=$!
  sleep 1
  local t0; t0=$(cpu_ticks "$RPID")
  ip netns exec "$NS" "$WORK/udpflood" "$N" 1024 "$N" 2>"$WORK/flood.txt"
  local last=-1 now
  for _ in $(seq 1 60); do
    sleep 1
    now=$(cpu_ticks "$RPID")
    [ "$now" = "$last" ] && break
    last=$now
  done
  local t1; t1=$(cpu_ticks "$RPID")
  kill -INT "$RPID" 2>/dev/null || true
  wait "$RPID" 2>/dev/null || true
  RPID=
  local got; got=$(grep -c '"orig.l4.dport"\|"dest_port"' "$out" || true)
  awk -v n="$N" -v got="$got" -v ticks=$((t1 - t0)) -v hz="$HZ" -v name="$name" 'BEGIN {
    us = ticks * 1e6 / hz / (got > 0 ? got : 1);
    printf "%-16s records %7d of %d new flows  lost %6.2f%%  CPU %7.2f us/event\n", name, got, n, 100 * (n - got) / n, us
  }'
}

cat > "$WORK/rs.conf" <<CONF
[global]
logfile="$WORK/rs.log"
stack=ct1:NFCT,ip2str1:IP2STR,json1:JSON
[ct1]
hash_enable=0
event_mask=1
netlink_socket_buffer_size=$RCVBUF
netlink_socket_buffer_maxsize=$RCVBUF
[json1]
file="$WORK/rs.out"
CONF
echo "burst of $N new UDP flows; NEW events only; socket buffer $RCVBUF bytes"
measure ulogd-rs "$WORK/rs.out" "$BIN" -c "$WORK/rs.conf"
if [ -x /usr/sbin/ulogd ]; then
  {
    echo "[global]"; echo "logfile=\"$WORK/ulogd2.log\""
    for p in inpflow_NFCT filter_IP2STR output_JSON; do
      echo "plugin=\"/usr/lib/x86_64-linux-gnu/ulogd/ulogd_$p.so\""
    done
    echo "stack=ct1:NFCT,ip2str1:IP2STR,json1:JSON"
    echo "[ct1]"; echo "hash_enable=0"; echo "event_mask=1"
    echo "netlink_socket_buffer_size=$RCVBUF"; echo "netlink_socket_buffer_maxsize=$RCVBUF"
    echo "[ip2str1]"
    echo "[json1]"; echo "file=\"$WORK/ulogd2.out\""
  } > "$WORK/ulogd2.conf"
  measure ulogd2 "$WORK/ulogd2.out" /usr/sbin/ulogd -c "$WORK/ulogd2.conf"
else
  echo "ulogd2 (Debian)  not installed: apt-get install ulogd2 ulogd2-json to compare"
fi
