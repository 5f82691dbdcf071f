#!/bin/bash
# A/B alternated: A = base b6ba400; B = this tree (sends after the tick, 30 input packets/s); Boff = B with TICKWIRE_SENDS_AFTER_TICK=0
out=/tmp/dg-ab/results2.jsonl
for transport in webrtc ws; do
  for rep in 1 2; do
    for side in A B Boff; do
      if [ "$side" = A ]; then dir=/work/wt-datagrams-base; envs=""; else dir=/work/wt-datagrams; envs=""; fi
      if [ "$side" = Boff ]; then envs="TICKWIRE_SENDS_AFTER_TICK=0"; fi
      line=$(cd $dir && env $envs timeout 300 npm run bench --silent -- --scenario arena-v1 --players 50 --npcs 500 --seconds 20 --warmup 5 --transport $transport --json 2>>/tmp/dg-ab/err2.log | tail -1)
      echo "{\"side\":\"$side\",\"rep\":$rep,\"result\":$line}" >> $out
    done
  done
done
echo DONE >> /tmp/dg-ab/err2.log
