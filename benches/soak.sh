#!/usr/bin/env bash
# Soak: a long steady load (default one hour at 30,000 packets/s) through two stacks of
# one daemon inside a private network namespace, sampled every 10 s:
#
#   NFLOG,BASE,IFINDEX,IP2STR,JSON   every UDP packet, logged by nftables to NFLOG
#   NFCT,IP2STR,JSON                 every flow (hash mode: one record when it ends)
#
# The sender is udpflood.c (shared/tools), compiled here into a temp dir and run ~10
# times a second with the packets due by then, 64 destination ports per run, each run
# from a new source port: ~640 new conntrack flows/s (UDP timeout 10 s in the
# namespace). Outputs live on a tmpfs and are rotated every 10 s (rename + SIGHUP, the
# logrotate path); the rotated files are counted with wc -l and deleted.
#
# Sampled every 10 s (samples.tsv): RSS and CPU of the daemon (/proc), the packets nft
# logged and the flows it saw begin (rule counters: the kernel's truth), and from the
# metrics endpoint (metrics_listen, read with curl inside the namespace) the events of
# both sources, the NFLOG socket's overruns and lost_packets (computed by the daemon
# from the kernel's NFLOG sequence numbers), the queue depth and written/dropped/lost
# of both JSON sinks.
#
# At the end: the sender stops, the conntrack table is flushed (every open flow ends),
# the daemon is stopped with SIGTERM, and the summary compares offered (nft counters)
# with delivered (lines counted) and counted-lost (the daemon's counters): silently
# lost = offered - delivered - counted. RSS after warm-up: first vs last sample and a
# least-squares slope. summary.txt and soak.png (gnuplot; `apt-get install gnuplot-nox`
# when missing, the samples stay in samples.tsv).
#
# Usage: sudo bash benches/soak.sh [SECONDS=3600] [PPS=30000] [OUTDIR=soak-out]
#        bash benches/soak.sh --plot OUTDIR [PPS]   (redraw soak.png from OUTDIR/samples.tsv)
# Not a CI test (it takes an hour); quote its figures with the machine's load.
set -euo pipefail
cd "$(dirname "$0")/.."
# plot DIR SECONDS PPS: soak.png from DIR/samples.tsv.
plot() {
  if command -v gnuplot >/dev/null; then
    gnuplot <<GP
set terminal pngcairo size 1100,800 font ",10"
set output "$1/soak.png"
set datafile separator "\t"
set key left top noenhanced
set multiplot layout 3,1 title "ulogd-rs soak: $3 pps NFLOG + NFCT for $2 s ($(date -u +%F), 2-core machine shared with other builds)"
set xlabel "minutes"
set ylabel "RSS (MiB)"
set yrange [0:*]
set y2label "NFCT flow cache (entries)"
set y2tics
plot "$1/samples.tsv" using (\$1/60):(\$2/1024) with lines lw 2 title "RSS", "" using (\$1/60):16 axes x1y2 with lines title "NFCT flow cache (right axis)"
unset y2tics
unset y2label
set ylabel "% of one core"
plot "$1/samples.tsv" using (\$1/60):3 with lines title "daemon CPU", "" using (\$1/60):(\$19*100/$(nproc)) with lines title "machine load (load1 / cores, %)"
set ylabel "records (log scale)"
set logscale y
set yrange [1:*]
plot "$1/samples.tsv" using (\$1/60):(\$10+1) with lines title "packet queue depth + 1", "" using (\$1/60):(\$14+1) with lines title "flow queue depth + 1", "" using (\$1/60):(\$9+1) with lines title "lost_packets + 1 (cumulative)"
unset multiplot
GP
    echo "plot: $1/soak.png"
  else
    echo "no gnuplot: apt-get install gnuplot-nox, then rerun for the plot (samples in $1/samples.tsv)"
  fi
}
if [ "${1:-}" = --plot ]; then # redraw from the samples of an earlier run
  plot "$2" "$(awk -F'\t' 'END { print $1 }' "$2/samples.tsv")" "${3:-30000}"
  exit
fi
DUR=${1:-3600}
RATE=${2:-30000}
OUT=${3:-soak-out}
GROUP=48
FLOWS_PER_RUN=64
WARMUP=$((DUR / 6 < 300 ? DUR / 6 : 300))
NS=usoak$$
MPORT=9614
[ "$(id -u)" = 0 ] || { echo "skip: needs root (network namespace, nftables, tmpfs)"; exit 0; }
for t in nft curl conntrack gcc; do
  command -v "$t" >/dev/null || { echo "skip: $t not installed"; exit 0; }
done
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d /tmp/ulogd-soak.XXXXXX)
mkdir -p "$WORK/out"
mount -t tmpfs -o size=2g tmpfs "$WORK/out"

RPID=
cleanup() {
  [ -n "${FPID:-}" ] && kill "$FPID" 2>/dev/null || true
  [ -n "$RPID" ] && kill "$RPID" 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  umount "$WORK/out" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

cargo build --release --quiet -p ulogd-cli --no-default-features --bin ulogd
BIN=$PWD/target/release/ulogd
SRC=../shared/tools/udpflood.c
[ -f "$SRC" ] || SRC=benches/tools/udpflood.c
gcc -O2 -o "$WORK/udpflood" "$SRC"

ip netns add "$NS"
ip -n "$NS" link set lo up
ip netns exec "$NS" sysctl -qw net.netfilter.nf_conntrack_udp_timeout=10
# Accounting, so the first packet of a flow can be counted (ct original packets 1).
ip netns exec "$NS" sysctl -qw net.netfilter.nf_conntrack_acct=1
ip netns exec "$NS" nft -f - <<NFT
table inet soak {
  chain in { type filter hook input priority 0; policy accept;
    ct original packets 1 udp dport 9000-9063 counter
    udp dport 9000-9063 counter log prefix "SOAK " group $GROUP
  }
}
NFT

cat > "$WORK/soak.conf" <<CONF
[global]
logfile="$OUT/daemon.log"
loglevel=3
metrics_listen="127.0.0.1:$MPORT"
stack=log1:NFLOG,base1:BASE,ifi1:IFINDEX,ip2str1:IP2STR,json1:JSON
stack=ct1:NFCT,ip2str2:IP2STR,json2:JSON
[log1]
group=$GROUP
seq_global=1
netlink_socket_buffer_size=8388608
netlink_socket_buffer_maxsize=8388608
[ct1]
accept_proto_filter=udp   # not the metrics scrapes (tcp)
netlink_socket_buffer_size=8388608
netlink_socket_buffer_maxsize=8388608
[json1]
file="$WORK/out/pkt.json"
sync=0
[json2]
file="$WORK/out/flow.json"
sync=0
CONF
cp "$WORK/soak.conf" "$OUT/soak.conf"
: > "$OUT/daemon.log"

ip netns exec "$NS" "$BIN" -c "$WORK/soak.conf" &
RPID=$!
sleep 2
kill -0 "$RPID" || { echo "daemon did not start:"; cat "$OUT/daemon.log"; exit 1; }

HZ=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14+$15}' "/proc/$RPID/stat"; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$RPID/status"; }
# nft_count N: the packets of the N-th counter of the chain (1 = first packets of flows, 2 = logged).
nft_count() {
  ip netns exec "$NS" nft list chain inet soak in |
    awk -v n="$1" '/counter packets/ { for (i = 1; i < NF - 1; i++) if ($i == "counter" && $(i + 1) == "packets") { c++; if (c == n) print $(i + 2) } }'
}
scrape() { ip netns exec "$NS" curl -s --max-time 5 "http://127.0.0.1:$MPORT/metrics" > "$WORK/m.txt" || : > "$WORK/m.txt"; }
# stat ID COUNTER: a plugin counter from the last scrape.
stat() {
  awk -v want="id=\"$1\"" -v c="counter=\"$2\"" '/^ulogd_plugin_stat\{/ && index($0, want) && index($0, c) { v = $NF } END { print v + 0 }' "$WORK/m.txt"
}
PKT_LINES=0
FLOW_LINES=0
rotate() {
  mv "$WORK/out/pkt.json" "$WORK/out/pkt.old" 2>/dev/null || : > "$WORK/out/pkt.old"
  mv "$WORK/out/flow.json" "$WORK/out/flow.old" 2>/dev/null || : > "$WORK/out/flow.old"
  kill -HUP "$RPID"
  sleep 1 # the daemon reopens at once; its idle flush writes what it holds within 1 s
  PKT_LINES=$((PKT_LINES + $(wc -l < "$WORK/out/pkt.old")))
  FLOW_LINES=$((FLOW_LINES + $(wc -l < "$WORK/out/flow.old")))
  rm -f "$WORK/out/pkt.old" "$WORK/out/flow.old"
}

# The paced sender: every 0.1 s, the packets due by now (at most one second's worth).
flood() {
  local t0 now due sent=0
  t0=${EPOCHREALTIME/./}
  local end=$((t0 + DUR * 1000000))
  while :; do
    now=${EPOCHREALTIME/./}
    [ "$now" -lt "$end" ] || break
    due=$((RATE * (now - t0) / 1000000 - sent))
    [ "$due" -gt "$RATE" ] && due=$RATE
    if [ "$due" -ge 100 ]; then
      ip netns exec "$NS" "$WORK/udpflood" "$due" 9000 "$FLOWS_PER_RUN" 2>/dev/null
      sent=$((sent + due))
    fi
    sleep 0.1
  done
  echo "$sent" > "$WORK/sent"
}

printf 't_s\trss_kb\tcpu_pct\tlogged\tflows_new\tnflog_events\tnfct_events\toverruns\tlost_packets\tpkt_depth\tpkt_written\tpkt_dropped\tpkt_lost\tflow_depth\tflow_written\tct_cache\tpkt_lines\tflow_lines\tload1\n' > "$OUT/samples.tsv"
sample() { # $1 = seconds since start
  local cpu rss; cpu=$(cpu_ticks); rss=$(rss_kb)
  scrape
  local pct; pct=$(awk -v a="$LAST_CPU" -v b="$cpu" -v hz="$HZ" -v dt="$(($1 - LAST_T))" 'BEGIN { printf "%.1f", (dt > 0 ? 100 * (b - a) / hz / dt : 0) }')
  LAST_CPU=$cpu; LAST_T=$1
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$rss" "$pct" \
    "$(nft_count 2)" "$(nft_count 1)" "$(stat log1 received)" "$(stat ct1 records)" \
    "$(stat log1 overruns)" "$(stat log1 lost_packets)" "$(stat json1 depth)" "$(stat json1 written)" \
    "$(stat json1 dropped)" "$(stat json1 lost)" "$(stat json2 depth)" "$(stat json2 written)" "$(stat ct1 cache_size)" \
    "$PKT_LINES" "$FLOW_LINES" "$(cut -d' ' -f1 /proc/loadavg)" >> "$OUT/samples.tsv"
}

echo "soak: ${DUR}s at ${RATE} pps, NFLOG group $GROUP and NFCT, samples every 10 s in $OUT/samples.tsv"
START=$(date +%s)
LAST_CPU=$(cpu_ticks); LAST_T=0
flood &
FPID=$!
while kill -0 "$FPID" 2>/dev/null; do
  sleep 9 # plus the rotation's 1 s
  rotate
  sample $(($(date +%s) - START))
done
wait "$FPID" || true
FPID=
SENT=$(cat "$WORK/sent")
sleep 3
# Every flow still open ends now, so each one the kernel saw begin gives a record.
ip netns exec "$NS" conntrack -F 2>/dev/null || true
sleep 5
rotate
sample $(($(date +%s) - START))
kill -TERM "$RPID"
wait "$RPID" || true
RPID=
rotate_final() {
  PKT_LINES=$((PKT_LINES + $(cat "$WORK"/out/pkt.json 2>/dev/null | wc -l)))
  FLOW_LINES=$((FLOW_LINES + $(cat "$WORK"/out/flow.json 2>/dev/null | wc -l)))
}
rotate_final

# counter INST NAME: from the daemon's final counters line.
final() {
  { grep "final counters: $1 (" "$OUT/daemon.log" || true; } | tail -1 | tr ' ,' '\n\n' | awk -F= -v k="$2" '$1 == k { print $2 + 0; f = 1 } END { if (!f) print 0 }'
}
LOGGED=$(nft_count 2)
FLOWS=$(nft_count 1)
{
  echo "soak $(date -u +%F): ${DUR} s at ${RATE} pps; $(nproc) cores; load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "sender: $SENT datagrams; nftables logged $LOGGED to NFLOG and saw $FLOWS flows begin"
  pl=$(final json1 dropped); plost=$(final json1 lost); lp=$(final log1 lost_packets); ov=$(final log1 overruns)
  echo "packets: offered $LOGGED, delivered $PKT_LINES lines, counted-lost $((lp + pl + plost)) (lost_packets $lp from seq numbers, overruns $ov, json dropped $pl, lost $plost), silently-lost $((LOGGED - PKT_LINES - lp - pl - plost))"
  fl=$(final json2 dropped); flost=$(final json2 lost); cov=$(final ct1 overruns); cfull=$(final ct1 cache_full)
  echo "flows:   offered $FLOWS, delivered $FLOW_LINES records, counted-lost $((fl + flost)) (json dropped $fl, lost $flost; NFCT overruns $cov, cache_full $cfull), silently-lost $((FLOWS - FLOW_LINES - fl - flost))"
  awk -F'\t' -v w="$WARMUP" 'NR > 1 && $1 >= w && $2 > 0 { n++; x = $1 / 3600; y = $2 / 1024; sx += x; sy += y; sxx += x * x; sxy += x * y;
      if (n == 1) first = y; last = y; if (y > max) max = y; if (min == 0 || y < min) min = y; cpu += $3 }
    NR > 1 && $2 > 0 { if (peak < $2 / 1024) peak = $2 / 1024 }
    END { if (n < 2) { print "RSS: too few samples after warm-up"; exit }
      slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
      printf "RSS after warm-up (%d s, %d samples): first %.1f MiB, last %.1f MiB, min %.1f, max %.1f, slope %+.2f MiB/hour; peak overall %.1f MiB\n", w, n, first, last, min, max, slope, peak;
      printf "CPU of the daemon after warm-up: %.1f %% of one core on average\n", cpu / n }' "$OUT/samples.tsv"
  awk -F'\t' 'NR > 1 { if ($10 > dp) dp = $10; if ($14 > df) df = $14 } END { printf "largest queue depth sampled: packets %d, flows %d\n", dp, df }' "$OUT/samples.tsv"
} | tee "$OUT/summary.txt"

plot "$OUT" "$DUR" "$RATE"
