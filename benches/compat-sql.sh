#!/usr/bin/env bash
# Side by side with Debian's ulogd2 2.0.8 on the same kernel events (the compat
# review's SQL scenarios), in a private network namespace:
#  1. PGSQL, the server ends both daemons' backends (pg_terminate_backend): 5 pings,
#     the kill, 3 pings 1 s apart, 7 more 3 s later = 15 rows each; default options,
#     then ring_buffer_size=1000.
#  2. SQLITE3, upstream's two stanzas on ONE file: NFCT (hash_enable=0, event_mask=1)
#     into ulog_ct and NFLOG into ulog_pkt, 100 new UDP flows/s and 100 logged
#     packets/s for 6 s (600 + 600 rows per daemon).
# Prints one line per scenario: rows ulogd2 / rows ours. Needs root, Debian's ulogd2,
# ulogd2-pgsql, ulogd2-sqlite3, postgresql (.ci/install-deps), socat, sqlite3, and
# `cargo build -p ulogd-cli` (or ULOGD=path). Ends only the processes it started.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
OURS=${ULOGD:-$here/target/debug/ulogd}
REF=/usr/sbin/ulogd
LIB=/usr/lib/x86_64-linux-gnu/ulogd
NS=cp-sql-$$
T=$(mktemp -d /tmp/cp-sql.XXXXXX)
chmod 755 "$T"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.3
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  ip netns del "$NS" 2>/dev/null || true
  for db in cp_ref_$$ cp_ours_$$; do su postgres -c "dropdb --if-exists --force $db" >/dev/null 2>&1 || true; done
  rm -rf "$T"
}
trap cleanup EXIT
[ -x "$OURS" ] || { echo "build ours first: cargo build -p ulogd-cli"; exit 1; }
bash "$here/.ci/start-postgres" >/dev/null

ip netns add "$NS"
ip -n "$NS" link set lo up
nsx() { ip netns exec "$NS" "$@"; }
# PostgreSQL from inside the namespace: 127.0.0.1:5433 there -> a unix socket -> the
# server's 127.0.0.1:5432 (so the database traffic makes no flows in the namespace).
socat UNIX-LISTEN:"$T/pg.sock",fork TCP:127.0.0.1:5432 & pids+=($!)
sleep 0.2
ip netns exec "$NS" socat TCP-LISTEN:5433,bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:"$T/pg.sock" & pids+=($!)

psql_db() { PGPASSWORD=ulogd psql -h 127.0.0.1 -U ulogd -d "$1" -XqAt -v ON_ERROR_STOP=1 -c "$2"; }
for db in cp_ref_$$ cp_ours_$$; do
  su postgres -c "createdb -O ulogd $db"
done

start_pair() { # $1 = tag; configs in $T/ref-$1.conf, $T/ours-$1.conf
  # `ip netns exec` execs the daemon, so $! is the daemon's pid.
  ip netns exec "$NS" "$REF" -c "$T/ref-$1.conf" >"$T/ref-$1.out" 2>&1 & pids+=($!); refpid=$!
  ip netns exec "$NS" "$OURS" -c "$T/ours-$1.conf" >"$T/ours-$1.out" 2>&1 & pids+=($!); ourpid=$!
  sleep 1.5
}
stop_pair() {
  kill "$refpid" "$ourpid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$refpid" 2>/dev/null || kill -0 "$ourpid" 2>/dev/null || break
    sleep 0.1
  done
}
ping1() { nsx ping -c1 -W1 127.0.0.1 >/dev/null || true; }

# ------------------------------------------------------------------ 1. PGSQL
pg_conf() { # $1 = file, $2 = group, $3 = db, $4 = extra options, $5 = plugin lines
  cat >"$1" <<EOF
[global]
logfile="$T/$(basename "$1" .conf).log"
loglevel=1
$5
stack=log1:NFLOG,base1:BASE,ip2str1:IP2STR,pg1:PGSQL
[log1]
group=$2
[pg1]
db="$3"
host="127.0.0.1"
port=5433
user="ulogd"
pass="ulogd"
table="t"
procedure="INSERT"
$4
EOF
}
refplugins="plugin=\"$LIB/ulogd_inppkt_NFLOG.so\"
plugin=\"$LIB/ulogd_raw2packet_BASE.so\"
plugin=\"$LIB/ulogd_filter_IP2STR.so\"
plugin=\"$LIB/ulogd_output_PGSQL.so\""
nsx nft -f - <<'EOF'
table inet cp {
  chain o {
    type filter hook output priority 0;
    icmp type echo-request log group 11
    icmp type echo-request log group 12
  }
}
EOF
for variant in default ring; do
  extra=""; [ "$variant" = ring ] && extra="ring_buffer_size=1000"
  for db in cp_ref_$$ cp_ours_$$; do
    psql_db "$db" "drop table if exists t; create table t (_id serial, oob_prefix text, ip_saddr_str inet, oob_time_sec bigint)"
  done
  pg_conf "$T/ref-$variant.conf" 11 cp_ref_$$ "$extra" "$refplugins"
  pg_conf "$T/ours-$variant.conf" 12 cp_ours_$$ "$extra" ""
  start_pair "$variant"
  for _ in 1 2 3 4 5; do ping1; sleep 0.1; done
  sleep 1
  su postgres -c "psql -XqAtc \"select count(pg_terminate_backend(pid)) from pg_stat_activity where datname in ('cp_ref_$$','cp_ours_$$') and pid <> pg_backend_pid()\"" >/dev/null
  for _ in 1 2 3; do ping1; sleep 1; done
  sleep 3
  for _ in 1 2 3 4 5 6 7; do ping1; sleep 0.1; done
  sleep 3
  stop_pair
  r=$(psql_db cp_ref_$$ "select count(*) from t")
  o=$(psql_db cp_ours_$$ "select count(*) from t")
  echo "PGSQL server ends the connections ($variant options): ulogd2 $r/15 rows, ours $o/15 rows"
done
nsx nft delete table inet cp

# ------------------------------------------------------------------ 2. SQLITE3
schema=$here/ulogd-export/tests/fixtures/sqlite3.table
for who in ref ours; do
  sqlite3 "$T/$who.sqlite3db" <"$schema"
  if [ $who = ref ]; then g=21; plug="plugin=\"$LIB/ulogd_inppkt_NFLOG.so\"
plugin=\"$LIB/ulogd_inpflow_NFCT.so\"
plugin=\"$LIB/ulogd_output_SQLITE3.so\""; else g=22; plug=""; fi
  cat >"$T/$who-sqlite.conf" <<EOF
[global]
logfile="$T/$who-sqlite.log"
$plug
stack=ct1:NFCT,sqlite3_ct:SQLITE3
stack=log1:NFLOG,sqlite3_pkt:SQLITE3
[ct1]
hash_enable=0
event_mask=1
[log1]
group=$g
[sqlite3_ct]
table="ulog_ct"
db="$T/$who.sqlite3db"
[sqlite3_pkt]
table="ulog_pkt"
db="$T/$who.sqlite3db"
EOF
done
nsx nft -f - <<'EOF'
table inet cp {
  chain o {
    type filter hook output priority 0;
    udp dport 9 ct state new log group 21
    udp dport 9 ct state new log group 22
  }
}
EOF
start_pair sqlite
# 100 new flows/s (a new source port each), each packet logged once per daemon.
nsx python3 - <<'EOF'
import socket, time
t0 = time.time()
for i in range(600):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"x", ("127.0.0.1", 9))
    s.close()
    time.sleep(max(0, t0 + (i + 1) / 100 - time.time()))
EOF
sleep 2.5
t0=$(date +%s.%N)
stop_pair
t1=$(date +%s.%N)
for who in ref ours; do
  read -r pkt ct < <(sqlite3 -separator ' ' "$T/$who.sqlite3db" "select (select count(*) from ulog_pkt), (select count(*) from ulog_ct)")
  eval "${who}_pkt=$pkt ${who}_ct=$ct"
done
echo "SQLITE3 sqlite3_ct + sqlite3_pkt on one file, 100 rows/s per stack for 6 s: ulogd2 pkt $ref_pkt ct $ref_ct, ours pkt $ours_pkt ct $ours_ct (of 600 each); both stopped by SIGTERM in $(printf '%.1f' "$(echo "$t1 - $t0" | bc)") s"
