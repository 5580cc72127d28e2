#!/usr/bin/env bash
# Standard output that cannot be written (/dev/full) is a clear error, exit 1, for
# cat, cat --ids, info, info --json and verify. (Files on a full disk:
# shard_full_disk.sh.)
source "$NMOE_TOP/tests/cli/shard_common.bash"

mktokstream --docs 300 --max-len 400 --seed 1 > mid.tok
nmoe-shard pack -q -o P --shard-tokens 20K < mid.tok

[ -w /dev/full ] || { echo "no /dev/full on this system"; exit 77; }
rc=0; nmoe-shard cat P > /dev/full 2> cmd.err || rc=$?
[ $rc -eq 1 ] && grep -qF "stdout: write failed: No space left on device" cmd.err || fail "cat > /dev/full: rc $rc, $(cat cmd.err)"
rc=0; nmoe-shard cat --ids P > /dev/full 2> cmd.err || rc=$?
[ $rc -eq 1 ] && grep -qF "stdout: write failed: No space left on device" cmd.err || fail "cat --ids > /dev/full: rc $rc, $(cat cmd.err)"
rc=0; nmoe-shard info --json P > /dev/full 2> cmd.err || rc=$?
[ $rc -eq 1 ] && grep -qF "stdout: write failed: No space left on device" cmd.err || fail "info --json > /dev/full: rc $rc, $(cat cmd.err)"
rc=0; nmoe-shard info P/train-000000.shard > /dev/full 2> cmd.err || rc=$?
[ $rc -eq 1 ] && grep -qF "stdout: write failed: No space left on device" cmd.err || fail "info > /dev/full: rc $rc, $(cat cmd.err)"
rc=0; nmoe-shard verify P > /dev/full 2> cmd.err || rc=$?
[ $rc -eq 1 ] && grep -qF "stdout: write failed: No space left on device" cmd.err || fail "verify > /dev/full: rc $rc, $(cat cmd.err)"

