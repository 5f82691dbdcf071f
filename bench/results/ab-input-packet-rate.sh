#!/bin/bash
# A/B alternated: A = /work/wt-datagrams-base (b6ba400), B = /work/wt-datagrams at 60/30/20 input packets/s
out=/tmp/dg-ab/results.jsonl
for transport in webrtc ws; do
  for rep in 1 2; do
    for side in A B60 B30 B20; do
      if [ "$side" = A ]; then dir=/work/wt-datagrams-base; extra=""; else dir=/work/wt-datagrams; extra="--input-packet-hz ${side#B}"; fi
      line=$(cd $dir && timeout 300 npm run bench --silent -- --scenario arena-v1 --players 50 --npcs 500 --seconds 20 --warmup 5 --transport $transport --json $extra 2>>/tmp/dg-ab/err.log | tail -1)
      echo "{\"side\":\"$side\",\"rep\":$rep,\"result\":$line}" >> $out
    done
  done
done
echo DONE >> /tmp/dg-ab/err.log
