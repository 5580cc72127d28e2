/* test_nccl_dist.c (GPU only, built by `make CUDA=1`): kernels/cuda/dist_nccl's NCCL
 * collectives against the same collectives done by MPI on host copies of the same
 * buffers. Run it under `mpirun -np N` with N <= the GPUs of the node (one process per
 * GPU; -np 1 on a single GPU), or alone as an MPI singleton.
 *
 * Every comparison is exact (bit for bit) where the math is exact whatever the order:
 * sums of small integers in float, the average when N is a power of two (1 / N is then
 * exact), gathers and all-to-alls (moved bytes). Only the average at other N has a
 * tolerance: (N + 1) * 2^-24 of the sum of magnitudes, twice over (dist_nccl.h).
 * Every rank checks its own results; rank 0 prints one line per collective (pass when
 * every rank passed). Exits nonzero on any failure, 77 (skip) without a GPU.
 *
 * `--init-without-gpu` checks the failure path where there is no GPU (tests/cli/
 * cuda_build.sh): rank 0 waits in MPI_Barrier while the other ranks (rank 0 itself at
 * -np 1) call nccl_dist_init, which must fail naming the CUDA call or the missing GPU
 * and MPI_Abort the job, so rank 0 is not left waiting. */
#include "../unit/check.h"
#include "base/error.h"
#include "cuda/cuda_backend.h"
#include "cuda/dist_nccl.h"

#include <cuda_runtime_api.h>
#include <mpi.h>
#include <stdlib.h>

#define CUDA_OK(call) do { cudaError_t e_ = (call); if (e_ != cudaSuccess) \
    die("%s:%d: %s failed: %s", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); } while (0)
#define MPI_OK(call) do { if ((call) != MPI_SUCCESS) die("%s:%d: %s failed", __FILE__, __LINE__, #call); } while (0)

/* A failing rank takes the job down rather than leaving the others in a collective. */
static void abort_job(int status)
{
    fflush(stdout);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, status ? status : 1);
    exit(status);
}

static float *device_copy(const float *host, size_t n)
{
    float *dev = NULL;
    CUDA_OK(cudaMalloc((void **)&dev, (n ? n : 1) * sizeof *dev));
    if (n) CUDA_OK(cudaMemcpy(dev, host, n * sizeof *dev, cudaMemcpyHostToDevice));
    return dev;
}

static void host_copy(float *host, const float *dev, size_t n)
{
    if (n) CUDA_OK(cudaMemcpy(host, dev, n * sizeof *host, cudaMemcpyDeviceToHost));
}

/* Elements of got that differ from want by more than tol (tol 0: bit for bit); the
 * first one is printed. */
static size_t mismatches(const char *what, int rank, const float *got, const float *want, size_t n, double tol)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        bool ok = tol == 0 ? memcmp(&got[i], &want[i], sizeof got[i]) == 0 : fabs((double)got[i] - want[i]) <= tol;
        if (!ok && bad++ == 0)
            fprintf(stderr, "rank %d: %s: [%zu] = %.9g, MPI gives %.9g\n", rank, what, i, got[i], want[i]);
    }
    return bad;
}

enum { T_SUM, T_AVG, T_GATHER, T_GATHER_INPLACE, T_ALLTOALL, N_TESTS };
static const char *const test_name[N_TESTS] = { "allreduce_sum", "allreduce_avg", "allgatherv",
                                                "allgatherv_inplace", "alltoallv" };

/* Small integers in [-8, 8]: their sums over a few ranks are exact in float. */
static float small_int(size_t i, int rank) { return (float)((int)((i * 7 + (size_t)rank * 13) % 17) - 8); }

static size_t test_allreduce(NcclDist *d, bool avg, size_t n, int rank, int size)
{
    float *x = malloc(n * sizeof *x), *want = malloc(n * sizeof *want), *got = malloc(n * sizeof *got);
    for (size_t i = 0; i < n; i++) x[i] = want[i] = small_int(i, rank);
    float *dev = device_copy(x, n);
    if (avg) nccl_dist_allreduce_avg_f32(d, dev, n);
    else nccl_dist_allreduce_sum_f32(d, dev, n);
    host_copy(got, dev, n);
    MPI_OK(MPI_Allreduce(MPI_IN_PLACE, want, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD));
    double tol = 0;
    if (avg) {
        for (size_t i = 0; i < n; i++) want[i] /= (float)size;
        /* A power of two: x * (1 / N) is exact, so is the sum. Else the bound of
         * dist_nccl.h over terms of magnitude <= 8, doubled. */
        if (size & (size - 1)) tol = 2.0 * (size + 1) * 8.0 / (1 << 24);
    }
    size_t bad = mismatches(avg ? "allreduce_avg" : "allreduce_sum", rank, got, want, n, tol);
    CUDA_OK(cudaFree(dev));
    free(x); free(want); free(got);
    return bad;
}

/* Rank r's part of the gather: uneven, and empty for rank 1 when there are 3 ranks. */
static size_t gather_count(int r, int size) { return (size >= 3 && r == 1) ? 0 : 1000 + 517 * (size_t)r; }

static size_t test_allgatherv(NcclDist *d, bool inplace, int rank, int size)
{
    size_t *counts = malloc((size_t)size * sizeof *counts), total = 0, mine_at = 0;
    int *mc = malloc(2 * (size_t)size * sizeof *mc), *md = mc + size;
    for (int r = 0; r < size; r++) {
        counts[r] = gather_count(r, size);
        mc[r] = (int)counts[r];
        md[r] = (int)total;
        if (r < rank) mine_at += counts[r];
        total += counts[r];
    }
    size_t nm = counts[rank];
    float *mine = malloc((nm ? nm : 1) * sizeof *mine), *want = malloc(total * sizeof *want), *got = malloc(total * sizeof *got);
    for (size_t i = 0; i < nm; i++) mine[i] = (float)rank * 100000.0f + (float)i; /* < 2^24: exact */
    for (size_t i = 0; i < total; i++) got[i] = -1.0f;
    if (inplace) memcpy(got + mine_at, mine, nm * sizeof *mine);
    float *dall = device_copy(got, total), *dmine = inplace ? dall + mine_at : device_copy(mine, nm);
    nccl_dist_allgatherv_f32(d, dmine, dall, counts);
    host_copy(got, dall, total);
    MPI_OK(MPI_Allgatherv(mine, (int)nm, MPI_FLOAT, want, mc, md, MPI_FLOAT, MPI_COMM_WORLD));
    size_t bad = mismatches(inplace ? "allgatherv_inplace" : "allgatherv", rank, got, want, total, 0);
    if (!inplace) CUDA_OK(cudaFree(dmine));
    CUDA_OK(cudaFree(dall));
    free(counts); free(mc); free(mine); free(want); free(got);
    return bad;
}

/* Floats rank `from` sends rank `to`: uneven, some pairs empty (when N > 1), the
 * largest part a rank's own. */
static int64_t a2a_count(int from, int to)
{
    return ((from * 3 + to * 5) % 4) * 250 + (from == to ? 3001 : 0) + ((from + to) % 3 == 2 ? 0 : 1);
}

static size_t test_alltoallv(NcclDist *d, int rank, int size)
{
    int64_t *sc = malloc(2 * (size_t)size * sizeof *sc), *rc = sc + size;
    int *msc = malloc(4 * (size_t)size * sizeof *msc), *msd = msc + size, *mrc = msc + 2 * size, *mrd = msc + 3 * size;
    size_t ns = 0, nr = 0;
    for (int p = 0; p < size; p++) {
        sc[p] = a2a_count(rank, p);
        rc[p] = a2a_count(p, rank);
        msc[p] = (int)sc[p], msd[p] = (int)ns, mrc[p] = (int)rc[p], mrd[p] = (int)nr;
        ns += (size_t)sc[p];
        nr += (size_t)rc[p];
    }
    float *send = malloc(ns * sizeof *send), *want = malloc(nr * sizeof *want), *got = malloc(nr * sizeof *got);
    for (int p = 0; p < size; p++) /* (from, to, index), exact below 2^24 */
        for (int64_t i = 0; i < sc[p]; i++) send[msd[p] + i] = (float)((rank * 64 + p) * 4096 + i);
    for (size_t i = 0; i < nr; i++) got[i] = -1.0f;
    float *dsend = device_copy(send, ns), *drecv = device_copy(got, nr);
    nccl_dist_alltoallv_f32(d, dsend, sc, drecv, rc);
    host_copy(got, drecv, nr);
    MPI_OK(MPI_Alltoallv(send, msc, msd, MPI_FLOAT, want, mrc, mrd, MPI_FLOAT, MPI_COMM_WORLD));
    size_t bad = mismatches("alltoallv", rank, got, want, nr, 0);
    CUDA_OK(cudaFree(dsend));
    CUDA_OK(cudaFree(drecv));
    free(sc); free(msc); free(send); free(want); free(got);
    return bad;
}

int main(int argc, char **argv)
{
    nmoe_set_prog("test_nccl_dist");
    bool init_without_gpu = argc == 2 && strcmp(argv[1], "--init-without-gpu") == 0;
    if (argc > 1 && !init_without_gpu) die_usage("usage: test_nccl_dist [--init-without-gpu]");
    if (!init_without_gpu && cuda_device_count() == 0) { printf("no CUDA device visible\n"); return 77; }
    int provided = 0, rank = 0, size = 1;
    MPI_OK(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided));
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_OK(MPI_Comm_rank(MPI_COMM_WORLD, &rank));
    MPI_OK(MPI_Comm_size(MPI_COMM_WORLD, &size));
    if (init_without_gpu) {
        if (cuda_device_count() > 0) die("--init-without-gpu: a GPU is visible");
        if (rank == 0 && size > 1) {
            MPI_OK(MPI_Barrier(MPI_COMM_WORLD)); /* never completes: the others abort the job */
        } else {
            nccl_dist_init(MPI_COMM_SELF);
        }
        die("--init-without-gpu: nccl_dist_init returned without a GPU");
    }
    /* Not before --init-without-gpu's check: there the MPI_Abort must be dist_nccl's. */
    nmoe_on_fatal_exit(abort_job);
    NcclDist *d = nccl_dist_init(MPI_COMM_WORLD);
    CHECK_EQ_INT(nccl_dist_rank(d), rank);
    CHECK_EQ_INT(nccl_dist_size(d), size);
    if (rank == 0) {
        char desc[256];
        cuda_describe(desc, sizeof desc);
        printf("device: %s\nranks: %d (rank 0 on GPU %d)\n", desc, size, nccl_dist_device(d));
    }
    /* Odd, past a power of two, so NCCL's chunking has a ragged end. */
    const size_t n = ((size_t)1 << 20) + 3;
    size_t bad[N_TESTS] = { 0 }, floats[N_TESTS] = { n, n, 0, 0, 0 };
    bad[T_SUM] = test_allreduce(d, false, n, rank, size);
    bad[T_AVG] = test_allreduce(d, true, n, rank, size);
    bad[T_GATHER] = test_allgatherv(d, false, rank, size);
    bad[T_GATHER_INPLACE] = test_allgatherv(d, true, rank, size);
    bad[T_ALLTOALL] = test_alltoallv(d, rank, size);
    for (int r = 0; r < size; r++) floats[T_GATHER] += gather_count(r, size);
    floats[T_GATHER_INPLACE] = floats[T_GATHER];
    for (int p = 0; p < size; p++) floats[T_ALLTOALL] += (size_t)a2a_count(rank, p);
    double comm_s = nccl_dist_comm_s(d, true);
    CHECK(comm_s > 0);
    for (int t = 0; t < N_TESTS; t++) CHECK_EQ_INT(bad[t], 0);
    /* Rank 0's table: a collective passes when it passed on every rank. */
    long long all_bad[N_TESTS];
    for (int t = 0; t < N_TESTS; t++) all_bad[t] = (long long)bad[t];
    MPI_OK(MPI_Allreduce(MPI_IN_PLACE, all_bad, N_TESTS, MPI_LONG_LONG, MPI_SUM, MPI_COMM_WORLD));
    if (rank == 0) {
        printf("%-20s %10s  %s (-np %d, against MPI on host copies)\n", "collective", "floats", "result", size);
        for (int t = 0; t < N_TESTS; t++)
            printf("%-20s %10zu  %s\n", test_name[t], floats[t],
                   all_bad[t] ? "FAIL" : (t == T_AVG && (size & (size - 1)) ? "pass (within bound)" : "pass (exact)"));
        if (all_bad[T_SUM] + all_bad[T_AVG] + all_bad[T_GATHER] + all_bad[T_GATHER_INPLACE] + all_bad[T_ALLTOALL])
            printf("mismatching elements over all ranks: see each rank's stderr\n");
    }
    nccl_dist_finalize(d);
    nmoe_on_fatal_exit(NULL);
    MPI_Finalize();
    char name[64];
    snprintf(name, sizeof name, "test_nccl_dist rank %d", rank);
    return check_report(name);
}
