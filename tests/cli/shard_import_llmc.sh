#!/usr/bin/env bash
# import --from llmc: .bin files written exactly as llm.c's dev/data/data_common.py
# write_datafile does (NumPy: 256 x int32 header, magic 20240520, version 1, count;
# uint16 tokens). Documents split at <|endoftext|> (50256), which stays first in each;
# a document may run from one file into the next; ids before the first EOT form a
# document. Bad headers, truncation and ids beyond the vocabulary are refused.
source "$NMOE_TOP/tests/cli/shard_common.bash"
py=/usr/bin/python3
$py -c 'import numpy' 2>/dev/null || { echo "no numpy for /usr/bin/python3"; exit 77; }

$py - <<'PY'
import numpy as np
def write_datafile(filename, toks):            # llm.c dev/data/data_common.py, gpt-2
    header = np.zeros(256, dtype=np.int32)
    header[0] = 20240520
    header[1] = 1
    header[2] = len(toks)
    toks_np = np.array(toks, dtype=np.uint16)
    with open(filename, "wb") as f:
        f.write(header.tobytes())
        f.write(toks_np.tobytes())
rng = np.random.default_rng(0)
eot = 50256
docs = [list(rng.integers(0, 50256, size=5))]          # a leading piece without EOT
for d in range(300):
    docs.append([eot] + list(rng.integers(0, 50256, size=int(rng.integers(0, 200)))))
flat = [t for d in docs for t in d]
cut = len(flat) // 2 + 7                              # mid-document, like llm.c shards
write_datafile("a.bin", flat[:cut])
write_datafile("b.bin", flat[cut:])
with open("expected.txt", "w") as f:
    for d in docs: f.write(" ".join(map(str, d)) + "\n")
with open("flat.txt", "w") as f: f.write(" ".join(map(str, flat)) + "\n")
# Faults.
h = np.zeros(256, dtype=np.int32); h[0] = 20240520; h[1] = 2; h[2] = 3
open("v2.bin", "wb").write(h.tobytes() + np.array([1, 2, 3], np.uint16).tobytes())
h = np.zeros(256, dtype=np.int32); h[0] = 20240801; h[1] = 7; h[2] = 3
open("llama.bin", "wb").write(h.tobytes() + np.array([1, 2, 3], np.uint32).tobytes())
h = np.zeros(256, dtype=np.int32); h[0] = 20240520; h[1] = 1; h[2] = 4
open("short.bin", "wb").write(h.tobytes() + np.array([1, 2, 3], np.uint16).tobytes())
write_datafile("big_id.bin", [eot, 5, 60000, 7])
PY

nmoe-shard import -q --from llmc -o D --shard-tokens 10K --val-fraction 0.1 a.bin b.bin
nmoe-shard cat --ids D > got.txt
cmp got.txt expected.txt || fail "imported documents differ from the ones written"
jq -e '.vocab_size == 50257 and .vocab_id == "0000000000000000" and .source == "import-llmc" and .token_bytes == 2' \
    D/manifest.json >/dev/null || fail "manifest: $(cat D/manifest.json)"
nmoe-shard verify -q D

# --eot none: each file one document; --vocab-id and --vocab-size are recorded.
nmoe-shard import -q --from llmc --eot none --vocab-size 50304 --vocab-id 00ff00ff00ff00ff -o N a.bin b.bin
[ "$(nmoe-shard cat --ids N | wc -l)" -eq 2 ] || fail "--eot none did not give one document per file"
nmoe-shard cat --ids N | tr '\n' ' ' | sed 's/ $//' > got_flat.txt
printf '%s' "$(cat flat.txt)" | cmp - got_flat.txt || fail "--eot none lost tokens"
jq -e '.vocab_size == 50304 and .vocab_id == "00ff00ff00ff00ff"' N/manifest.json >/dev/null || fail "vocab not recorded"

expect_fail 1 "v2.bin: unsupported llm.c version 2" nmoe-shard import --from llmc -o X v2.bin
expect_fail 1 "llama.bin: bad magic 20240801" nmoe-shard import --from llmc -o X llama.bin
expect_fail 1 "short.bin: truncated: the header promises 4 tokens" nmoe-shard import --from llmc -o X short.bin
head -c 500 a.bin > cut.bin
expect_fail 1 "cut.bin: truncated: 500 bytes, shorter than the 1024-byte llm.c header" nmoe-shard import --from llmc -o X cut.bin
expect_fail 1 "big_id.bin: element 2: token id 60000 is beyond the vocabulary size 50257" nmoe-shard import --from llmc -o X big_id.bin
expect_fail 1 "in.tok: bad magic" bash -c 'mktokstream --docs 2 > in.tok && nmoe-shard import --from llmc -o X in.tok'
expect_fail 2 "--eot 60000 is not below the vocabulary size 50257" nmoe-shard import --from llmc --eot 60000 -o X a.bin
expect_fail 2 "import needs --from llmc or --from npy" nmoe-shard import -o X a.bin
[ ! -e X/manifest.json ] || fail "a failed import left a manifest"
no_temps .
