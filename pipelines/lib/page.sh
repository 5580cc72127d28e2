# page.sh: sourced by the pipelines' report scripts (report.sh, sweep_report.sh,
# compare_report.sh, lib/md_page.sh); not a program. What their plots and pages share.

# png_terminal W H: the gnuplot lines that select a W x H PNG terminal (pngcairo where
# gnuplot has it, the plain png one otherwise), without enhanced text so underscores in
# key names stay underscores.
png_terminal() {
    cat <<GP
if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
  set terminal pngcairo noenhanced size $1,$2 font 'sans,10'
} else {
  set terminal png noenhanced size $1,$2
}
GP
}

# html_escape: stdin to stdout with &, < and > escaped.
html_escape() { sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g'; }

# html_begin TITLE MAX_WIDTH_PX: the page's head and style, and the opening body tag
# that html_end's script marks.
html_begin() {
    cat <<HTML
<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>$(html_escape <<<"$1")</title>
<style>
body { font-family: sans-serif; margin: 2em; max-width: $2px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
td, th { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; }
th { background: #f4f4f4; } td:first-child, th:first-child { text-align: left; }
pre { background: #f7f7f7; padding: 0.6em; overflow-x: auto; font-size: 0.85em; }
img { display: block; margin: 0.5em 0 1.5em; max-width: 100%; border: 1px solid #eee; }
</style></head>
<body data-plots="pending">
HTML
}

# html_end: the script that marks the body with whether every plot loaded
# (data-plots="ok N" or "broken NAMES"), for people and for the Chromium test, and the
# closing tags.
html_end() {
    cat <<'HTML'
<script>
window.addEventListener("load", function () {
  var imgs = document.images, bad = [];
  for (var i = 0; i < imgs.length; i++)
    if (!imgs[i].complete || imgs[i].naturalWidth === 0) bad.push(imgs[i].getAttribute("src"));
  document.body.setAttribute("data-plots", bad.length ? "broken " + bad.join(" ") : "ok " + imgs.length);
});
</script>
</body></html>
HTML
}
