#!/bin/sh
# Runs one libFuzzer target for a bounded time, reading the committed seed corpus
# and writing new inputs and any crash reproducer into a scratch directory.
set -eu
fuzzer=$1 seed=$2 work=$3 seconds=$4
rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
# A dictionary beside the seeds (corpus/<name>.dict) steers the mutations to its tokens.
dict=""
if [ -f "$seed.dict" ]; then dict="-dict=$seed.dict"; fi
exec "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$work/artifacts/" $dict "$work/corpus" "$seed"
