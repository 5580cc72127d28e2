#!/usr/bin/env bash
# import --from npy: arrays saved by NumPy (np.save) as uint16, int32, uint32 and
# int64 import to the same documents; the wrong kind of array (float, 2-D, Fortran
# order, big-endian), negative ids and truncated files are refused with the reason.
source "$NMOE_TOP/tests/cli/shard_common.bash"
py=/usr/bin/python3
$py -c 'import numpy' 2>/dev/null || { echo "no numpy for /usr/bin/python3"; exit 77; }

$py - <<'PY'
import numpy as np
rng = np.random.default_rng(1)
eot = 50256
toks = []
for d in range(200):
    toks += [eot] + list(rng.integers(0, 50256, size=int(rng.integers(1, 150))))
a = np.array(toks)
for t in ["uint16", "int32", "uint32", "int64"]:
    np.save(f"t_{t}.npy", a.astype(t))
with open("expected.txt", "w") as f:
    doc = []
    for t in toks:
        if t == eot and doc: f.write(" ".join(map(str, doc)) + "\n"); doc = []
        doc.append(t)
    f.write(" ".join(map(str, doc)) + "\n")
np.save("float.npy", a.astype("float32"))
np.save("twod.npy", a[:100].astype("uint16").reshape(10, 10))
np.save("fortran.npy", np.asfortranarray(a[:100].astype("uint16").reshape(10, 10)))
np.save("big_endian.npy", a.astype(">u2"))
np.save("negative.npy", np.array([eot, 3, -4, 5], dtype="int64"))
np.save("huge.npy", np.array([eot, 3, 2**33], dtype="int64"))
np.save("wide_vocab.npy", np.array([0, 100000, 200000], dtype="uint32"))
PY

for t in uint16 int32 uint32 int64; do
    rm -rf D
    nmoe-shard import -q --from npy -o D --shard-tokens 4K "t_$t.npy"
    nmoe-shard cat --ids D | cmp - expected.txt || fail "$t: imported documents differ"
done
# Two files are one sequence of ids.
$py -c 'import numpy as np; a=np.load("t_uint16.npy"); np.save("p1.npy", a[:1001]); np.save("p2.npy", a[1001:])'
nmoe-shard import -q --from npy -o S p1.npy p2.npy
nmoe-shard cat --ids S | cmp - expected.txt || fail "split files differ"

# A vocabulary past 16 bits: 32-bit shards.
nmoe-shard import -q --from npy --vocab-size 200001 --eot none -o W wide_vocab.npy
[ "$(nmoe-shard cat --ids W)" = "0 100000 200000" ] || fail "wide vocabulary ids"
jq -e '.token_bytes == 4' W/manifest.json >/dev/null || fail "wide vocabulary not in 32-bit shards"

expect_fail 1 "float.npy: array type '<f4' is not a token type" nmoe-shard import --from npy -o X float.npy
expect_fail 1 "twod.npy: array has 2 dimensions; a token array has 1" nmoe-shard import --from npy -o X twod.npy
expect_fail 1 "fortran.npy: array has 2 dimensions" nmoe-shard import --from npy -o X fortran.npy
expect_fail 1 "big_endian.npy: big-endian array '>u2'" nmoe-shard import --from npy -o X big_endian.npy
expect_fail 1 "negative.npy: element 2: negative token id -4" nmoe-shard import --from npy -o X negative.npy
expect_fail 1 "huge.npy: element 2: token id 8589934592 is beyond the vocabulary size 50257" nmoe-shard import --from npy -o X huge.npy
head -c 200 t_uint16.npy > cut.npy
expect_fail 1 "cut.npy: truncated: the header promises" nmoe-shard import --from npy -o X cut.npy
expect_fail 1 "a.bin: No such file or directory" nmoe-shard import --from npy -o X a.bin
expect_fail 1 "t_uint16.npy: bad magic 1297436307 (not an llm.c .bin token file" nmoe-shard import --from llmc -o X t_uint16.npy
[ ! -e X/manifest.json ] || fail "a failed import left a manifest"
no_temps .
