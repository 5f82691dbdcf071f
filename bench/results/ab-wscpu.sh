#!/bin/bash
# Interleaved in one run, at the arena-v1 default point (50 bots, 500 NPCs, 20 s window, 5 s warm-up):
#   B-ws      this tree over the WebSocket
#   colyseus  Colyseus 0.16 (bench/compare/colyseus, same machine, same point, its own bots)
#   A-ws      the base tree (7064302, main before these changes) over the WebSocket
#   B-webrtc, A-webrtc   the same two trees over WebRTC (only with WEBRTC=1)
# The sides alternate in that order every rep (A B A B ...). BASE is a copy of the base commit with
# node_modules linked in: `git archive 7064302 | tar -x -C $BASE; ln -s $PWD/node_modules $BASE/`.
# `uptime`'s 1-minute load before each run is stored beside its result.
# Usage: BASE=/path/to/base [WEBRTC=1] bench/results/ab-wscpu.sh [reps] [first rep number]
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
base=${BASE:?set BASE to a copy of the base commit with node_modules}
reps=${1:-3}
first=${2:-1}
out=$here/bench/results/ab-wscpu-p50-n500.jsonl
err=${ERR_LOG:-/dev/null}
point="--scenario arena-v1 --players 50 --npcs 500 --seconds 20 --warmup 5 --json"
sides="B-ws colyseus A-ws"
[ "${WEBRTC:-0}" = 1 ] && sides="$sides B-webrtc A-webrtc"
for rep in $(seq "$first" $((first + reps - 1))); do
  for side in $sides; do
    load=$(cut -d' ' -f1 /proc/loadavg)
    case $side in
      B-ws) line=$(cd "$here" && timeout 300 npm run bench --silent -- $point --transport ws 2>>"$err" | tail -1) ;;
      A-ws) line=$(cd "$base" && timeout 300 npm run bench --silent -- $point --transport ws 2>>"$err" | tail -1) ;;
      B-webrtc) line=$(cd "$here" && timeout 300 npm run bench --silent -- $point --transport webrtc 2>>"$err" | tail -1) ;;
      A-webrtc) line=$(cd "$base" && timeout 300 npm run bench --silent -- $point --transport webrtc 2>>"$err" | tail -1) ;;
      colyseus) line=$(cd "$here" && timeout 300 node bench/compare/colyseus/run.mjs --players 50 --npcs 500 --seconds 20 --warmup 5 2>>"$err" | tail -1) ;;
    esac
    [ -n "$line" ] || line=null
    echo "{\"side\":\"$side\",\"rep\":$rep,\"loadBefore\":$load,\"result\":$line}" >> "$out"
  done
done
