#!/usr/bin/env bash
# nmoe-eval sample: the same checkpoint, prompt, options and seed give the same text
# (also on another thread count and through -o FILE); another seed gives other text;
# greedy decoding (temperature 0) ignores the seed; the prompt comes first.
source "$NMOE_TOP/tests/cli/eval_common.bash"
make_checkpoint
s() { nmoe-eval sample -q --ckpt ckpt --tokenizer tok.nmoe "$@"; }

s --prompt "ROMEO:" --seed 7 --max-tokens 40 >a1.txt
s --prompt "ROMEO:" --seed 7 --max-tokens 40 >a2.txt
cmp a1.txt a2.txt || fail "the same seed gave different text"
OMP_NUM_THREADS=2 s --prompt "ROMEO:" --seed 7 --max-tokens 40 --threads 2 >a3.txt
cmp a1.txt a3.txt || fail "two threads gave different text"
s --prompt "ROMEO:" --seed 7 --max-tokens 40 -o a4.txt >a4.stdout
cmp a1.txt a4.txt || fail "-o FILE holds other text"
[ ! -s a4.stdout ] || fail "-o FILE also wrote to stdout"
s --prompt "ROMEO:" --seed 8 --max-tokens 40 >b.txt
! cmp -s a1.txt b.txt || fail "seeds 7 and 8 gave the same 40 tokens"
[ "$(head -c 6 a1.txt)" = "ROMEO:" ] || fail "the text does not start with the prompt"
[ "$(wc -c <a1.txt)" -gt 20 ] || fail "hardly any text generated: $(cat a1.txt)"

# default seed, top-k: deterministic too
s --top-k 5 --max-tokens 30 >k1.txt
s --top-k 5 --max-tokens 30 --seed 42 >k2.txt
cmp k1.txt k2.txt || fail "the default seed is not 42"

# greedy: no randomness at all
s --prompt "First" --temperature 0 --seed 1 --max-tokens 30 >g1.txt
s --prompt "First" --temperature 0 --seed 2 --max-tokens 30 >g2.txt
cmp g1.txt g2.txt || fail "greedy decoding depends on the seed"
# A nucleus or a top-k of one token is the most likely token: greedy again, whatever
# the seed (the nucleus sorts only its first candidates: this checks that the first is
# the most likely).
s --prompt "First" --top-p 1e-9 --seed 5 --max-tokens 30 >p1.txt
cmp g1.txt p1.txt || fail "--top-p 1e-9 is not greedy decoding"
s --prompt "First" --top-k 1 --seed 6 --max-tokens 30 >t1.txt
cmp g1.txt t1.txt || fail "--top-k 1 is not greedy decoding"
s --prompt "First" --top-p 0.9 --seed 5 --max-tokens 30 >p9a.txt
s --prompt "First" --top-p 0.9 --seed 5 --max-tokens 30 >p9b.txt
cmp p9a.txt p9b.txt || fail "--top-p 0.9 is not deterministic"

# --max-tokens 0: the prompt and a newline
s --prompt "abc" --max-tokens 0 >z.txt
[ "$(cat z.txt)" = abc ] && [ "$(wc -c <z.txt)" = 4 ] || fail "--max-tokens 0 wrote '$(cat z.txt)'"

echo "nmoe-eval sample: same seed, same text; another seed, other text"
