#!/bin/bash
# The arena-v1 tick's phases in process (bench/tick-phases.ts: CPU time per simulated second),
# this tree (B) and a base tree (A) alternated, A B A B: BASE is a copy of the base commit with
# node_modules linked in; the base commit has no bench/tick-phases.ts, so this one is copied in.
# Appends one JSON line per run, with the load average before it, to ab-tick-phases.jsonl.
# Usage: BASE=/path/to/base bench/results/ab-tick-phases.sh [reps] [seconds]
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
base=${BASE:?set BASE to a copy of the base commit with node_modules}
reps=${1:-3}
seconds=${2:-20}
out=$here/bench/results/ab-tick-phases.jsonl
cp "$here/bench/tick-phases.ts" "$base/bench/tick-phases.ts"
for rep in $(seq 1 "$reps"); do
  for side in A B; do
    load=$(cut -d' ' -f1 /proc/loadavg)
    dir=$here
    [ "$side" = A ] && dir=$base
    line=$(cd "$dir" && timeout 120 node --import tsx bench/tick-phases.ts --seconds "$seconds" --json | tail -1)
    echo "{\"side\":\"$side\",\"rep\":$rep,\"loadBefore\":$load,\"result\":${line:-null}}" >> "$out"
  done
done
