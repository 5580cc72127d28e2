#!/usr/bin/env bash
# keep_checkpoints = N keeps the newest N complete checkpoints of out_dir after each one
# is written: never the one `latest` names, never a step directory newer than latest or
# without a state.json (a write cut short), never one holding a file nmoe-train did not
# write; a removal a kill cut short (step-N.removing) is finished. 0 keeps all; the key
# is range-checked and listed.
. "$(dirname "$0")/train_common.bash"
make_data
write_config
steps_in() { (cd "$1" && ls -d step-* 2>/dev/null | tr '\n' ' '); }

expect_fail 2 "keep_checkpoints: -1 is out of range" nmoe-train tiny.toml --set keep_checkpoints=-1
nmoe-train --list-keys >keys.txt
grep -q '^keep_checkpoints  *train  *integer  *0 ' keys.txt || fail "--list-keys lacks keep_checkpoints"

# 0, the default: every checkpoint stays.
nmoe-train -q tiny.toml --set checkpoint_every=1 --set steps=4 --set out_dir=all >/dev/null
[ "$(steps_in all)" = "step-00000001 step-00000002 step-00000003 step-00000004 " ] || fail "keep all: $(steps_in all)"

# 2: exactly the last two, latest the newest.
nmoe-train -q tiny.toml --set keep_checkpoints=2 --set checkpoint_every=1 --set steps=6 >/dev/null
[ "$(steps_in out)" = "step-00000005 step-00000006 " ] || fail "keep 2 after 6 steps: $(steps_in out)"
[ "$(cat out/latest)" = step-00000006 ] || fail "latest is $(cat out/latest)"

# What is never removed, and a leftover removal, then the run resumed to step 8.
mkdir out/step-00000003 out/step-00000099 out/step-00000002.removing
cp out/step-00000005/model.bin out/step-00000003/              # cut short: no state.json
cp out/step-00000005/model.bin out/step-00000099/model.bin.tmp.1 # newer than latest
cp out/step-00000005/model.bin out/step-00000002.removing/     # a removal that was killed
echo mine >out/step-00000006/notes.txt                         # not nmoe-train's
nmoe-train tiny.toml --set keep_checkpoints=2 --set checkpoint_every=1 --set steps=8 --resume out \
    >/dev/null 2>err.txt || fail "resume: $(cat err.txt)"
grep -q "out/step-00000006: holds notes.txt, which nmoe-train did not write; keep_checkpoints leaves it" err.txt \
    || fail "no warning about notes.txt: $(cat err.txt)"
[ "$(steps_in out)" = "step-00000003 step-00000006 step-00000007 step-00000008 step-00000099 " ] \
    || fail "after the resume: $(steps_in out)"
[ ! -e out/step-00000002.removing ] || fail "the leftover removal was not finished"
[ -f out/step-00000006/notes.txt ] || fail "notes.txt was removed"

# latest's target is kept even when a complete checkpoint newer than it sits beside it
# (a write killed between its state.json and latest): keep 1 leaves both.
rm -rf out/step-00000003 out/step-00000099 out/step-00000006/notes.txt
cp -r out/step-00000008 out/step-00000050
nmoe-train -q tiny.toml --set keep_checkpoints=1 --set checkpoint_every=1 --set steps=9 --resume out/step-00000008 \
    --set out_dir=out >/dev/null || fail "keep 1"
[ "$(cat out/latest)" = step-00000009 ] || fail "latest is $(cat out/latest)"
[ "$(steps_in out)" = "step-00000009 step-00000050 " ] || fail "keep 1: $(steps_in out)"
# And what is kept resumes.
nmoe-train -q tiny.toml --set keep_checkpoints=1 --set steps=10 --resume out >/dev/null || fail "resume from the kept one"
echo "keep_checkpoints: ok"
