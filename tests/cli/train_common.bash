# train_common.bash: sourced by tests/cli/train_*.sh (not a test itself). A scratch
# directory with a small synthetic pack (256-token vocabulary, Zipf ids, a val split),
# a tiny config, and helpers to compare metric streams.
source "$NMOE_TOP/tests/cli/common.bash"
require_tools nmoe-train nmoe-shard mktokstream
enter_scratch train

# A deterministic pack: 300 documents of up to 300 Zipf-distributed ids below 256.
make_data() {
    mktokstream --docs 300 --vocab 256 --zipf --max-len 300 --seed 7 | nmoe-shard pack -q --val-fraction 0.1 -o data
}

# tiny.toml: a 2-layer model that takes milliseconds per step.
write_config() {
    cat >tiny.toml <<'TOML'
[model]
vocab_size = 256
dim = 32
n_layers = 2
n_heads = 4
n_kv_heads = 2
inter_dim = 64
seq_len = 32
init_std = 0.05
[train]
batch_size = 4
micro_batch_size = 2
steps = 12
seed = 3
lr_dense = 3e-3
warmup_steps = 3
hold_tokens = 640
decay_tokens = 1000
decay_floor = 1e-4
grad_clip = 1.0
log_every = 1
validation_every = 4
validation_steps = 2
checkpoint_every = 4
[data]
data_path = "data"
eos_token_id = 0
out_dir = "out"
TOML
}

# The metric stream without what may differ between two runs of one config: drop every
# "time" object (it is flat, so the pattern cannot overreach) and blank the run id.
strip_time() { sed -e 's/,"time":{[^}]*}//' -e 's/"run":"[0-9a-f]\{16\}"/"run":""/' "$@"; }

# Lines of a stream (time stripped) after step K, meta lines left out.
after_step() {
    local k=$1 file=$2
    strip_time "$file" | grep -v '"kind":"meta"' | awk -v k="$k" '{ if (match($0, /"step":[0-9]+/)) { s = substr($0, RSTART + 7, RLENGTH - 7) + 0; if (s > k) print } }'
}

# Checkpoint paths name the out_dir; make them comparable across out_dirs.
norm_paths() { sed -E 's#"(path|checkpoint)":"[^"]*/(step-[0-9]+)"#"\1":"\2"#g'; }

# check_resume NAME SETTINGS...: tiny.toml with SETTINGS for its steps straight, against
# 8 steps and a resume from there: the streams after step 8 must be identical, and the
# straight run must finish.
check_resume() {
    local name=$1
    shift
    nmoe-train -q tiny.toml "$@" --set out_dir=out_${name}_a >${name}_a.ndjson
    nmoe-train -q tiny.toml "$@" --set out_dir=out_${name}_b --set steps=8 >${name}_b.ndjson
    nmoe-train -q tiny.toml "$@" --set out_dir=out_${name}_b --resume out_${name}_b >>${name}_b.ndjson
    diff <(after_step 8 ${name}_a.ndjson | norm_paths) <(after_step 8 ${name}_b.ndjson | norm_paths) \
        || fail "$name: resume from step 8 differs"
    tail -n 1 ${name}_a.ndjson | grep_all '"reason":"finished"' || fail "$name: did not finish"
}
