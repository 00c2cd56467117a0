#!/usr/bin/env bash
# Every reader side by side on the same bursts, in one invocation: the table the README
# quotes. Root (network namespaces, nftables, iptables).
#
# NFLOG: a burst of UDP packets over 64 ports inside a private namespace, each logged by
# nftables to one NFLOG group, read in turn (same burst, same group) by
#   ulogd-rs  NFLOG,BASE,IFINDEX,IP2STR,JSON   (threads=0 and threads=2)
#   ulogd-rs  NFLOG,BASE,IFINDEX,IP2STR,PRINTPKT,LOGEMU
#   ulogd2    the same two stacks               (Debian's ulogd2 2.0.8, if installed)
#   uacctd    pmacct, aggregating the 5-tuple to a CSV (if installed)
#   nflog-sink  the bare libnetfilter_log reader: the floor
# CPU per packet is the reader's CPU time (all threads and children, from
# /proc/PID/task/*/schedstat: nanoseconds, not 10 ms ticks) from just before the burst
# until it is idle, divided by the packets offered; loss is what the reader did not
# log (for uacctd: packets its CSV accounts for). Each reader runs ROUNDS times,
# interleaved with the others, and the table shows the median (and the spread).
#
# NFCT and NFQUEUE: benches/e2e-nfct.sh and benches/e2e-nfq.sh run with the same
# binary, and their rows are summarised with the same ratios.
#
# Usage: sudo bash benches/compare.sh [PACKETS] [ROUNDS]
#   ULOGD_BIN=/path/to/ulogd   bench that binary instead of building target/release/ulogd
#   ULOGD_BIN_BEFORE=/path/to/older/ulogd  also run its JSON and LOGEMU stacks (rows
#                              before-json-t0, before-logemu), interleaved in the same rounds:
#                              the before/after figures of a change
#   ONLY=nflog|nfct|nfq        run one part
# Quote ratios, not times: absolute figures move from machine to machine.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200000}
ROUNDS=${2:-3}
RCVBUF=8388608
GROUP=48
NS=ucmp$$
WORK=$(mktemp -d /tmp/ulogd-compare.XXXXXX)
[ "$(id -u)" = 0 ] || { echo "skip: needs root (network namespace, nftables)"; exit 0; }
command -v nft >/dev/null || { echo "skip: nft not installed (.ci/install-deps)"; exit 0; }

RPID=
cleanup() {
  [ -n "$RPID" ] && kill "$RPID" 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

if [ -z "${ULOGD_BIN:-}" ]; then
  cargo build --release --quiet -p ulogd-cli --bin ulogd
  ULOGD_BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/ulogd
fi
export ULOGD_BIN
echo "# benches/compare.sh, $(date -u +%Y-%m-%d), $(nproc) CPUs, $(uname -r), binary $ULOGD_BIN"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

nflog_part() {
  gcc -O2 -o "$WORK/udpflood" benches/tools/udpflood.c
  local have_sink=0
  if gcc -O2 -o "$WORK/nflog-sink" benches/tools/nflog-sink.c -lnetfilter_log 2>/dev/null; then
    have_sink=1
  fi
  ip netns add "$NS"
  ip -n "$NS" link set lo up
  ip netns exec "$NS" nft -f - <<NFT
table inet cmp {
  chain input { type filter hook input priority 0; policy accept;
    udp dport 9000-9063 log prefix "CMP " group $GROUP
  }
}
NFT
  local ulogd2_dir=/usr/lib/x86_64-linux-gnu/ulogd
  rs_conf() { # $1 out file, $2 threads, $3 stack tail ("json" or "logemu")
    echo "[global]"
    echo "logfile=\"$WORK/daemon.log\""
    echo "loglevel=5"
    echo "threads=$2"
    if [ "$3" = json ]; then
      echo "stack=log1:NFLOG,base1:BASE,ifi1:IFINDEX,ip2str1:IP2STR,out1:JSON"
    else
      echo "stack=log1:NFLOG,base1:BASE,ifi1:IFINDEX,ip2str1:IP2STR,print1:PRINTPKT,out1:LOGEMU"
    fi
    echo "[log1]"; echo "group=$GROUP"
    echo "netlink_socket_buffer_size=$RCVBUF"; echo "netlink_socket_buffer_maxsize=$RCVBUF"
    echo "[out1]"; echo "file=\"$1\""; echo "sync=0"
  }
  ulogd2_conf() { # $1 out file, $2 "json" or "logemu"
    echo "[global]"; echo "logfile=\"$WORK/ulogd2.log\""; echo "loglevel=5"
    local plugins
    if [ "$2" = json ]; then
      plugins="inppkt_NFLOG raw2packet_BASE filter_IFINDEX filter_IP2STR output_JSON"
      echo "stack=log1:NFLOG,base1:BASE,ifi1:IFINDEX,ip2str1:IP2STR,out1:JSON"
    else
      plugins="inppkt_NFLOG raw2packet_BASE filter_IFINDEX filter_IP2STR filter_PRINTPKT output_LOGEMU"
      echo "stack=log1:NFLOG,base1:BASE,ifi1:IFINDEX,ip2str1:IP2STR,print1:PRINTPKT,out1:LOGEMU"
    fi
    for p in $plugins; do echo "plugin=\"$ulogd2_dir/ulogd_$p.so\""; done
    echo "[log1]"; echo "group=$GROUP"
    echo "netlink_socket_buffer_size=$RCVBUF"; echo "netlink_socket_buffer_maxsize=$RCVBUF"
    echo "[base1]"; echo "[ifi1]"; echo "[ip2str1]"; echo "[print1]"
    echo "[out1]"; echo "file=\"$1\""; echo "sync=0"
  }
  local readers=(rs-json-t0 rs-json-t2 rs-logemu)
  if [ -n "${ULOGD_BIN_BEFORE:-}" ]; then readers+=(before-json-t0 before-logemu); fi
  if [ -x /usr/sbin/ulogd ] && [ -e "$ulogd2_dir/ulogd_output_JSON.so" ]; then
    readers+=(ulogd2-json ulogd2-logemu)
  else
    echo "# ulogd2 (Debian) not installed: apt-get install ulogd2 ulogd2-json to compare"
  fi
  if command -v uacctd >/dev/null; then readers+=(uacctd); else
    echo "# uacctd not installed: apt-get install pmacct to compare"
  fi
  if [ "$have_sink" = 1 ]; then readers+=(nflog-sink); else
    echo "# nflog-sink not built: apt-get install libnetfilter-log-dev"
  fi
  # CPU of a process with its threads and children, in ns.
  tree_ns() {
    local pids=("$1") total=0 p t
    while read -r p; do pids+=("$p"); done < <(pgrep -P "$1" 2>/dev/null || true)
    for p in "${pids[@]}"; do
      for t in /proc/"$p"/task/*/schedstat; do
        [ -r "$t" ] && total=$((total + $(cut -d' ' -f1 "$t")))
      done
    done
    echo "$total"
  }
  start_reader() { # $1 reader, $2 out file; sets RPID
    local r=$1 out=$2
    case $r in
      rs-json-t0) rs_conf "$out" 0 json > "$WORK/$r.conf" ;;
      rs-json-t2) rs_conf "$out" 2 json > "$WORK/$r.conf" ;;
      rs-logemu | before-logemu) rs_conf "$out" 0 logemu > "$WORK/$r.conf" ;;
      before-json-t0) rs_conf "$out" 0 json > "$WORK/$r.conf" ;;
      ulogd2-json) ulogd2_conf "$out" json > "$WORK/$r.conf" ;;
      ulogd2-logemu) ulogd2_conf "$out" logemu > "$WORK/$r.conf" ;;
      uacctd)
        cat > "$WORK/$r.conf" <<CONF
daemonize: false
uacctd_group: $GROUP
uacctd_nl_size: $RCVBUF
plugin_buffer_size: 65536
plugin_pipe_size: 67108864
plugins: print
aggregate: src_host, dst_host, src_port, dst_port, proto
print_output: csv
print_output_file: $out
print_output_file_append: true
print_refresh_time: 1
CONF
        ;;
    esac
    case $r in
      rs-*) ip netns exec "$NS" "$ULOGD_BIN" -c "$WORK/$r.conf" & ;;
      before-*) ip netns exec "$NS" "$ULOGD_BIN_BEFORE" -c "$WORK/$r.conf" & ;;
      ulogd2-*) ip netns exec "$NS" /usr/sbin/ulogd -c "$WORK/$r.conf" & ;;
      uacctd) ip netns exec "$NS" uacctd -f "$WORK/$r.conf" > "$WORK/uacctd.log" 2>&1 & ;;
      nflog-sink) ip netns exec "$NS" bash -c "exec $WORK/nflog-sink $GROUP $RCVBUF > $out" & ;;
    esac
    RPID=$!
  }
  counted() { # $1 reader, $2 out file: packets the reader accounted for
    case $1 in
      nflog-sink) awk '/^seen/ {n = $2} END {print n + 0}' "$2" ;;
      uacctd) awk -F, 'NR > 1 && $NF ~ /^[0-9]+$/ {p += $(NF-1)} END {print p + 0}' "$2" ;;
      *) wc -l < "$2" ;;
    esac
  }
  : > "$WORK/rows"
  local round r
  for round in $(seq 1 "$ROUNDS"); do
    for r in "${readers[@]}"; do
      local out="$WORK/$r.$round.out"
      : > "$out"
      start_reader "$r" "$out"
      sleep 1.5
      local t0; t0=$(tree_ns "$RPID")
      ip netns exec "$NS" "$WORK/udpflood" "$N" 9000 64 2> "$WORK/flood.txt"
      # Idle: less than 2 ms of CPU in a second (timers still tick).
      local last=-1 now
      for _ in $(seq 1 120); do
        sleep 1
        now=$(tree_ns "$RPID")
        [ "$last" -ge 0 ] && [ $((now - last)) -lt 2000000 ] && break
        last=$now
      done
      local t1; t1=$(tree_ns "$RPID")
      kill -INT "$RPID" 2>/dev/null || true
      wait "$RPID" 2>/dev/null || true
      RPID=
      sleep 0.5
      local got; got=$(counted "$r" "$out")
      echo "$r $round $((t1 - t0)) ${got:-0}" >> "$WORK/rows"
      printf '  round %d %-14s logged %8d of %d  CPU %6.2f us/packet\n' "$round" "$r" "${got:-0}" "$N" \
        "$(awk -v ns=$((t1 - t0)) -v n="$N" 'BEGIN {print ns / 1000 / n}')"
    done
  done
  echo
  echo "NFLOG: a burst of $N UDP packets over 64 ports, each logged to NFLOG group $GROUP;"
  echo "CPU per offered packet, median of $ROUNDS rounds (min-max); ratios of medians"
  awk -v n="$N" '
    { cpu[$1] = cpu[$1] " " $3 / 1000 / n; got[$1] = got[$1] " " $4; seen[$1] = 1
      if (!($1 in order)) { order[$1] = ++k; name[k] = $1 } }
    function med(s,   a, m, i, j, t) { m = split(s, a, " ")
      for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
      lo = a[1]; hi = a[m]; return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2 }
    END {
      printf "| reader | logged (median) | loss | CPU per packet | vs nflog-sink | vs ulogd2, same stack |\n"
      printf "| --- | --- | --- | --- | --- | --- |\n"
      floor = ("nflog-sink" in seen) ? med(cpu["nflog-sink"]) : 0
      u2j = ("ulogd2-json" in seen) ? med(cpu["ulogd2-json"]) : 0
      u2l = ("ulogd2-logemu" in seen) ? med(cpu["ulogd2-logemu"]) : 0
      for (i = 1; i <= k; i++) {
        r = name[i]; c = med(cpu[r]); clo = lo; chi = hi; g = med(got[r])
        vs = floor > 0 ? sprintf("%.2fx", c / floor) : "-"
        base = (r ~ /logemu/) ? u2l : u2j
        vu = (base > 0 && r ~ /^(rs|before)-/) ? sprintf("%.2fx", c / base) : "-"
        if (r == "uacctd" && u2j > 0) vu = sprintf("%.2fx (vs ulogd2 JSON)", c / u2j)
        printf "| %s | %d | %.2f %% | %.2f us (%.2f-%.2f) | %s | %s |\n", r, g, 100 * (n - g) / n, c, clo, chi, vs, vu
      }
      if (floor > 0) {
        printf "\ngoals: rs-json-t0 <= 3x nflog-sink: %.2fx; rs-logemu <= 2.5x: %.2fx; rs-json-t2 <= 1.1x rs-json-t0: %.2fx\n",
          med(cpu["rs-json-t0"]) / floor, med(cpu["rs-logemu"]) / floor, med(cpu["rs-json-t2"]) / med(cpu["rs-json-t0"])
      }
      if ("before-json-t0" in seen)
        printf "this binary / before: JSON %.2fx, LOGEMU %.2fx\n", med(cpu["rs-json-t0"]) / med(cpu["before-json-t0"]), med(cpu["rs-logemu"]) / med(cpu["before-logemu"])
    }' "$WORK/rows"
  ip netns del "$NS" 2>/dev/null || true
}

nfct_part() {
  echo
  echo "NFCT (benches/e2e-nfct.sh): new UDP flows, NEW events into NFCT,IP2STR,JSON"
  bash benches/e2e-nfct.sh 50000 | tee "$WORK/nfct.txt"
  awk '/CPU/ { for (i = 1; i <= NF; i++) if ($i == "CPU") c[$1] = $(i + 1) }
    END { if (("ulogd-rs" in c) && ("ulogd2" in c) && c["ulogd2"] > 0)
      printf "goal: ulogd-rs <= 1/5 of ulogd2 per event: %.2fx\n", c["ulogd-rs"] / c["ulogd2"] }' "$WORK/nfct.txt"
}

nfq_part() {
  echo
  echo "NFQUEUE (benches/e2e-nfq.sh): packets queued with iptables -j NFQUEUE"
  bash benches/e2e-nfq.sh "$N" | tee "$WORK/nfq.txt"
  awk '/CPU/ { for (i = 1; i <= NF; i++) if ($i == "CPU") v = $(i + 1)
      if ($0 ~ /^nfq-sink /) c["sink"] = v
      else if ($0 ~ /^NFQ accept-all  /) c["all"] = v
      else if ($0 ~ /^NFQ VERDICT\+JSON  /) c["json"] = v }
    END { if (c["sink"] > 0) {
      if ("all" in c) printf "goal: NFQ accept-all <= 0.6x nfq-sink: %.2fx\n", c["all"] / c["sink"]
      if ("json" in c) printf "goal: NFQ,BASE,VERDICT,JSON <= 0.6x nfq-sink: %.2fx\n", c["json"] / c["sink"] } }' "$WORK/nfq.txt"
}

case ${ONLY:-all} in
  nflog) nflog_part ;;
  nfct) nfct_part ;;
  nfq) nfq_part ;;
  all) nflog_part; nfct_part; nfq_part ;;
  *) echo "ONLY must be nflog, nfct or nfq"; exit 2 ;;
esac
