#!/bin/bash
out=/tmp/dg-ab/results3.jsonl
for rep in 1 2; do
  for n in 1 2; do
    line=$(cd /work/wt-datagrams && TICKWIRE_WEBRTC_PROCESSES=$n timeout 300 npm run bench --silent -- --scenario arena-v1 --players 50 --npcs 500 --seconds 20 --warmup 5 --transport webrtc --json 2>>/tmp/dg-ab/err3.log | tail -1)
    echo "{\"side\":\"P$n\",\"rep\":$rep,\"result\":$line}" >> $out
  done
done
echo DONE >> /tmp/dg-ab/err3.log
