# moe_common.bash: sourced by tests/cli/moe_*.sh (not a test itself). Tiny Shakespeare
# (the bundled data/tinyshakespeare.txt) under a 512-id byte-level BPE trained on it, so
# a tiny MoE trains in a second or two, and moe.toml: one dense block, then one MoE block
# of 8 routed experts (top-2, one shared expert).
. "$(dirname "$0")/train_common.bash"
for t in nmoe-tok nmoe-routerstat; do
    command -v "$t" >/dev/null || fail "missing $t (run make)"
done

make_shakespeare() {
    nmoe-tok train -q --vocab-size 512 -o tok.json "$NMOE_TOP/data/tinyshakespeare.txt"
    nmoe-tok encode -t tok.json --eot "$NMOE_TOP/data/tinyshakespeare.txt" | nmoe-shard pack -q -f -o data
}

write_moe_config() {
    cat >moe.toml <<'TOML'
[model]
vocab_size = 512
dim = 32
n_layers = 2
n_heads = 2
inter_dim = 64
seq_len = 64
init_std = 0.05
n_dense_layers = 1
n_routed_experts = 8
n_shared_experts = 1
n_activated_experts = 2
moe_inter_dim = 16
[train]
batch_size = 8
steps = 200
seed = 1
lr_dense = 3e-3
lr_router = 3e-2
warmup_steps = 5
hold_tokens = 100_000_000
decay_tokens = 1
decay_floor = 0.0
log_every = 10
checkpoint_every = 0
router_bias_update_rate = 2e-2
[data]
data_path = "data"
eos_token_id = 511
holdout_fraction = 0.05
out_dir = "out"
TOML
}

# json_field NAME: the number NAME of the (single) JSON object on stdin.
json_field() { sed -E "s/.*\"$1\":(-?[0-9.eE+-]+).*/\1/"; }

# moe_run NAME [OPTION...]: train moe.toml with a line every step into NAME.ndjson and its
# checkpoints into out_NAME (the dial tests' short runs).
moe_run() { nmoe-train -q moe.toml --set log_every=1 --set out_dir="out_$1" "${@:2}" >"$1.ndjson"; }

# moe_losses FILE: the losses of FILE's train lines, space-separated.
moe_losses() { grep '"kind":"train"' "$1" | json_field loss | tr '\n' ' '; }

# moe_learns_threads NAME [OPTION...]: 40 steps at 1 and at 2 threads (NAME1, NAME2) give
# the same metric stream, and the loss falls by more than 0.5; says so.
moe_learns_threads() {
    local name=$1; shift
    OMP_NUM_THREADS=1 moe_run "${name}1" --set steps=40 "$@"
    OMP_NUM_THREADS=2 moe_run "${name}2" --set steps=40 "$@"
    cmp -s <(strip_time "${name}1.ndjson" | grep -v '"kind":"meta"' | norm_paths) \
           <(strip_time "${name}2.ndjson" | grep -v '"kind":"meta"' | norm_paths) ||
        fail "$name: the metric streams differ between 1 and 2 threads"
    local first last
    first=$(grep -m 1 '"kind":"train"' "${name}1.ndjson" | json_field loss)
    last=$(grep '"kind":"train"' "${name}1.ndjson" | tail -n 1 | json_field loss)
    awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a - 0.5) }' || fail "$name: loss $first -> $last did not fall"
    echo "$name: loss $first -> $last over 40 steps, identical with 1 and 2 threads"
}
