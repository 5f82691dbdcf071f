#!/bin/bash
# The arena-v1 default point (50 bots, 500 NPCs, 20 s window, 5 s warm-up) on this tree over the
# WebSocket and over WebRTC, and Colyseus 0.16 (bench/compare/colyseus, its own bots), interleaved
# ws, colyseus, webrtc per rep in one run, one line per run with the 1-minute load before it.
# Usage: bench/results/ab-sockets-colyseus-quiet.sh [reps] (default 3); appends to
# bench/results/ab-sockets-colyseus-quiet-p50-n500.jsonl.
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
reps=${1:-3}
out=$here/bench/results/ab-sockets-colyseus-quiet-p50-n500.jsonl
err=${ERR_LOG:-/dev/null}
point="--scenario arena-v1 --players 50 --npcs 500 --seconds 20 --warmup 5 --json"
commit=$(git -C "$here" rev-parse --short HEAD)
for rep in $(seq 1 "$reps"); do
  for side in ws colyseus webrtc; do
    load=$(cut -d' ' -f1 /proc/loadavg)
    case $side in
      ws|webrtc) line=$(cd "$here" && timeout 300 npm run bench --silent -- $point --transport $side 2>>"$err" | tail -1) ;;
      colyseus) line=$(cd "$here" && timeout 300 node bench/compare/colyseus/run.mjs --players 50 --npcs 500 --seconds 20 --warmup 5 2>>"$err" | tail -1) ;;
    esac
    [ -n "$line" ] || line=null
    echo "{\"side\":\"$side\",\"rep\":$rep,\"commit\":\"$commit\",\"loadBefore\":$load,\"result\":$line}" >> "$out"
  done
done
