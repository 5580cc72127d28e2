# eval_common.bash: sourced by tests/cli/eval_*.sh and tests/oracle/eval_oracle.sh (not a
# test itself). A scratch directory and small, real fixtures: a byte-level BPE tokenizer
# trained by nmoe-tok on the start of Tiny Shakespeare, shards of that text encoded with
# it, and tiny checkpoints trained by nmoe-train, so nmoe-eval runs end to end on the
# real formats in a few seconds.
source "$NMOE_TOP/tests/cli/common.bash"
require_tools nmoe-eval nmoe-train nmoe-tok nmoe-shard
PY=/usr/bin/python3
[ -x "$PY" ] || { echo "skip: /usr/bin/python3 not found"; exit 77; }
# One thread: the machine is shared, and OpenMP threads that spin while other jobs hold
# the cores make a tiny model slower, not faster (results do not depend on it).
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
enter_scratch eval

# JSON field of the first line of kind KIND (and task TASK when given) in FILE.
json_field() {
    "$PY" - "$@" <<'PY'
import json, sys
path, kind, key = sys.argv[1:4]
task = sys.argv[4] if len(sys.argv) > 4 else None
for line in open(path):
    o = json.loads(line)
    if o.get("kind") == kind and (task is None or o.get("task") == task):
        print(o[key])
        break
else:
    sys.exit(f"{path}: no {kind} line" + (f" for task {task}" if task else ""))
PY
}

# make_tokenizer: tok.nmoe, a 384-id BPE vocabulary (<|endoftext|> = 383) learned from
# the first 60 KB of Tiny Shakespeare.
make_tokenizer() {
    head -c 60000 "$NMOE_TOP/data/tinyshakespeare.txt" >ts.txt
    nmoe-tok train -q --vocab-size 384 -o tok.nmoe ts.txt
}

# make_text_data DIR [PACK_OPTIONS...]: ts.txt's paragraphs as documents, encoded with
# tok.nmoe (<|endoftext|> after each) and packed into DIR.
make_text_data() {
    local dir=$1
    shift
    "$PY" - <<'PY'
import json
paras = [p for p in open("ts.txt", encoding="utf-8").read().split("\n\n") if p.strip()]
with open("docs.jsonl", "w") as f:
    for p in paras:
        f.write(json.dumps({"text": p + "\n"}) + "\n")
PY
    nmoe-tok encode -q -t tok.nmoe --eot docs.jsonl | nmoe-shard pack -q "$@" -o "$dir"
}

# write_config FILE DATA OUT_DIR [KEY=VALUE...]: a 2-layer model of the tokenizer's
# vocabulary, seq_len 64; each KEY=VALUE replaces that key's line, or is added.
write_config() {
    local file=$1 data=$2 out=$3
    shift 3
    cat >"$file" <<TOML
vocab_size = 384
dim = 64
n_layers = 2
n_heads = 4
n_kv_heads = 2
inter_dim = 128
seq_len = 64
init_std = 0.05
batch_size = 8
micro_batch_size = 4
steps = 30
seed = 3
lr_dense = 3e-3
warmup_steps = 5
hold_tokens = 20000
decay_tokens = 40000
decay_floor = 1e-4
log_every = 10
checkpoint_every = 0
eos_token_id = 383
data_path = "$data"
out_dir = "$out"
TOML
    local kv key
    for kv in "$@"; do
        key=${kv%%=*}
        if grep -q "^$key = " "$file"; then
            sed -i "s|^$key = .*|$key = ${kv#*=}|" "$file"
        else
            echo "$key = ${kv#*=}" >>"$file"
        fi
    done
}

# make_checkpoint: tok.nmoe, data/ (with a val split) and ckpt/ (30 steps).
make_checkpoint() {
    make_tokenizer
    make_text_data data --val-fraction 0.1
    write_config tiny.toml data ckpt
    nmoe-train -q tiny.toml --metrics train.ndjson
}
