#!/usr/bin/env bash
# YaRN RoPE scaling from the outside: the keys are listed, bad or inconsistent values
# are refused naming the key (exit 2), the CUDA backend refuses yarn before writing
# anything, a tiny model trains with yarn and resumes bit for bit, and yarn changes the
# trajectory. (nmoe-eval past the trained context: eval_rope_yarn.sh.)
. "$(dirname "$0")/train_common.bash"
make_data
write_config

nmoe-train --list-keys >keys.txt
for k in rope_scaling rope_factor rope_original_seq_len yarn_beta_fast yarn_beta_slow; do
    grep -q "^$k " keys.txt || fail "--list-keys lacks $k"
done
yarn=(--set rope_scaling=yarn --set rope_factor=4 --set rope_original_seq_len=8)
expect_fail 2 "rope_scaling: 'ntk' is not one of: none, yarn" nmoe-train -q tiny.toml --set rope_scaling=ntk
expect_fail 2 'rope_factor (1) must be > 1 with rope_scaling = "yarn"' \
    nmoe-train -q tiny.toml --set rope_scaling=yarn --set rope_original_seq_len=8
expect_fail 2 'rope_original_seq_len must be set (>= 1) with rope_scaling = "yarn"' \
    nmoe-train -q tiny.toml --set rope_scaling=yarn --set rope_factor=2
expect_fail 2 "yarn_beta_fast (1) must be greater than yarn_beta_slow (1)" \
    nmoe-train -q tiny.toml "${yarn[@]}" --set yarn_beta_fast=1
expect_fail 2 "rope_factor: 0.5 must be >= 1" nmoe-train -q tiny.toml --set rope_factor=0.5
expect_fail 2 'backend "cuda": rope_scaling "yarn" is not in the CUDA backend' \
    nmoe-train -q tiny.toml "${yarn[@]}" --backend cuda --set out_dir=out_cuda
[ ! -e out_cuda ] || fail "yarn on cuda: wrote $(ls out_cuda)"

check_resume yarn "${yarn[@]}"
check_resume plain
[ "$(grep '"step":12,"loss"' yarn_a.ndjson)" != "$(grep '"step":12,"loss"' plain_a.ndjson)" ] || fail "yarn changed nothing"
nmoe-train tiny.toml --resume out_yarn_a >/dev/null 2>fp.err && fail "resumed a yarn checkpoint without yarn"
grep -q 'rope_scaling' fp.err || fail "refusal does not name rope_scaling: $(cat fp.err)"

echo "yarn: keys, refusals, training and resume ok"
