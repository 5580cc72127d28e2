"""pyrandom_reference.py: Python's own random module, as the oracle of
libcommon/base/pyrandom.c (tests/oracle/pyrandom_python.sh).

  pyrandom_reference.py cases     print the case list (SEED OP A B per line)
  pyrandom_reference.py < CASES   print each case's draws, in the format of
                                  build/testtools/pyrandom_draws (see its header)

Only the standard library: random.Random is the generator under comparison, and
sample's algorithm switch is computed here from Lib/random.py's own formula."""
import math
import random
import sys

SEEDS = [0, 1, 42, 1337, 1234, 1235, 1234 + 999, 2**31, 2**32 - 1, 2**32, 2**32 + 5,
         2**53, 2**63 + 1, 2**64 - 1]


def setsize(k):
    # Lib/random.py, Random.sample (3.11)
    s = 21
    if k > 5:
        s += 4 ** math.ceil(math.log(k * 3, 4))
    return s


def cases():
    out = []
    for s in SEEDS:
        for k in (0, 1, 5, 31, 32, 33, 48, 63, 64):
            out.append((s, "bits", k, 8))
        for n in (1, 2, 3, 7, 8, 100, 2**31, 2**32 - 1, 2**32, 2**32 + 1, 10**12, 2**63, 2**64 - 1):
            out.append((s, "below", n, 6))
    # enough words to regenerate the 624-word state twice
    out += [(0, "bits", 32, 1300), (2**32, "bits", 32, 1300), (1337, "below", 2376, 1300)]
    for s in (0, 1, 1337, 2**32 + 5):
        for n in (0, 1, 2, 3, 10, 100, 2376):
            out.append((s, "shuffle", n, 0))
    # sample on both sides of the pool / set threshold, for few-shot counts 0..1000
    for i, k in enumerate((0, 1, 2, 5, 6, 10, 21, 22, 25, 100, 1000)):
        t = setsize(k)
        for n in sorted({k, k + 1, t - 1, t, t + 1, 2 * t, 20000}):
            if n >= k:
                for s in (1234 + i, 2**32 + i):
                    out.append((s, "sample", n, k))
    for s in (1234, 1234 + 7, 2**40):
        for n, k in ((9, 5), (85, 10), (86, 10), (2375, 10), (50, 25)):
            out.append((s, "chain", n, k))
    for k in range(0, 1201):
        out.append((0, "setsize", k, 0))
    return out


def draws(seed, op, a, b):
    r = random.Random(seed)
    if op == "bits":
        return [r.getrandbits(a) for _ in range(b)]
    if op == "below":
        return [r._randbelow(a) for _ in range(b)]
    if op == "shuffle":
        x = list(range(a))
        r.shuffle(x)
        return x
    if op == "sample":
        return r.sample(range(a), b)
    if op == "chain":
        x = r.sample(range(a), b)
        r.shuffle(x)
        return x + [r._randbelow(a)]
    if op == "setsize":
        return [setsize(a)]
    sys.exit(f"unknown op {op!r}")


def main():
    if sys.argv[1:] == ["cases"]:
        for c in cases():
            print(*c)
        return
    for line in sys.stdin:
        if not line.strip() or line.startswith("#"):
            continue
        seed, op, a, b = line.split()
        seed, a, b = int(seed), int(a), int(b)
        print(f"{seed} {op} {a} {b}:" + "".join(f" {v}" for v in draws(seed, op, a, b)))


main()
