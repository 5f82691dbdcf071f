#!/bin/bash
# A/B of the handoff's input continuity, A B A B in one run: A = commit 5f463e1 (git archive into
# $BASE, with this branch's tools/measure/handoff-run.ts so both print the same fields), B = this
# branch. `bash bench/results/ab-handoff-inputs.sh [extra bench:handoff args]`; appends to
# bench/results/ab-handoff-inputs.jsonl with the load before each run.
BASE=${BASE:-/tmp/handoff-base}
HERE=$(cd "$(dirname "$0")/../.." && pwd)
out=$HERE/bench/results/ab-handoff-inputs.jsonl
for v in A B A B; do
  if [ $v = A ]; then d=$BASE; else d=$HERE; fi
  u=$(uptime | sed 's/.*load average: //')
  line=$(cd "$d" && timeout 170 npm run -s bench:handoff -- --json "$@" 2>/dev/null | tail -1)
  echo "{\"variant\":\"$v\",\"uptimeBefore\":\"$u\",\"args\":\"$*\",\"result\":$line}" >> "$out"
done
