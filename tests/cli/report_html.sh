#!/usr/bin/env bash
# pipelines/report.sh: the HTML page of a tiny MoE run and of a dense one, opened in
# headless Chromium from file:// (no network): the page's own check says every plot
# loaded, the screenshot is drawn, and the page holds the run id, the router table and
# the eval results; a page with a plot removed is caught as broken; bad input is refused.
source "$NMOE_TOP/tests/cli/train_common.bash"
require_tools jq gnuplot nmoe-routerstat
command -v chromium >/dev/null || fail "chromium is not installed (make deps installs it)"
make_data
write_config
sed 's/^inter_dim = 64$/inter_dim = 64\nn_dense_layers = 1\nn_routed_experts = 8\nn_shared_experts = 1\nn_activated_experts = 2\nmoe_inter_dim = 16/' \
    tiny.toml >moe.toml
nmoe-train moe.toml -q --threads 1 --metrics moe.ndjson
nmoe-train tiny.toml -q --threads 1 --set out_dir=dense --metrics dense.ndjson
run=$(jq -r 'select(.kind == "meta") | .run' moe.ndjson)
cat >core.ndjson <<JSON
{"kind":"eval","run":"$run","step":12,"task":"copa","type":"multiple_choice","num_fewshot":0,"random_baseline":50,"seed":1234,"examples":10,"correct":6,"accuracy":0.6,"centered":0.2}
{"kind":"eval","run":"$run","step":12,"task":"winograd","type":"schema","num_fewshot":0,"random_baseline":50,"seed":1234,"examples":10,"correct":5,"accuracy":0.5,"centered":0}
{"kind":"core","run":"$run","step":12,"core":0.1,"n_tasks":2,"tasks":["copa","winograd"]}
JSON

chrome() { timeout 120 chromium --headless=new --no-sandbox --disable-gpu --no-first-run --allow-file-access-from-files \
    --user-data-dir="$work/chrome-profile" "$@" 2>/dev/null; }
plots_state() { chrome --virtual-time-budget=5000 --dump-dom "file://$work/$1/index.html" | grep -o 'data-plots="[^"]*"'; }

[ "$(bash "$NMOE_TOP/pipelines/report.sh" -o rep --core core.ndjson --peak-flops 1e11 moe.ndjson)" = rep/index.html ] ||
    fail "report.sh did not print the page's path"
for p in loss lr grad_norm speed router; do
    [ "$(head -c 8 "rep/$p.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "rep/$p.png is not a PNG"
done
[ "$(plots_state rep)" = 'data-plots="ok 5"' ] || { plots_state rep; fail "the MoE page's plots did not all load"; }
chrome --window-size=1000,2600 --screenshot="$work/shot.png" "file://$work/rep/index.html" >/dev/null
[ "$(head -c 8 shot.png | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "no screenshot"
[ "$(stat -c %s shot.png)" -gt 50000 ] || fail "the screenshot is too small to hold the page's plots"
grep -q "<h1>Run $run</h1>" rep/index.html || fail "no run id"
grep -q '| Layer | CV% | Entropy (norm) | Active | Bias Range |' rep/index.html || fail "no router table"
grep -q '<tr><td>copa</td><td>multiple_choice</td><td>0</td><td>10</td><td>0.6</td><td>0.2</td></tr>' rep/index.html ||
    fail "no copa row"
grep -q '<tr><th>CORE</th><th colspan="4">2 tasks</th><th>0.1</th></tr>' rep/index.html || fail "no CORE row"
grep -q '"n_routed_experts": 8' rep/index.html || fail "no config"
grep -qi 'https\?://' rep/index.html && fail "the page refers to the network"

# A plot gone: the page says so (the check above can fail).
rm rep/router.png
[ "$(plots_state rep)" = 'data-plots="broken router.png"' ] || { plots_state rep; fail "a missing plot was not caught"; }

# Dense: four plots, no router section; the default directory beside the stream.
bash "$NMOE_TOP/pipelines/report.sh" dense.ndjson >/dev/null
[ "$(plots_state report)" = 'data-plots="ok 4"' ] || fail "the dense page's plots did not all load"
grep -q 'Router health' report/index.html && fail "a dense page with a router section"

# The sweep's and comparison's page (pipelines/lib/md_page.sh): a table and a plot.
mkdir -p page
cp rep/loss.png page/
printf '| value | loss |\n|---|---:|\n| a<b | 1.5 |\n\nsome note\n' >page/t.md
bash "$NMOE_TOP/pipelines/lib/md_page.sh" "a & b" page/t.md loss.png >page/index.html
grep -q '<tr><td>a&lt;b</td><td>1.5</td></tr>' page/index.html || fail "md_page.sh: no escaped table row"
grep -q '<p>some note</p>' page/index.html || fail "md_page.sh: no paragraph"
[ "$(plots_state page)" = 'data-plots="ok 1"' ] || fail "the md_page plot did not load"

expect_fail 1 "nope.ndjson: missing or empty" bash "$NMOE_TOP/pipelines/report.sh" nope.ndjson
grep -v '"kind":"meta"' moe.ndjson >nometa.ndjson
expect_fail 1 "nometa.ndjson: no meta line" bash "$NMOE_TOP/pipelines/report.sh" -o x nometa.ndjson
expect_fail 1 "--peak-flops abc: not a positive number" bash "$NMOE_TOP/pipelines/report.sh" --peak-flops abc moe.ndjson
[ ! -e x ] || fail "a refused report left a directory"
echo "ok: report.sh pages render in Chromium with every plot"
