// dist_nccl.cu: see dist_nccl.h. NCCL over an MPI communicator, one process per GPU.
#define OMPI_SKIP_MPICXX 1 // the C API of mpi.h only (no libmpi_cxx to link)
#define MPICH_SKIP_MPICXX 1
#include "dist_nccl.h"
#include "base/error.h"
extern "C" {
#include "base/clock.h"
}

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <sched.h>

#include <cuda_runtime.h>
#include <nccl.h>

struct NcclDist {
    MPI_Comm comm;
    int rank, size, device;
    int world_rank; // for messages: comm may be a sub-communicator
    ncclComm_t nccl; // NULL once aborted or destroyed
    cudaStream_t stream;
    double comm_s;
};

// The job-wide end of a fatal error: once this rank's message is out, MPI_Abort takes
// every rank down (mpirun kills them), so none waits forever on this one.
static void abort_job(int status)
{
    fflush(stdout);
    fflush(stderr);
    int up = 0, down = 0;
    MPI_Initialized(&up);
    MPI_Finalized(&down);
    if (up && !down) MPI_Abort(MPI_COMM_WORLD, status ? status : NMOE_EXIT_FAILURE);
    exit(status);
}

// The one failure path of this file: abort the NCCL communicator first (its kernels and
// proxy threads stop waiting for peers), then die through error.h with MPI_Abort last.
[[noreturn]] static void fail(NcclDist *d, const char *file, int line, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (d->nccl) {
        // Ignoring its status: nothing more can be done about a failed abort on the way out.
        (void)ncclCommAbort(d->nccl);
        d->nccl = NULL;
    }
    nmoe_on_fatal_exit(abort_job);
    die("rank %d: %s (%s:%d)", d->world_rank, msg, file, line);
}

#define CUDA_CHECK(d, call) do { cudaError_t e_ = (call); if (e_ != cudaSuccess) \
    fail(d, __FILE__, __LINE__, "%s failed: %s", #call, cudaGetErrorString(e_)); } while (0)
// ncclGetLastError: the detail NCCL logged for the last failure (its text for the code is terse).
#define NCCL_CHECK(d, call) do { ncclResult_t r_ = (call); if (r_ != ncclSuccess) { \
    const char *why_ = ncclGetLastError((d)->nccl); \
    fail(d, __FILE__, __LINE__, "%s failed: %s%s%s", #call, ncclGetErrorString(r_), \
         why_ && *why_ ? ": " : "", why_ ? why_ : ""); } } while (0)
#define MPI_CHECK(d, call) do { int rc_ = (call); if (rc_ != MPI_SUCCESS) { \
    char s_[MPI_MAX_ERROR_STRING]; int n_ = 0; MPI_Error_string(rc_, s_, &n_); \
    fail(d, __FILE__, __LINE__, "%s failed: %s", #call, s_); } } while (0)

// Waits for the stream, polling NCCL for an asynchronous error meanwhile (NCCL's
// documented way to leave a collective whose peer failed, instead of a blocking sync).
static void wait_stream(NcclDist *d, const char *what)
{
    for (;;) {
        cudaError_t e = cudaStreamQuery(d->stream);
        if (e == cudaSuccess) return;
        if (e != cudaErrorNotReady)
            fail(d, __FILE__, __LINE__, "%s: cudaStreamQuery failed: %s", what, cudaGetErrorString(e));
        ncclResult_t async = ncclSuccess;
        NCCL_CHECK(d, ncclCommGetAsyncError(d->nccl, &async));
        if (async != ncclSuccess && async != ncclInProgress)
            fail(d, __FILE__, __LINE__, "%s: NCCL reported an asynchronous error: %s", what, ncclGetErrorString(async));
        sched_yield();
    }
}

// This rank's place among the job's ranks on its node, as the launcher says it (Open
// MPI's mpirun, MPICH's hydra, Slurm), so that it does not depend on `comm` (a
// sub-communicator's ranks would each count from 0) and needs no collective; with no
// launcher variable (a singleton), the place among comm's ranks on the node.
static int node_local_rank(NcclDist *d)
{
    static const char *const vars[] = { "OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID" };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (!v) continue;
        char *end;
        long r = strtol(v, &end, 10);
        if (end == v || *end || r < 0 || r > 1 << 20)
            fail(d, __FILE__, __LINE__, "%s = '%s' is not a local rank", vars[i], v);
        return (int)r;
    }
    MPI_Comm node;
    int local = 0;
    MPI_CHECK(d, MPI_Comm_split_type(d->comm, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &node));
    MPI_CHECK(d, MPI_Comm_rank(node, &local));
    MPI_CHECK(d, MPI_Comm_free(&node));
    return local;
}

extern "C" NcclDist *nccl_dist_init(MPI_Comm comm)
{
    NcclDist *d = (NcclDist *)xcalloc(1, sizeof *d);
    d->comm = comm;
    MPI_CHECK(d, MPI_Comm_rank(MPI_COMM_WORLD, &d->world_rank));
    MPI_CHECK(d, MPI_Comm_rank(comm, &d->rank));
    MPI_CHECK(d, MPI_Comm_size(comm, &d->size));
    // One process per GPU: the rank's place on its node picks the GPU. A launcher that
    // shows each rank only its own GPU (CUDA_VISIBLE_DEVICES per task) leaves one; two
    // ranks on one GPU are NCCL's to refuse ("Duplicate GPU detected").
    int local = node_local_rank(d), n_dev = 0;
    CUDA_CHECK(d, cudaGetDeviceCount(&n_dev));
    if (n_dev == 0 || (local >= n_dev && n_dev > 1))
        fail(d, __FILE__, __LINE__, "rank number %d on its node but %d GPU%s visible: NCCL needs one process per GPU",
             local, n_dev, n_dev == 1 ? "" : "s");
    d->device = local < n_dev ? local : 0;
    CUDA_CHECK(d, cudaSetDevice(d->device));
    CUDA_CHECK(d, cudaStreamCreate(&d->stream));
    // The id rank 0 makes is the rendezvous of every rank: it travels over MPI.
    ncclUniqueId id;
    if (d->rank == 0) NCCL_CHECK(d, ncclGetUniqueId(&id));
    MPI_CHECK(d, MPI_Bcast(&id, (int)sizeof id, MPI_BYTE, 0, comm));
    double t0 = monotonic_s();
    ncclComm_t nccl = NULL; // d->nccl only once it is whole (a failed init is not aborted)
    NCCL_CHECK(d, ncclCommInitRank(&nccl, d->size, id, d->rank));
    d->nccl = nccl;
    d->comm_s += monotonic_s() - t0;
    return d;
}

extern "C" void nccl_dist_finalize(NcclDist *d)
{
    if (!d) return;
    if (d->nccl) {
        // Finalize flushes what is queued on the communicator; destroy frees it.
        NCCL_CHECK(d, ncclCommFinalize(d->nccl));
        NCCL_CHECK(d, ncclCommDestroy(d->nccl));
        d->nccl = NULL;
    }
    if (d->stream) CUDA_CHECK(d, cudaStreamDestroy(d->stream));
    free(d);
}

extern "C" int nccl_dist_rank(const NcclDist *d) { return d->rank; }
extern "C" int nccl_dist_size(const NcclDist *d) { return d->size; }
extern "C" int nccl_dist_device(const NcclDist *d) { return d->device; }

extern "C" double nccl_dist_comm_s(NcclDist *d, bool reset)
{
    double s = d->comm_s;
    if (reset) d->comm_s = 0;
    return s;
}

static void allreduce(NcclDist *d, float *buf, size_t n, ncclRedOp_t op, const char *what)
{
    if (n == 0) return;
    double t0 = monotonic_s();
    NCCL_CHECK(d, ncclAllReduce(buf, buf, n, ncclFloat, op, d->nccl, d->stream));
    wait_stream(d, what);
    d->comm_s += monotonic_s() - t0;
}

extern "C" void nccl_dist_allreduce_sum_f32(NcclDist *d, float *buf, size_t n)
{
    allreduce(d, buf, n, ncclSum, "nccl_dist_allreduce_sum_f32");
}

extern "C" void nccl_dist_allreduce_avg_f32(NcclDist *d, float *buf, size_t n)
{
    allreduce(d, buf, n, ncclAvg, "nccl_dist_allreduce_avg_f32");
}

extern "C" void nccl_dist_allgatherv_f32(NcclDist *d, const float *mine, float *all, const size_t *counts)
{
    double t0 = monotonic_s();
    size_t at = 0;
    NCCL_CHECK(d, ncclGroupStart());
    for (int r = 0; r < d->size; r++) {
        // The send buffer is read on the root only; the others pass their receive place.
        if (counts[r]) {
            const float *src = r == d->rank ? mine : all + at;
            NCCL_CHECK(d, ncclBroadcast(src, all + at, counts[r], ncclFloat, r, d->nccl, d->stream));
        }
        at += counts[r];
    }
    NCCL_CHECK(d, ncclGroupEnd());
    wait_stream(d, "nccl_dist_allgatherv_f32");
    d->comm_s += monotonic_s() - t0;
}

extern "C" void nccl_dist_alltoallv_f32(NcclDist *d, const float *send, const int64_t *send_counts, float *recv,
                                        const int64_t *recv_counts)
{
    for (int p = 0; p < d->size; p++)
        if (send_counts[p] < 0 || recv_counts[p] < 0)
            fail(d, __FILE__, __LINE__, "nccl_dist_alltoallv_f32: negative count for peer %d (send %lld, recv %lld)",
                 p, (long long)send_counts[p], (long long)recv_counts[p]);
    if (send_counts[d->rank] != recv_counts[d->rank])
        fail(d, __FILE__, __LINE__, "nccl_dist_alltoallv_f32: sends itself %lld floats but receives %lld",
             (long long)send_counts[d->rank], (long long)recv_counts[d->rank]);
    double t0 = monotonic_s();
    size_t s_at = 0, r_at = 0;
    // Inside one group the sends and receives progress together, so no order of them
    // can deadlock (a send to itself included).
    NCCL_CHECK(d, ncclGroupStart());
    for (int p = 0; p < d->size; p++) {
        size_t sc = (size_t)send_counts[p], rc = (size_t)recv_counts[p];
        if (sc) NCCL_CHECK(d, ncclSend(send + s_at, sc, ncclFloat, p, d->nccl, d->stream));
        if (rc) NCCL_CHECK(d, ncclRecv(recv + r_at, rc, ncclFloat, p, d->nccl, d->stream));
        s_at += sc;
        r_at += rc;
    }
    NCCL_CHECK(d, ncclGroupEnd());
    wait_stream(d, "nccl_dist_alltoallv_f32");
    d->comm_s += monotonic_s() - t0;
}
