#!/usr/bin/env bash
# One run per out_dir, and no run destroys another's checkpoints:
# - while a run holds out_dir, a second run given it is refused (exit 1, naming the
#   holder's pid) and changes nothing; the lock dies with its process (even SIGKILL);
# - a fresh start, or a --resume from elsewhere, over existing checkpoints is refused
#   naming them, leaving checkpoints and metrics file as they were;
# - resume = true and --resume OUT_DIR (the out_dir's own) go on;
# - --force removes the old checkpoints (never a file nmoe did not write) and the run
#   is then the same as one in an empty out_dir.
. "$(dirname "$0")/train_common.bash"
make_data
write_config
fingerprint() { find "$1" -type f ! -name .lock -print0 | sort -z | xargs -0 sha256sum; }

# A run that lives until it is stopped.
nmoe-train -q tiny.toml --set out_dir=A --set steps=10000000 --set checkpoint_every=5 --set validation_every=0 \
    --metrics a.ndjson &
pid=$!
for _ in $(seq 1 600); do [ -e A/latest ] && break; sleep 0.05; done
[ -e A/latest ] || fail "the long run wrote no checkpoint"
expect_fail 1 "A: in use by another run (nmoe-train pid $pid holds A/.lock)" \
    nmoe-train tiny.toml --set out_dir=A --set steps=2 --metrics b.ndjson
[ ! -s b.ndjson ] || fail "the refused run wrote metrics"
expect_fail 1 "A: in use by another run" nmoe-train tiny.toml --set out_dir=A --set resume=true --force
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true

# Nothing holds A now (SIGKILL released the lock); its checkpoints are another run's.
before=$(fingerprint A)
cp a.ndjson a.keep
latest=$(cat A/latest)
steps=$(cd A && ls -d step-* | tr '\n' ' ' | sed 's/ $//')
expect_fail 1 "A: holds checkpoints of an earlier run (latest -> $latest; $steps); continue it (--resume A, or resume = true)" \
    nmoe-train tiny.toml --set out_dir=A --set steps=2 --metrics a.ndjson
grep -qF "pass --force to replace them" cmd.err || fail "the refusal does not offer --force: $(cat cmd.err)"
[ "$(fingerprint A)" = "$before" ] || fail "a refused fresh start changed A"
cmp -s a.ndjson a.keep || fail "a refused fresh start truncated the metrics file"
# A checkpoint of elsewhere continued into A: refused too.
nmoe-train -q tiny.toml --set out_dir=C --set steps=4 --set checkpoint_every=2 >/dev/null
expect_fail 1 "A: holds checkpoints of another run (latest -> $latest; $steps), and this run continues from C/step-00000004, outside it" \
    nmoe-train tiny.toml --set out_dir=A --resume C
[ "$(fingerprint A)" = "$before" ] || fail "a refused resume changed A"
# A step directory without `latest` (a run killed before its first `latest`) counts.
mkdir -p D/step-00000003
: > D/step-00000003/model.bin
expect_fail 1 "D: holds checkpoints of an earlier run (step-00000003)" nmoe-train tiny.toml --set out_dir=D

# Its own checkpoints: resume = true and --resume A go on.
k=${latest#step-}; k=$((10#$k))
nmoe-train -q tiny.toml --set out_dir=A --set steps=$((k + 1)) --set resume=true >/dev/null
nmoe-train -q tiny.toml --set out_dir=A --set steps=$((k + 2)) --resume A >/dev/null
[ "$(cat A/latest)" = "$(printf 'step-%08d' $((k + 2)))" ] || fail "resume in A did not go on: $(cat A/latest)"

# --force refuses to delete what nmoe did not write, and then deletes nothing.
echo notes > A/$latest/notes.txt
before=$(fingerprint A)
expect_fail 1 "A/$latest: holds notes.txt, which nmoe-train did not write" nmoe-train tiny.toml --set out_dir=A --force
[ "$(fingerprint A)" = "$before" ] || fail "a refused --force changed A"
rm A/$latest/notes.txt
# --force: the old checkpoints go, and the run equals one in an empty out_dir.
nmoe-train tiny.toml --set out_dir=A --force --metrics f.ndjson 2>force.err
grep -q "^--force: removed [0-9]* checkpoints of an earlier run from A (latest -> step-" force.err || fail "--force did not say what it removed: $(cat force.err)"
nmoe-train -q tiny.toml --set out_dir=E --metrics e.ndjson
[ "$(cd A && ls -d step-* | tr '\n' ' ')" = "$(cd E && ls -d step-* | tr '\n' ' ')" ] || fail "stale checkpoints left in A: $(ls A)"
same_run() { strip_time "$1" | norm_paths | sed 's/"out_dir":"[^"]*"/"out_dir":""/'; }
[ "$(same_run f.ndjson)" = "$(same_run e.ndjson)" ] || fail "a --force run differs from a run in an empty out_dir"
echo "out_dir: ok"
