#!/usr/bin/env bash
# Writing files to a full disk is a clear error naming the file, and leaves no partial
# file under a final name, no temporary file and no manifest: a 64 KiB tmpfs (needs
# root; skipped otherwise) filled while writing a shard, while writing the manifest,
# and during import. (Standard output: shard_full_stdout.sh.)
source "$NMOE_TOP/tests/cli/shard_common.bash"

mktokstream --docs 300 --max-len 400 --seed 1 > mid.tok
# A small file system of our own.
mkdir fs
if ! mount -t tmpfs -o size=64k tmpfs fs 2>/dev/null; then
    echo "cannot mount a 64 KiB tmpfs here (needs root and CAP_SYS_ADMIN)"
    exit 77
fi
trap 'umount "$work/fs" 2>/dev/null; rm -rf "$work"' EXIT

# Full while writing a shard: shards already finished stay whole, the one being
# written is removed, no manifest.
expect_fail 1 "fs/Q/train-000006.shard: write failed: No space left on device" \
    nmoe-shard pack -o fs/Q --shard-tokens 4K mid.tok
[ ! -e fs/Q/manifest.json ] || fail "a manifest was written on a full disk"
no_temps fs
[ ! -e fs/Q/train-000006.shard ] || fail "the shard being written is under its final name"
for f in fs/Q/*.shard; do nmoe-shard verify -q "$f" || fail "$f is damaged"; done
rm -rf fs/Q

# Full while writing the manifest: no manifest, no temporary file.
mktokstream --docs 3 --max-len 100 --seed 1 > tiny.tok
avail=$(df -B1 --output=avail fs | tail -n 1)
head -c $((avail - 4096)) /dev/zero > fs/filler
expect_fail 1 "fs/T/manifest.json: write failed: No space left on device" nmoe-shard pack -o fs/T tiny.tok
[ ! -e fs/T/manifest.json ] || fail "a partial manifest was left"
no_temps fs
nmoe-shard verify -q fs/T/train-000000.shard || fail "the finished shard is damaged"

# Import on a full disk likewise.
rm -f fs/filler
/usr/bin/python3 -c '
import numpy as np
np.save("big.npy", np.arange(100000, dtype="uint16") % 50257)' 2>/dev/null || { echo "no numpy for /usr/bin/python3 (the shard and manifest checks passed)"; exit 77; }
expect_fail 1 "write failed: No space left on device" nmoe-shard import --from npy --eot none -o fs/I big.npy
[ ! -e fs/I/manifest.json ] || fail "import wrote a manifest on a full disk"
no_temps fs
