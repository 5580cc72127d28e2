#!/usr/bin/env bash
# The architecture and loss dials of issue 15 from the outside: each is a config key
# (--list-keys), a bad value is refused naming the key (exit 2), backend = "cuda" with a
# dial the CUDA backend lacks is refused naming the dial (exit 2, before anything is
# written), the checkpoint carries the dial's tensors (relu2: no w3 anywhere), a resumed
# run matches an uninterrupted one bit for bit, and nmoe-eval reads the checkpoint.
. "$(dirname "$0")/train_common.bash"
make_data
write_config

nmoe-train --list-keys >keys.txt
for k in ffn_activation z_loss router_z_loss; do
    grep -q "^$k " keys.txt || fail "--list-keys lacks $k"
done

expect_fail 2 "ffn_activation: 'gelu' is not one of: swiglu, relu2, squared_reglu" \
    nmoe-train -q tiny.toml --set ffn_activation=gelu
printf '[model]\nffn_activation = "relu"\n' >bad.toml
expect_fail 2 "bad.toml:2:18: ffn_activation: 'relu' is not one of" nmoe-train -q bad.toml
expect_fail 2 "z_loss: -0.1 must be >= 0" nmoe-train -q tiny.toml --set z_loss=-0.1

expect_fail 2 'backend "cuda": z_loss 0.01 is not in the CUDA backend' \
    nmoe-train -q tiny.toml --set z_loss=0.01 --backend cuda --set out_dir=out_cuda
[ ! -e out_cuda ] || fail "z_loss on cuda: wrote $(ls out_cuda)"
expect_fail 2 'backend "cuda": router_z_loss 0.01 is not in the CUDA backend' \
    nmoe-train -q tiny.toml --set n_routed_experts=4 --set router_z_loss=0.01 --backend cuda --set out_dir=out_cuda
for dial in ffn_activation=relu2 ffn_activation=squared_reglu; do
    expect_fail 2 "backend \"cuda\": ${dial%%=*} \"${dial#*=}\" is not in the CUDA backend" \
        nmoe-train -q tiny.toml --set "$dial" --backend cuda --set out_dir=out_cuda
    [ ! -e out_cuda ] || fail "$dial on cuda: wrote $(ls out_cuda)"
done

# An MoE model (a dense block, a shared expert, routed experts) with each dial.
moe=(--set n_routed_experts=8 --set n_activated_experts=2 --set n_shared_experts=1 --set n_dense_layers=1
     --set moe_inter_dim=16 --set router_bias_update_rate=0.01)
check_resume() {
    local name=$1
    shift
    nmoe-train -q tiny.toml "${moe[@]}" "$@" --set out_dir=out_${name}_a >${name}_a.ndjson
    nmoe-train -q tiny.toml "${moe[@]}" "$@" --set out_dir=out_${name}_b --set steps=8 >${name}_b.ndjson
    nmoe-train -q tiny.toml "${moe[@]}" "$@" --set out_dir=out_${name}_b --resume out_${name}_b >>${name}_b.ndjson
    diff <(after_step 8 ${name}_a.ndjson | norm_paths) <(after_step 8 ${name}_b.ndjson | norm_paths) \
        || fail "$name: resume from step 8 differs"
    tail -n 1 ${name}_a.ndjson | grep_all '"reason":"finished"' || fail "$name: did not finish"
}

check_resume relu2 --set ffn_activation=relu2
w3=$({ grep -a -o 'w3\.weight' out_relu2_a/step-00000012/model.bin || true; } | wc -l)
[ "$w3" = 0 ] || fail "relu2: the checkpoint has $w3 w3 tensors"
# relu2 experts in an emulated precision: the quantized operands without a W3 (moe.c).
check_resume relu2_nvfp4 --set ffn_activation=relu2 --set expert_precision=nvfp4
grep -q '"kind":"train".*"loss":[0-9]' relu2_nvfp4_a.ndjson || fail "relu2 with nvfp4 experts: no finite loss"
[ "$(sed -n 2p relu2_nvfp4_a.ndjson)" != "$(sed -n 2p relu2_a.ndjson)" ] || fail "nvfp4 changed nothing under relu2"
check_resume sqreglu --set ffn_activation=squared_reglu
w3=$(grep -a -o '"[a-z0-9_.]*w3\.weight"' out_sqreglu_a/step-00000012/model.bin | sort -u | wc -l)
[ "$w3" = 3 ] || fail "squared_reglu: the checkpoint has $w3 distinct w3 tensors, expected 3"
# Different dials, different trajectories (and fingerprints).
[ "$(sed -n 2p relu2_a.ndjson)" != "$(sed -n 2p sqreglu_a.ndjson)" ] || fail "relu2 and squared_reglu ran the same"
nmoe-train tiny.toml "${moe[@]}" --set ffn_activation=relu2 --resume out_sqreglu_a >/dev/null 2>fp.err && fail "resumed another activation"
grep -qF 'ffn_activation "squared_reglu" -> "relu2"' fp.err || fail "refusal does not name ffn_activation: $(cat fp.err)"

# The z-loss: reported on every train line (and only when on), resumed bit for bit, and
# the cross-entropy it leaves differs from a run without it.
check_resume zloss --set z_loss=0.01
[ "$(grep '"kind":"train"' zloss_a.ndjson | grep -c '"z_loss":')" = 12 ] || fail "z_loss: train lines lack z_loss"
check_resume plain
! grep '"kind":"train"' plain_a.ndjson | grep_all '"z_loss"' || fail "z_loss reported while off"
[ "$(grep '"step":12,"loss"' zloss_a.ndjson)" != "$(grep '"step":12,"loss"' plain_a.ndjson)" ] || fail "z_loss changed nothing"

# The router z-loss: on the train lines of an MoE run, resumed bit for bit.
check_resume rz --set router_z_loss=0.01
[ "$(grep '"kind":"train"' rz_a.ndjson | grep -c '"router_z_loss":')" = 12 ] || fail "router_z_loss: train lines lack it"
! grep '"kind":"train"' plain_a.ndjson | grep_all '"router_z_loss"' || fail "router_z_loss reported while off"

# nmoe-eval reads a relu2 checkpoint (its shape from the checkpoint's config), and
# routes as the trainer does.
nmoe-eval router --ckpt out_relu2_a --data data >router.ndjson 2>router.err || fail "nmoe-eval router on relu2: $(cat router.err)"
grep -q '"kind":"router"' router.ndjson || fail "nmoe-eval router on relu2: $(head -c 300 router.ndjson)"
expect_fail 2 'ffn_activation "relu2" is not in the CUDA backend' nmoe-eval router --ckpt out_relu2_a --data data --backend cuda
echo "dials: keys, refusals, checkpoints and resume ok"
