#!/usr/bin/env bash
# A long local fuzzing campaign: every target for SECONDS (default 600) each, with
# a persistent working corpus in fuzz/corpus/<target> (git-ignored) seeded from
# fuzz/seeds/<target>. Crashes land in fuzz/artifacts/<target>/: turn each into a
# unit test beside the parser, then add the minimised input to fuzz/seeds/.
#   bash fuzz/campaign.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-600}; shift || true
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || mapfile -t targets < <(cargo +nightly fuzz list)
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "seeds/$t"
  echo "== $t ($secs s)"
  cargo +nightly fuzz run -O -a "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 2>&1 |
    grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY)' || true
done
