#!/usr/bin/env bash
# End-to-end flow-metering benchmark: one burst of UDP packets (64 flows) inside a
# private network namespace, every packet logged by nftables to TWO NFLOG groups, read
# at the same time by
#   - ulogd-rs: NFLOG,BASE,FLOW  ->  FLOW,IPFIX  (source stacking), to nfcapd #1
#   - pmacct's uacctd with its nfprobe plugin (IPFIX), to nfcapd #2
# Reports each meter's CPU time per packet it accounted for (CPU time from
# /proc/PID/task/*/schedstat of the meter and its children, taken from just before the burst
# until the meter is idle, divided by the packets its flows sum to in nfdump), the
# loss (burst - that sum), then the CPU ratio.
# Usage: sudo bash benches/e2e-flow.sh [PACKETS] [RCVBUF_BYTES] [THREADS]
# Quote ratios, not times: absolute figures move from machine to machine.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200000}
RCVBUF=${2:-8388608}
THREADS=${3:-0}
G1=48
G2=49
NS=fl-bench$$
WORK=$(mktemp -d /tmp/fl-bench.XXXXXX)
[ "$(id -u)" = 0 ] || { echo "skip: needs root (network namespace, nftables)"; exit 0; }
for t in nft uacctd nfcapd nfdump gcc; do
  command -v $t >/dev/null || { echo "skip: $t not installed (.ci/install-deps)"; exit 0; }
done

PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

cargo build --release --quiet --bin ulogd
BIN=$PWD/target/release/ulogd
gcc -O2 -o "$WORK/udpflood" benches/tools/udpflood.c

ip netns add "$NS"
ip -n "$NS" link set lo up
ip netns exec "$NS" nft -f - <<NFT
table inet bench {
  chain in { type filter hook input priority 0; policy accept;
    udp dport 9000-9063 log group $G1 log group $G2
  }
}
NFT

mkdir -p "$WORK/ours" "$WORK/uacctd"
ip netns exec "$NS" nfcapd -b 127.0.0.1 -p 40101 -w "$WORK/ours" >/dev/null 2>&1 &
PIDS+=($!)
ip netns exec "$NS" nfcapd -b 127.0.0.1 -p 40102 -w "$WORK/uacctd" >/dev/null 2>&1 &
PIDS+=($!)

cat > "$WORK/ulogd.conf" <<CONF
[global]
logfile="$WORK/ulogd.log"
loglevel=5
threads=$THREADS
keyspool=256
stack=log1:NFLOG,base1:BASE,meter1:FLOW
stack=meter1:FLOW,ipfix1:IPFIX
[log1]
group=$G1
netlink_socket_buffer_size=$RCVBUF
netlink_socket_buffer_maxsize=$RCVBUF
[meter1]
udp_timeout=2
[ipfix1]
dest="udp://127.0.0.1:40101"
CONF
cat > "$WORK/uacctd.conf" <<CONF
daemonize: false
uacctd_group: $G2
uacctd_nl_size: $RCVBUF
plugins: nfprobe
nfprobe_receiver: 127.0.0.1:40102
nfprobe_version: 10
nfprobe_timeouts: udp=2:expint=1
aggregate: src_host,dst_host,src_port,dst_port,proto
CONF

ip netns exec "$NS" "$BIN" -c "$WORK/ulogd.conf" &
RS=$!; PIDS+=($RS)
ip netns exec "$NS" uacctd -f "$WORK/uacctd.conf" >"$WORK/uacctd.log" 2>&1 &
UA=$!; PIDS+=($UA)
sleep 1.5

# CPU time in nanoseconds of a process, its threads and its child processes (uacctd
# forks its nfprobe plugin): the first field of /proc/PID/task/TID/schedstat, which
# unlike utime/stime is not rounded to 10 ms ticks.
tree_ns() {
  local sum=0 p t
  for p in $1 $(pgrep -P "$1" 2>/dev/null); do
    for t in /proc/$p/task/*/schedstat; do
      [ -r "$t" ] && sum=$((sum + $(awk '{print $1}' "$t" 2>/dev/null || echo 0)))
    done
  done
  echo $sum
}
# `ip netns exec` execs the command, so $RS / $UA are the meters themselves.
r0=$(tree_ns "$RS"); u0=$(tree_ns "$UA")
ip netns exec "$NS" "$WORK/udpflood" "$N" 9000 64 2>"$WORK/flood.txt"
# Wait until both have been idle (under 2 ms of CPU in a second: timers only).
last_r=$(tree_ns "$RS"); last_u=$(tree_ns "$UA")
for _ in $(seq 1 60); do
  sleep 1
  nr=$(tree_ns "$RS"); nu=$(tree_ns "$UA")
  [ $((nr - last_r)) -lt 2000000 ] && [ $((nu - last_u)) -lt 2000000 ] && break
  last_r=$nr; last_u=$nu
done
r1=$(tree_ns "$RS"); u1=$(tree_ns "$UA")
# Idle timeouts (2 s, looked at every second) export every flow on both sides.
sleep 4
kill -INT "$RS" "$UA" 2>/dev/null || true
wait "$RS" 2>/dev/null || true
wait "$UA" 2>/dev/null || true
sleep 0.5
for p in "${PIDS[@]:0:2}"; do kill "$p" 2>/dev/null || true; done
sleep 0.5

flows_pkts() { nfdump -R "$1" -q -N -o 'fmt:%pkt' 2>/dev/null | awk '{s+=$1; n++} END {printf "%d %d\n", n, s}'; }
read -r rf rp < <(flows_pkts "$WORK/ours")
read -r uf up < <(flows_pkts "$WORK/uacctd")
echo "burst of $N UDP packets in 64 flows, each logged to NFLOG groups $G1 and $G2 ($(cat "$WORK/flood.txt"))"
awk -v n="$N" \
    -v rt=$((r1 - r0)) -v ut=$((u1 - u0)) -v rf="$rf" -v rp="$rp" -v uf="$uf" -v up="$up" -v th="$THREADS" 'BEGIN {
  # Per packet each meter accounted for (a meter that lost some did less work).
  rus = rt / 1e3 / (rp > 0 ? rp : 1); uus = ut / 1e3 / (up > 0 ? up : 1);
  printf "ulogd-rs FLOW (threads=%d)  flows %4d  packets %8d of %d  loss %6.2f%%  CPU %6.2f us/packet\n", th, rf, rp, n, 100 * (n - rp) / n, rus
  printf "uacctd nfprobe              flows %4d  packets %8d of %d  loss %6.2f%%  CPU %6.2f us/packet\n", uf, up, n, 100 * (n - up) / n, uus
  if (uus > 0) printf "CPU per packet, ulogd-rs / uacctd: %.3f (goal <= 0.25)\n", rus / uus
}'
grep -h "final counters: meter1\|final counters: log1" "$WORK/ulogd.log" | sed 's/^.*final counters: /  ulogd-rs /' || true
