#!/bin/bash
# The big-room tick over a series of runs of one tree (README, "The big-room scenario is arena-v2"):
# the scale benchmark (arena-v2, 1,000 players in one room) run N times one after another, each
# line with the tree's commit and `uptime` before the run, appended to
# arena-v2-scale-p1000-series.jsonl (or OUT). A run of 10 measured seconds takes about 25 s here.
# Usage: bench/results/scale-series.sh [runs] [seconds]
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
runs=${1:-6}
seconds=${2:-10}
out=${OUT:-$here/bench/results/arena-v2-scale-p1000-series.jsonl}
commit=$(git -C "$here" rev-parse --short HEAD)
for rep in $(seq 1 "$runs"); do
  up=$(uptime)
  line=$(cd "$here" && timeout 300 npm run -s bench:scale -- --scenario arena-v2 --players 1000 --seconds "$seconds" --json 2>/dev/null | tail -1)
  echo "{\"commit\":\"$commit\",\"rep\":$rep,\"seconds\":$seconds,\"uptimeBefore\":\"${up# }\",\"result\":${line:-null}}" >> "$out"
done
