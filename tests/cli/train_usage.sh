#!/usr/bin/env bash
# The command line: -h, --help (every option with its default), -V, usage errors with
# status 2, --list-keys (every config key), --print-config (the resolved config and its
# fingerprint, reading the config from stdin with '-'), and the man page covering
# every long option and config key.
. "$(dirname "$0")/train_common.bash"
write_config

nmoe-train -h >h.txt
grep -q '^Usage: nmoe-train CONFIG.toml' h.txt || fail "-h: $(cat h.txt)"
nmoe-train --help >help.txt
for opt in --set --metrics --resume --force --threads --print-config --list-keys --quiet --verbose --help --version; do
    grep -q -- "$opt" help.txt || fail "--help lacks $opt"
done
# Every option carries a default, except -h, --help and -V.
n_opts=$(grep -cE '^  (-[a-zA-Z], |    )--[a-z]' help.txt)
n_defaults=$(grep -c '\[default:' help.txt)
[ "$n_defaults" -ge $((n_opts - 2)) ] || fail "--help: $n_defaults defaults for $n_opts options"
[ "$(nmoe-train -V)" = "$(nmoe-train --version)" ] || fail "-V and --version differ"
nmoe-train --version | grep_all -E '^nmoe-train [0-9]+\.[0-9]+\.[0-9]+$' || fail "--version: $(nmoe-train --version)"

expect_fail 2 "nmoe-train: no config file given" nmoe-train
expect_fail 2 "nmoe-train: unknown option '--bogus'" nmoe-train tiny.toml --bogus
expect_fail 2 "nmoe-train: unknown option '-x'" nmoe-train -x tiny.toml
expect_fail 2 "nmoe-train: option '--set' needs a value" nmoe-train tiny.toml --set
expect_fail 2 "nmoe-train: one config file, got 2" nmoe-train tiny.toml tiny.toml
expect_fail 2 "nmoe-train: --threads: 0 is out of range" nmoe-train -T 0 tiny.toml

# --list-keys: one line per key, the reserved MoE keys among them.
nmoe-train --list-keys >keys.txt
for k in dim n_layers n_heads n_kv_heads inter_dim vocab_size seq_len batch_size micro_batch_size steps lr_dense \
         weight_decay adam_beta1 adam_beta2 adam_eps warmup_steps hold_tokens decay_tokens decay_floor grad_clip seed \
         data_path validation_data_path validation_every validation_steps eos_token_id loss_mask_eos log_every \
         checkpoint_every out_dir resume target_loss rope_theta norm_eps init_std n_dense_layers n_routed_experts \
         n_shared_experts n_activated_experts moe_inter_dim route_scale router_score router_bias_update_rate \
         aux_loss_alpha lr_expert lr_router expert_output_gain; do
    grep -q "^$k " keys.txt || fail "--list-keys lacks $k"
done

# --print-config: the file, the overrides, stdin.
nmoe-train tiny.toml --set lr_dense=0.01 --print-config >p.json
python3 - p.json <<'PY' || fail "--print-config output"
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d["fingerprint"]) == 16
c = d["config"]
assert c["dim"] == 32 and c["lr_dense"] == 0.01 and c["n_routed_experts"] == 0 and c["data_path"] == "data"
PY
nmoe-train - --set lr_dense=0.01 --print-config <tiny.toml >q.json
cmp -s p.json q.json || fail "config from stdin differs"

# The man page documents every long option of --help and every config key.
page=$NMOE_TOP/man/man1/nmoe-train.1
[ -f "$page" ] || fail "no man page"
text=$(sed 's/\\-/-/g; s/\\(em/-/g' "$page")
for opt in $(grep -o -- '--[a-z][a-z0-9-]*' help.txt | sort -u); do
    grep -q -- "$opt" <<<"$text" || fail "man page lacks $opt"
done
while read -r k _; do
    grep -q "$k" <<<"$text" || fail "man page lacks the config key $k"
done <keys.txt
echo "usage: ok"
