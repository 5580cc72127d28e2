#!/usr/bin/env bash
# Bad configs and bad data give one clear line naming the key (and file:line:col) or the
# file, and the documented exit status (2 for the config, 1 for the data); nothing is
# trained and no checkpoint is written.
. "$(dirname "$0")/train_common.bash"
make_data
write_config

printf 'dimm = 3\n' >k.toml
expect_fail 2 "nmoe-train: k.toml:1:8: unknown key 'dimm' (did you mean 'dim'?)" nmoe-train k.toml
printf '[model]\ndim = "wide"\n' >t.toml
expect_fail 2 "nmoe-train: t.toml:2:7: dim: expected an integer, got a string" nmoe-train t.toml
printf '[train]\nlr_dense = -0.5\n' >r.toml
expect_fail 2 "nmoe-train: r.toml:2:12: lr_dense: -0.5 must be >= 0" nmoe-train r.toml
printf '[optimizer]\nlr = 1\n' >s.toml
expect_fail 2 "nmoe-train: s.toml:2:6: unknown key 'optimizer.lr'" nmoe-train s.toml
printf 'dim = 64\ndim = 32\n' >dup.toml
expect_fail 2 "dup.toml:2:" nmoe-train dup.toml
printf 'dim = [\n' >syntax.toml
expect_fail 2 "nmoe-train: syntax.toml:" nmoe-train syntax.toml
expect_fail 2 "nmoe-train: missing.toml: No such file or directory" nmoe-train missing.toml

expect_fail 2 "nmoe-train: --set dim=0: dim: 0 is out of range [1, 65536]" nmoe-train tiny.toml --set dim=0
expect_fail 2 "nmoe-train: --set seed=x: seed: expected an integer" nmoe-train tiny.toml --set seed=x
expect_fail 2 "nmoe-train: --set stepz=3: unknown key 'stepz' (did you mean 'steps'?)" nmoe-train tiny.toml --set stepz=3
expect_fail 2 "nmoe-train: --set router_score=relu: router_score: 'relu' is not one of: sigmoid, softmax" \
    nmoe-train tiny.toml --set router_score=relu
expect_fail 2 "nmoe-train: tiny.toml: n_activated_experts (6) must not exceed n_routed_experts (4)" \
    nmoe-train tiny.toml --set n_routed_experts=4 --set n_activated_experts=6
expect_fail 2 "nmoe-train: tiny.toml: n_dense_layers (2) leaves no MoE block of the n_layers (2)" \
    nmoe-train tiny.toml --set n_routed_experts=4 --set n_dense_layers=2
expect_fail 2 "nmoe-train: --set capacity_factor=-1: capacity_factor: -1 must be >= 0" \
    nmoe-train tiny.toml --set capacity_factor=-1
expect_fail 2 "nmoe-train: --set router_bias_update_rate=2: router_bias_update_rate: 2 must be <= 1" \
    nmoe-train tiny.toml --set router_bias_update_rate=2
expect_fail 2 "nmoe-train: --set stop_on_collapse=yes: stop_on_collapse: expected true or false" \
    nmoe-train tiny.toml --set stop_on_collapse=yes
expect_fail 2 "nmoe-train: tiny.toml: dim (30) must be a multiple of n_heads (4)" nmoe-train tiny.toml --set dim=30
expect_fail 2 "nmoe-train: tiny.toml: batch_size (4) must be a multiple of micro_batch_size (3)" \
    nmoe-train tiny.toml --set micro_batch_size=3
expect_fail 2 "nmoe-train: tiny.toml: eos_token_id (300) must be below vocab_size (256)" nmoe-train tiny.toml --set eos_token_id=300

expect_fail 2 "nmoe-train: tiny.toml: validation_log_bpb needs tokenizer" nmoe-train tiny.toml --set validation_log_bpb=true
# The data.
expect_fail 1 "nmoe-train: tokenizer gpt2 (vocabulary id " \
    nmoe-train tiny.toml --set validation_log_bpb=true --set tokenizer=gpt2
grep -qF "is not the one data was made with (000000005eedf00d)" cmd.err || fail "tokenizer mismatch: $(cat cmd.err)"
expect_fail 1 "nmoe-train: data: the data's vocabulary has 256 ids, more than vocab_size = 100 (set vocab_size to at least 256)" \
    nmoe-train tiny.toml --set vocab_size=100 --set eos_token_id=-1
expect_fail 1 "nmoe-train: data_path is not set" nmoe-train tiny.toml --set data_path=
expect_fail 1 "nmoe-train: nowhere: No such file or directory" nmoe-train tiny.toml --set data_path=nowhere
expect_fail 1 "fewer than seq_len + 1 = 1000001" nmoe-train tiny.toml --set seq_len=1000000
expect_fail 1 "nmoe-train: validation_every = 4 but there is no validation data" \
    nmoe-train tiny.toml --set data_path=data/train-000000.shard --set holdout_fraction=0
[ ! -e out ] || fail "a failed start left $(ls -A out)"
echo "bad configs: ok"
