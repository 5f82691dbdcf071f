#!/bin/bash
# The big-room tick beside other work: the scale benchmark (arena-v2, 1,000 players, 10 s) with 0, 1
# and 2 busy loops running beside it (each a node process spinning, bounded by `timeout`), N times
# round, one line per run with the number of loops, appended to
# arena-v2-scale-p1000-contention.jsonl (or OUT). One loop fills the machine's other core; two make
# three runnable threads for two cores, so the benchmark's thread waits its turn: what a machine
# with a load average above its core count does to a tick timed on the wall clock.
# Usage: bench/results/scale-contention.sh [rounds]
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
rounds=${1:-1}
out=${OUT:-$here/bench/results/arena-v2-scale-p1000-contention.jsonl}
commit=$(git -C "$here" rev-parse --short HEAD)
for rep in $(seq 1 "$rounds"); do
  for loops in 0 1 2; do
    pids=()
    for _ in $(seq 1 "$loops"); do
      timeout 120 node -e 'let x = 0; for (;;) x = (x * 1103515245 + 12345) | 0;' &
      pids+=($!)
    done
    sleep 1
    line=$(cd "$here" && timeout 300 npm run -s bench:scale -- --scenario arena-v2 --players 1000 --seconds 10 --json 2>/dev/null | tail -1)
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    echo "{\"commit\":\"$commit\",\"rep\":$rep,\"busyLoops\":$loops,\"seconds\":10,\"result\":${line:-null}}" >> "$out"
  done
done
