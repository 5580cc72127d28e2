#!/usr/bin/env bash
# Checkpoints do not depend on the rank count: a run resumed under mpirun, from a
# checkpoint that one process, 2 or 4 ranks wrote, on the same or another number of
# ranks, gives the metrics of one process that never stopped (bit for bit, "time"
# apart), also on an MoE model; and a resumed run appends to its --metrics file.
. "$(dirname "$0")/train_mpi_common.bash"
make_data
write_config
moe=(--set batch_size=8 --set n_routed_experts=8 --set n_activated_experts=2 --set n_shared_experts=1
     --set n_dense_layers=0 --set moe_inter_dim=24 --set router_bias_update_rate=0.01 --set log_every=3
     --set aux_loss_alpha=0.001)

# One process, 12 steps without stopping.
nmoe-train -q tiny.toml "${moe[@]}" --set out_dir=out_a >a.ndjson
# 4 ranks to step 8 (a checkpoint inside a router window), then 2 ranks on to 12.
mpi 4 -q tiny.toml "${moe[@]}" --set out_dir=out_b --set steps=8 --metrics b.ndjson
[ "$(cat out_b/latest)" = step-00000008 ] || fail "-np 4: latest is not step-00000008"
mpi 2 -q tiny.toml "${moe[@]}" --set out_dir=out_b --resume out_b --metrics b.ndjson
[ "$(grep -c '"kind":"meta"' b.ndjson)" = 2 ] || fail "the resumed run did not append to the metrics file"
diff <(after_step 8 a.ndjson | norm_paths) <(after_step 8 b.ndjson | norm_paths) || fail "-np 4 then -np 2: steps after 8 differ"
# One process's checkpoint of step 4, resumed on 4 ranks.
mpi 4 -q tiny.toml "${moe[@]}" --set out_dir=out_c --resume out_a/step-00000004 >c.ndjson
diff <(after_step 4 a.ndjson | norm_paths) <(after_step 4 c.ndjson | norm_paths) || fail "one process then -np 4: steps after 4 differ"
echo "train_mpi_resume: ok"
