#!/usr/bin/env bash
# End-to-end NFLOG benchmark: offers a burst of UDP packets inside a private network
# namespace, each logged by nftables to an NFLOG group, and reports for each reader the
# CPU time per packet (utime+stime from /proc/PID/stat) and the packets lost.
#
# Readers, one at a time, same burst, same stack NFLOG,BASE,IFINDEX,IP2STR,JSON:
#   ulogd-rs (threads=0 and threads=2), Debian's ulogd2 (if installed), and the bare
#   libnetfilter_log reader nflog-sink (the floor; if libnetfilter-log-dev is installed).
# Usage: sudo bash benches/e2e-nflog.sh [PACKETS] [RCVBUF_BYTES]
# Quote ratios, not times: absolute figures move from machine to machine.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200000}
RCVBUF=${2:-8388608}
GROUP=47
NS=ubench$$
WORK=$(mktemp -d /tmp/ulogd-bench.XXXXXX)
[ "$(id -u)" = 0 ] || { echo "skip: needs root (network namespace, nftables)"; exit 0; }
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
HAVE_SINK=0
if gcc -O2 -o "$WORK/nflog-sink" benches/tools/nflog-sink.c -lnetfilter_log 2>/dev/null; then HAVE_SINK=1; fi

ip netns add "$NS"
ip -n "$NS" link set lo up
ip netns exec "$NS" nft -f - <<NFT
table inet bench {
  chain in { type filter hook input priority 0; policy accept;
    udp dport 9000-9063 log prefix "BENCH " group $GROUP
  }
}
NFT

cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)

conf() { # $1 = json output file, $2 = threads
  cat <<CONF
[global]
logfile="$WORK/daemon.log"
loglevel=5
threads=$2
keyspool=256
stack=log1:NFLOG,base1:BASE,ifi1:IFINDEX,ip2str1:IP2STR,json1:JSON
[log1]
group=$GROUP
netlink_socket_buffer_size=$RCVBUF
netlink_socket_buffer_maxsize=$RCVBUF
[json1]
file="$1"
sync=0
CONF
}

# measure NAME CMD...: starts CMD in the namespace, offers the burst, waits until the
# reader is idle, prints CPU per packet and loss. The reader must count lines in $OUT.
measure() {
  local name=$1; shift
  OUT=$WORK/$name.out; : > "$OUT"
  ip netns exec "$NS" "$@" &
  RPID=$!
  sleep 1
  local t0; t0=$(cpu_ticks "$RPID")
  ip netns exec "$NS" "$WORK/udpflood" "$N" 9000 64 2>"$WORK/flood.txt"
  # Wait until the reader has been idle for a second.
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
  local got
  if [ "$name" = nflog-sink ]; then
    got=$(awk '/^seen/ {print $2}' "$OUT" | tail -1)
  else
    got=$(wc -l < "$OUT")
  fi
  got=${got:-0}
  awk -v n="$N" -v got="$got" -v ticks=$((t1 - t0)) -v hz="$HZ" -v name="$name" -v rate="$(cat "$WORK/flood.txt")" 'BEGIN {
    us = ticks * 1e6 / hz / (got > 0 ? got : 1);
    printf "%-22s logged %8d of %d  loss %6.2f%%  CPU %7.2f us/packet   (%s)\n", name, got, n, 100 * (n - got) / n, us, rate
  }'
}

echo "burst of $N UDP packets, each logged to NFLOG group $GROUP; socket buffer $RCVBUF bytes"
conf "$WORK/ulogd-rs-t0.out" 0 > "$WORK/rs0.conf"
measure ulogd-rs-t0 "$BIN" -c "$WORK/rs0.conf"
conf "$WORK/ulogd-rs-t2.out" 2 > "$WORK/rs2.conf"
measure ulogd-rs-t2 "$BIN" -c "$WORK/rs2.conf"
if [ -x /usr/sbin/ulogd ]; then
  {
    echo "[global]"; echo "logfile=\"$WORK/ulogd2.log\""; echo "loglevel=5"
    for p in inppkt_NFLOG raw2packet_BASE filter_IFINDEX filter_IP2STR output_JSON; do
      echo "plugin=\"/usr/lib/x86_64-linux-gnu/ulogd/ulogd_$p.so\""
    done
    echo "stack=log1:NFLOG,base1:BASE,ifi1:IFINDEX,ip2str1:IP2STR,json1:JSON"
    echo "[log1]"; echo "group=$GROUP"
    echo "netlink_socket_buffer_size=$RCVBUF"; echo "netlink_socket_buffer_maxsize=$RCVBUF"
    echo "[ifi1]"; echo "[ip2str1]"; echo "[base1]"
    echo "[json1]"; echo "file=\"$WORK/ulogd2.out\""; echo "sync=0"
  } > "$WORK/ulogd2.conf"
  measure ulogd2 /usr/sbin/ulogd -c "$WORK/ulogd2.conf"
else
  echo "ulogd2 (Debian)        not installed: apt-get install ulogd2 ulogd2-json to compare"
fi
if [ "$HAVE_SINK" = 1 ]; then
  measure nflog-sink bash -c "exec $WORK/nflog-sink $GROUP $RCVBUF > $WORK/nflog-sink.out"
fi
