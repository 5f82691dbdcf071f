#!/bin/bash
# Interleaved in one run, at the arena-v1 default point (50 bots, 500 NPCs, 20 s window, 5 s warm-up):
#   B-ws     the tree at 46d6b4f over the WebSocket
#   colyseus Colyseus 0.16 (bench/compare/colyseus, same machine, same point, its own bots)
#   B-webrtc the tree at 46d6b4f over WebRTC (SCTP delayed SACK 200 ms)
#   A-webrtc the tree at cb52188, without that change (BASE: `git archive cb52188 | tar -x -C $BASE`,
#            node_modules linked in)
# The ws rows and the colyseus rows alternate (A B A B ...); so do the two WebRTC rows. Reps 1-2
# ran before c0cdbe9 fixed the Colyseus runner's report race (their Colyseus bytes are null: not
# used), reps 5-6 were a second invocation (`... 2 5`).
# Usage: BASE=/path/to/base bench/results/ab-sockets-colyseus.sh [reps] [first rep number]
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
base=${BASE:?set BASE to a copy of the base commit with node_modules}
reps=${1:-4}
first=${2:-1}
out=$here/bench/results/ab-sockets-colyseus-p50-n500.jsonl
err=${ERR_LOG:-/dev/null}
point="--scenario arena-v1 --players 50 --npcs 500 --seconds 20 --warmup 5 --json"
for rep in $(seq "$first" $((first + reps - 1))); do
  for side in B-ws colyseus B-webrtc A-webrtc; do
    load=$(cut -d' ' -f1 /proc/loadavg)
    case $side in
      B-ws) line=$(cd "$here" && timeout 300 npm run bench --silent -- $point --transport ws 2>>"$err" | tail -1) ;;
      B-webrtc) line=$(cd "$here" && timeout 300 npm run bench --silent -- $point --transport webrtc 2>>"$err" | tail -1) ;;
      A-webrtc) line=$(cd "$base" && timeout 300 npm run bench --silent -- $point --transport webrtc 2>>"$err" | tail -1) ;;
      colyseus) line=$(cd "$here" && timeout 300 node bench/compare/colyseus/run.mjs --players 50 --npcs 500 --seconds 20 --warmup 5 2>>"$err" | tail -1) ;;
    esac
    [ -n "$line" ] || line=null
    echo "{\"side\":\"$side\",\"rep\":$rep,\"loadBefore\":$load,\"result\":$line}" >> "$out"
  done
done
