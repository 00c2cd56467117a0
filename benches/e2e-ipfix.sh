#!/usr/bin/env bash
# End-to-end IPFIX / NetFlow v9 export: a capture of 100,000 real NFLOG packets (the
# golden capture repeated) replayed through REPLAY,BASE,IPFIX (or NFLOW9) as fast as
# possible to nfdump's nfcapd on 127.0.0.1 over UDP; reports records per second of the
# exporter (wall time of the replay) and how many flows nfcapd stored (nfdump -r).
# nfcapd gets a 16 MiB socket buffer (-B): with its default it drops datagrams at this
# rate (about 20 %), which would measure nfcapd, not the exporter. Needs no root.
# Usage: bash benches/e2e-ipfix.sh [REPEAT]
set -euo pipefail
cd "$(dirname "$0")/.."
REPEAT=${1:-5000}
command -v nfcapd >/dev/null && command -v nfdump >/dev/null || { echo "skip: nfdump (nfcapd) not installed"; exit 0; }
WORK=$(mktemp -d /tmp/ulogd-bench-ipfix.XXXXXX)
trap 'kill ${CAP:-} 2>/dev/null || true; rm -rf "$WORK"' EXIT
cargo build --release --quiet --bin ulogd
BIN=$PWD/target/release/ulogd
python3 - "$WORK/big.pcap" "$REPEAT" <<'PY'
import struct, sys
d = open('ulogd-netfilter/tests/fixtures/golden-basic/nflog.pcap', 'rb').read()
recs, i = [], 24
while i < len(d):
    cl = struct.unpack('<I', d[i+8:i+12])[0]
    recs.append(d[i:i+16+cl]); i += 16 + cl
open(sys.argv[1], 'wb').write(d[:24] + b''.join(recs) * int(sys.argv[2]))
PY
N=$((20 * REPEAT))
for proto in IPFIX NFLOW9; do
  port=$((20000 + RANDOM % 20000))
  mkdir -p "$WORK/$proto"
  nfcapd -B 16777216 -b 127.0.0.1 -p "$port" -w "$WORK/$proto" >/dev/null 2>&1 &
  CAP=$!
  sleep 0.5
  cat > "$WORK/$proto.conf" <<CONF
[global]
logfile="$WORK/$proto.log"
stack=r:REPLAY,b:BASE,x:$proto
[r]
file="$WORK/big.pcap"
[x]
dest="udp://127.0.0.1:$port"
CONF
  start=$(date +%s.%N)
  "$BIN" -c "$WORK/$proto.conf"
  end=$(date +%s.%N)
  sleep 1
  kill "$CAP"; wait "$CAP" 2>/dev/null || true; CAP=
  stored=$(nfdump -R "$WORK/$proto" -q -o csv 2>/dev/null | grep -c '^[0-9]' || true)
  awk -v p="$proto" -v n="$N" -v s="$start" -v e="$end" -v st="$stored" 'BEGIN {
    printf "%-7s %d records in %.2f s = %.0f records/s; nfcapd stored %d (%.1f%%)\n", p, n, e - s, n / (e - s), st, 100 * st / n
  }'
done
