/* routerstat_plot.c: --plot FILE.png. gnuplot draws, for each MoE layer, a heatmap
 * of every expert's load relative to the mean (1 = balanced, 0 = dead) over the run,
 * each cell spanning the window of steps its router line covers; and, below, the
 * entropy curve of every layer. gnuplot writes the PNG to a pipe and we install it
 * atomically, so a failed or interrupted plot never leaves a partial image. */
#include "routerstat/routerstat.h"
#include "base/atomic_file.h"
#include "base/error.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { MAX_COLUMNS = 600 }; /* heatmap columns per layer; longer runs are thinned evenly */

char *routerstat_find_gnuplot(void)
{
    const char *path = getenv("PATH");
    if (!path) return NULL;
    char *copy = xstrdup(path), *save = NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        size_t n = strlen(dir) + sizeof "/gnuplot";
        char *cand = xmalloc(n);
        snprintf(cand, n, "%s/gnuplot", *dir ? dir : ".");
        if (access(cand, X_OK) == 0) { free(copy); return cand; }
        free(cand);
    }
    free(copy);
    return NULL;
}

typedef struct { char dir[4096]; char *files[6]; int n; } TempDir;

static char *temp_file(TempDir *t, const char *name)
{
    size_t n = strlen(t->dir) + strlen(name) + 2;
    char *p = xmalloc(n);
    snprintf(p, n, "%s/%s", t->dir, name);
    t->files[t->n++] = p;
    return p;
}

static void temp_dir_remove(TempDir *t)
{
    for (int i = 0; i < t->n; i++) { unlink(t->files[i]); free(t->files[i]); }
    rmdir(t->dir);
}

static FILE *create_or_die(const char *path)
{
    FILE *fp = fopen(path, "w");
    if (!fp) die("%s: %s", path, strerror(errno));
    return fp;
}

static void close_or_die(FILE *fp, const char *path)
{
    if (ferror(fp) | fclose(fp)) die("%s: write failed", path);
}

/* One row per heatmap cell: xlo xhi ylo yhi value. Blocks per layer (gnuplot "index"). */
static void write_heat_data(FILE *fp, const RouterLog *log, const int *layers, size_t n_layers)
{
    for (size_t l = 0; l < n_layers; l++) {
        const RouterRecord **s;
        size_t n = router_log_series(log, layers[l], &s);
        size_t stride = (n + MAX_COLUMNS - 1) / MAX_COLUMNS;
        if (stride == 0) stride = 1;
        for (size_t i = 0; i < n; i += stride) {
            const RouterRecord *r = s[i];
            size_t last = i + stride - 1 < n ? i + stride - 1 : n - 1;
            /* The cell covers steps from_step..to_step of the first line to the last one it stands for. */
            int64_t prev = i > 0 ? s[i - 1]->step : r->step - 1;
            double xlo = (double)(r->from_step >= 0 ? r->from_step : prev + 1) - 0.5;
            double xhi = (double)(s[last]->to_step >= 0 ? s[last]->to_step : s[last]->step) + 0.5;
            for (int e = 0; e < r->stats.experts; e++)
                fprintf(fp, "%.1f %.1f %.1f %.1f %.4f\n", xlo, xhi, e - 0.5, e + 0.5, r->load_over_mean[e]);
        }
        fputs("\n\n", fp);
        free(s);
    }
}

static void write_entropy_data(FILE *fp, const RouterLog *log, const int *layers, size_t n_layers)
{
    for (size_t l = 0; l < n_layers; l++) {
        const RouterRecord **s;
        size_t n = router_log_series(log, layers[l], &s);
        for (size_t i = 0; i < n; i++) fprintf(fp, "%" PRId64 " %.6f\n", s[i]->step, s[i]->stats.entropy);
        fputs("\n\n", fp);
        free(s);
    }
}

/* step, update_ratio, below_floor %, codes_changed % per layer; nan where absent
 * (gnuplot leaves such points out). */
static void write_update_data(FILE *fp, const RouterLog *log, const int *layers, size_t n_layers)
{
    for (size_t l = 0; l < n_layers; l++) {
        const RouterRecord **s;
        size_t n = router_log_series(log, layers[l], &s);
        for (size_t i = 0; i < n; i++)
            fprintf(fp, "%" PRId64 " %.6g %.6g %.6g\n", s[i]->step, s[i]->update_ratio, 100.0 * s[i]->below_floor,
                    100.0 * s[i]->codes_changed);
        fputs("\n\n", fp);
        free(s);
    }
}

static bool log_has_update(const RouterLog *log)
{
    for (size_t i = 0; i < log->n; i++)
        if (!isnan(log->recs[i].update_ratio) || !isnan(log->recs[i].below_floor) || !isnan(log->recs[i].codes_changed))
            return true;
    return false;
}

static bool log_has_codes(const RouterLog *log)
{
    for (size_t i = 0; i < log->n; i++)
        if (!isnan(log->recs[i].codes_changed)) return true;
    return false;
}

static void write_script(FILE *fp, const RouterLog *log, const int *layers, size_t n_layers,
                         const char *heat, const char *entropy, const char *update)
{
    int max_experts = 1;
    for (size_t i = 0; i < log->n; i++)
        if (log->recs[i].stats.experts > max_experts) max_experts = log->recs[i].stats.experts;
    int64_t first = router_log_first_step(log), last = router_log_last_step(log);
    int64_t x0 = first, x1 = last;
    for (size_t i = 0; i < log->n; i++)
        if (log->recs[i].from_step >= 0 && log->recs[i].from_step < x0) x0 = log->recs[i].from_step;
    if (x1 <= x0) x1 = x0 + 1;
    const int panels = (int)n_layers + 1 + (update ? 2 : 0);
    int height = 230 * (int)n_layers + 320 + (update ? 500 : 0);
    fprintf(fp,
            "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
            "  set terminal pngcairo size 1100,%d font 'sans,10'\n"
            "} else {\n"
            "  set terminal png size 1100,%d\n"
            "}\n"
            "set multiplot layout %d,1 title 'router health%s%s (steps %" PRId64 "..%" PRId64 ")'\n"
            "set lmargin at screen 0.08\n"
            "set rmargin at screen 0.80\n"
            "set xrange [%.1f:%.1f]\n"
            "set xlabel 'step'\n"
            "set palette defined (0 'black', 0.5 '#3b4cc0', 1 '#f7f7f7', 2 '#f4a582', 3 '#b2182b')\n"
            "set cbrange [0:3]\n"
            "set cblabel 'load / mean (1 = balanced)'\n"
            "set ylabel 'expert'\n"
            "set yrange [-0.5:%d]\n"
            "set style fill solid 1.0 noborder\n",
            height, height, panels, log->run ? ": " : "", log->run ? log->run : "", first, last,
            (double)x0 - 0.5, (double)x1 + 0.5, max_experts);
    for (size_t l = 0; l < n_layers; l++)
        fprintf(fp,
                "set title 'layer %d: expert load / mean load'\n"
                "plot '%s' index %zu using (($1+$2)/2):(($3+$4)/2):1:2:3:4:5 with boxxyerror fc palette notitle\n",
                layers[l], heat, l);
    fputs("unset colorbox\n"
          "set title 'normalized router entropy'\n"
          "set ylabel 'entropy'\n"
          "set yrange [*<0.9:1.005]\n"
          "set key bottom left\n"
          "set grid\n",
          fp);
    fputs("plot ", fp);
    for (size_t l = 0; l < n_layers; l++)
        fprintf(fp, "%s'%s' index %zu using 1:2 with lines lw 2 title 'layer %d'", l ? ", " : "", entropy, l, layers[l]);
    fputs("\n", fp);
    if (update) {
        fputs("set title 'router update / weight, RMS(dW) / RMS(W), of each window''s last step'\n"
              "set ylabel 'ratio'\n"
              "set logscale y\n"
              "set yrange [*:*]\n"
              "plot ",
              fp);
        for (size_t l = 0; l < n_layers; l++)
            fprintf(fp, "%s'%s' index %zu using 1:2 with linespoints lw 2 pt 7 ps 0.5 title 'layer %d'", l ? ", " : "",
                    update, l, layers[l]);
        const bool codes = log_has_codes(log);
        fprintf(fp, "\nunset logscale y\n"
                    "set title 'router updates below the floor%s, %% of the weights, each window''s last step'\n"
                    "set ylabel '%%'\n"
                    "set yrange [0:*<100]\n"
                    "plot ",
                codes ? " (solid) and expert codes changed (dashed)" : "");
        for (size_t l = 0; l < n_layers; l++) {
            fprintf(fp, "%s'%s' index %zu using 1:3 with lines lw 2 lc %zu title 'below floor, layer %d'", l ? ", " : "",
                    update, l, l + 1, layers[l]);
            if (codes)
                fprintf(fp, ", '%s' index %zu using 1:4 with lines lw 2 dt 2 lc %zu title 'codes changed, layer %d'", update,
                        l, l + 1, layers[l]);
        }
        fputs("\n", fp);
    }
    fputs("unset multiplot\n", fp);
}

/* Run gnuplot on the script with stdout into a buffer; stderr into errpath. */
static unsigned char *run_gnuplot(const char *gnuplot, const char *script, const char *errpath, size_t *len)
{
    int fds[2];
    if (pipe(fds) != 0) die("pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) die("fork: %s", strerror(errno));
    if (pid == 0) {
        FILE *err = fopen(errpath, "w");
        if (err) dup2(fileno(err), 2);
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl(gnuplot, "gnuplot", script, (char *)NULL);
        fprintf(stderr, "cannot run %s: %s\n", gnuplot, strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    unsigned char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) { cap = cap ? 2 * cap : 1 << 16; buf = xrealloc(buf, cap); }
        ssize_t got = read(fds[0], buf + n, cap - n);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) die("reading gnuplot's output: %s", strerror(errno));
        if (got == 0) break;
        n += (size_t)got;
    }
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) die("waitpid: %s", strerror(errno));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) { free(buf); return NULL; }
    *len = n;
    return buf;
}

/* The first lines gnuplot wrote to stderr, for the error message. */
static void read_head(const char *path, char *out, size_t cap)
{
    out[0] = 0;
    FILE *fp = fopen(path, "r");
    if (!fp) return;
    size_t n = fread(out, 1, cap - 1, fp);
    out[n] = 0;
    fclose(fp);
    for (char *p = out; *p; p++) if (*p == '\n') *p = ' ';
}

void routerstat_plot(const RouterLog *log, const char *gnuplot, const char *png_path)
{
    int *layers;
    size_t n_layers = router_log_layers(log, &layers);
    if (n_layers == 0) die("%s: no router lines to plot", log->path);
    TempDir t = { .n = 0 };
    const char *tmp = getenv("TMPDIR");
    snprintf(t.dir, sizeof t.dir, "%s/nmoe-routerstat-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(t.dir)) die("%s: cannot create a temporary directory: %s", t.dir, strerror(errno));
    char *heat = temp_file(&t, "heat.dat"), *entropy = temp_file(&t, "entropy.dat");
    char *script = temp_file(&t, "plot.gp"), *errs = temp_file(&t, "gnuplot.err");

    FILE *fp = create_or_die(heat);
    write_heat_data(fp, log, layers, n_layers);
    close_or_die(fp, heat);
    fp = create_or_die(entropy);
    write_entropy_data(fp, log, layers, n_layers);
    close_or_die(fp, entropy);
    char *update = NULL;
    if (log_has_update(log)) {
        update = temp_file(&t, "update.dat");
        fp = create_or_die(update);
        write_update_data(fp, log, layers, n_layers);
        close_or_die(fp, update);
    }
    fp = create_or_die(script);
    write_script(fp, log, layers, n_layers, heat, entropy, update);
    close_or_die(fp, script);
    free(layers);

    size_t len = 0;
    unsigned char *png = run_gnuplot(gnuplot, script, errs, &len);
    char why[512];
    read_head(errs, why, sizeof why);
    static const unsigned char signature[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
    bool ok = png && len > sizeof signature && memcmp(png, signature, sizeof signature) == 0;
    if (!ok) {
        free(png);
        temp_dir_remove(&t);
        die("%s: gnuplot failed%s%s", png_path, why[0] ? ": " : "", why);
    }
    temp_dir_remove(&t);
    atomic_write_file(png_path, png, len);
    free(png);
    info(NMOE_VERBOSE, "%s: %s: wrote %zu bytes of PNG\n", nmoe_prog(), png_path, len);
}
