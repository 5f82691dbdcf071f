#!/bin/bash
# A/B of the corrections a live handoff costs on real processes, A B A B A B in one run:
# A = commit $A (default e1fe246: before the input clock's fixes for moved players; git archive
# into $BASE with this tree's tools/measure/handoff-run.ts, so both print the same fields, and
# node_modules linked), B = this tree. `bash bench/results/ab-handoff-moves.sh [extra bench:handoff args]`;
# appends one line per run to bench/results/ab-handoff-moves.jsonl with the load before it.
# Compare moveCorrections (after `moved`), drainCorrections (at the old owner between the drain
# and `moved`) and correctionsPerPlayer (the whole drain window).
A=${A:-e1fe246}
BASE=${BASE:-/tmp/handoff-moves-base-$A}
HERE=$(cd "$(dirname "$0")/../.." && pwd)
out=$HERE/bench/results/ab-handoff-moves.jsonl
if [ ! -d "$BASE" ]; then
  mkdir -p "$BASE" && git -C "$HERE" archive "$A" | tar -x -C "$BASE"
  ln -s "$(readlink -f "$HERE/node_modules")" "$BASE/node_modules"
fi
cp "$HERE/tools/measure/handoff-run.ts" "$BASE/tools/measure/handoff-run.ts"
for v in A B A B A B; do
  if [ $v = A ]; then d=$BASE; else d=$HERE; fi
  u=$(uptime | sed 's/.*load average: //')
  line=$(cd "$d" && timeout 170 npm run -s bench:handoff -- --json "$@" 2>/dev/null | tail -1)
  echo "{\"variant\":\"$v\",\"base\":\"$A\",\"uptimeBefore\":\"$u\",\"args\":\"$*\",\"result\":$line}" >> "$out"
done
