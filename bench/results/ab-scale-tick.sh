#!/bin/bash
# The big-room tick, before and after (README, "The big-room scenario is arena-v2"): the scale
# benchmark (arena-v2, 1,000 players in one room, 10 measured seconds) run in a base tree (A) and in
# this tree (B), alternated A B A B ...: BASE is a copy of the base commit with node_modules linked
# in (e.g. `git archive 6a0dfd4 | tar -x -C /tmp/base && ln -s "$PWD/node_modules" /tmp/base/`).
# Appends one JSON line per run, with the side, the tree's commit and `uptime` before the run, to
# arena-v2-scale-p1000-ab2.jsonl (or OUT). Each run takes about 40 s of wall time here.
# Usage: BASE=/path/to/base bench/results/ab-scale-tick.sh [pairs] [seconds]
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
base=${BASE:?set BASE to a copy of the base commit with node_modules}
pairs=${1:-3}
seconds=${2:-10}
out=${OUT:-$here/bench/results/arena-v2-scale-p1000-ab2.jsonl}
commit=$(git -C "$here" rev-parse --short HEAD)
for rep in $(seq 1 "$pairs"); do
  for side in A B; do
    dir=$here
    label="B ($commit)"
    if [ "$side" = A ]; then
      dir=$base
      label="A (base)"
    fi
    up=$(uptime)
    line=$(cd "$dir" && timeout 300 npm run -s bench:scale -- --scenario arena-v2 --players 1000 --seconds "$seconds" --json 2>/dev/null | tail -1)
    echo "{\"side\":\"$label\",\"rep\":$rep,\"uptimeBefore\":\"${up# }\",\"result\":${line:-null}}" >> "$out"
  done
done
