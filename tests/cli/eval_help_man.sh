#!/usr/bin/env bash
# nmoe-eval --help and nmoe-eval(1) say the same thing: the same long options, each with
# the same default (an option documented twice, like --seed for core and for sample, with
# the same set of defaults), and every subcommand of the man page in --help.
set -euo pipefail
cd "$NMOE_TOP"
py=/usr/bin/python3
[ -x "$py" ] || { echo "skip: /usr/bin/python3 not found"; exit 77; }
bin/nmoe-eval --help >"${TMPDIR:-/tmp}/nmoe-eval-help.$$"
trap 'rm -f "${TMPDIR:-/tmp}/nmoe-eval-help.$$"' EXIT
"$py" - "${TMPDIR:-/tmp}/nmoe-eval-help.$$" man/man1/nmoe-eval.1 <<'PY'
import re, sys
from collections import defaultdict

help_text, page = open(sys.argv[1]).read(), open(sys.argv[2]).read()

def norm(s):
    return " ".join(s.split())

# --help: an entry starts with "  -x, --name" or "      --name"; deeper-indented lines
# continue it.
help_opts = defaultdict(list)
entry = None
for line in help_text.splitlines():
    m = re.match(r"^  (?:-\w, )?(--[a-z][a-z0-9-]*)|^      (--[a-z][a-z0-9-]*)", line)
    if m:
        entry = [m.group(1) or m.group(2), line]
        help_opts[entry[0]].append(entry)
    elif entry and line.startswith("                  "):
        entry[1] += " " + line
    else:
        entry = None
help_defaults = {o: sorted(norm(re.search(r"\[default: ([^]]*)\]", e[1]).group(1)) if "[default:" in e[1] else None
                           for e in es) for o, es in help_opts.items()}

# the man page: OPTIONS entries are .TP, a tag line, then text up to the next macro
# that starts an entry or section.
opts = page[page.index(".SH OPTIONS"):page.index(".SH OUTPUT")]
man_opts = defaultdict(list)
lines = opts.splitlines()
i = 0
while i < len(lines):
    if lines[i] == ".TP":
        tag = lines[i + 1].replace("\\-", "-")
        names = re.findall(r"--[a-z][a-z0-9-]*", tag)
        body = []
        i += 2
        while i < len(lines) and not lines[i].startswith((".TP", ".SS", ".SH")):
            body.append(re.sub(r"\\f[BIRP]", "", lines[i].replace("\\-", "-")))
            i += 1
        text = " ".join(l[3:] if l.startswith((".B ", ".I ")) else l for l in body)
        m = re.search(r"\[default: ([^]]*)\]", text)
        for n in names[:1]:
            man_opts[n].append(norm(m.group(1)) if m else None)
    else:
        i += 1
man_defaults = {o: sorted(d) for o, d in man_opts.items()}

bad = []
for o in sorted(set(help_defaults) | set(man_defaults)):
    if o not in man_defaults:
        bad.append(f"{o} is in --help but has no entry in the man page's OPTIONS")
    elif o not in help_defaults:
        bad.append(f"{o} has a man page entry but is not in --help")
    else:
        h = [d for d in help_defaults[o] if d is not None]
        m = [d for d in man_defaults[o] if d is not None]
        if h != m:
            bad.append(f"{o}: --help says [default: {h}], the man page [default: {m}]")
for sub in re.findall(r"^\.SS (\w+)$", page[page.index(".SH DESCRIPTION"):page.index(".SH OPTIONS")], re.M):
    if not re.search(rf"^  {sub} ", help_text, re.M):
        bad.append(f"subcommand {sub} of the man page is not in --help")
for b in bad:
    print(b)
print(f"compared {len(help_defaults)} options")
sys.exit(1 if bad else 0)
PY
