#!/bin/bash
# A/B of the corrections a live handoff costs, A B A B in one run: A = commit 7064302 (git archive
# into $BASE, with this branch's tools/measure/handoff-run.ts so both print the same fields, and
# node_modules linked), B = this branch (the input clock's restart after a move, the predictor's
# count). `bash bench/results/ab-handoff-corrections.sh [extra bench:handoff args]`; appends to
# bench/results/ab-handoff-corrections.jsonl with the load before each run. Compare
# moveCorrectionsDistinct (A's predictor counts a correction again for the same ack and error).
BASE=${BASE:-/tmp/handoff2-base}
HERE=$(cd "$(dirname "$0")/../.." && pwd)
out=$HERE/bench/results/ab-handoff-corrections.jsonl
if [ ! -d "$BASE" ]; then
  mkdir -p "$BASE" && git -C "$HERE" archive 7064302 | tar -x -C "$BASE"
  ln -s "$(readlink -f "$HERE/node_modules")" "$BASE/node_modules"
fi
cp "$HERE/tools/measure/handoff-run.ts" "$BASE/tools/measure/handoff-run.ts"
for v in A B A B; do
  if [ $v = A ]; then d=$BASE; else d=$HERE; fi
  u=$(uptime | sed 's/.*load average: //')
  line=$(cd "$d" && timeout 170 npm run -s bench:handoff -- --json "$@" 2>/dev/null | tail -1)
  echo "{\"variant\":\"$v\",\"uptimeBefore\":\"$u\",\"args\":\"$*\",\"result\":$line}" >> "$out"
done
