#!/bin/bash
# The arena-v1 default point over WebRTC (50 bots, 500 NPCs, 20 s window, 5 s warm-up), A B A B:
# A = a base commit (default 6bc596a: SCTP's delayed SACK at libdatachannel's 20 ms), B = this tree
# (200 ms). Around each run the machine's UDP datagrams (/proc/net/snmp, out) are read, so both sides
# are counted the same way whatever their results record.
# Usage: bench/results/ab-sctp-sack.sh [reps] [base] (default 2, 6bc596a); appends to
# bench/results/ab-sctp-sack.jsonl.
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
reps=${1:-2}
base=${2:-6bc596a}
out=$here/bench/results/ab-sctp-sack.jsonl
err=${ERR_LOG:-/dev/null}
point="--scenario arena-v1 --players 50 --npcs 500 --seconds 20 --warmup 5 --transport webrtc --json"
wt=$(mktemp -d)
git -C "$here" worktree add -q --detach "$wt" "$base"
ln -s "$here/node_modules" "$wt/node_modules"
trap 'git -C "$here" worktree remove --force "$wt"' EXIT
udp_out() { awk '/^Udp:/{if(n++){print $5}}' /proc/net/snmp; }
commit=$(git -C "$here" rev-parse --short HEAD)
for rep in $(seq 1 "$reps"); do
  for side in A B; do
    if [ "$side" = A ]; then dir=$wt; c=$base; else dir=$here; c=$commit; fi
    load=$(cut -d' ' -f1 /proc/loadavg)
    t0=$(date +%s.%N); u0=$(udp_out)
    line=$(cd "$dir" && timeout 300 npm run bench --silent -- $point 2>>"$err" | tail -1)
    u1=$(udp_out); t1=$(date +%s.%N)
    [ -n "$line" ] || line=null
    echo "{\"side\":\"$side\",\"rep\":$rep,\"commit\":\"$c\",\"loadBefore\":$load,\"udpOutDatagramsWholeRun\":$((u1 - u0)),\"runSec\":$(echo "$t1 - $t0" | bc),\"result\":$line}" >> "$out"
  done
done
