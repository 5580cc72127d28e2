/* dist.c: see dist.h. */
#include "train/dist.h"
#include "base/clock.h"
#include "base/error.h"
#include "train/grad_tree.h"

#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* MPI itself is process-wide; so is what this file remembers of it. */
static bool started;
static int world_rank, world_size = 1;
static DistTiming timing;

#define MPI_CHECK(call)                                                                       \
    do {                                                                                      \
        int rc_ = (call);                                                                     \
        if (rc_ != MPI_SUCCESS) {                                                             \
            char msg_[MPI_MAX_ERROR_STRING];                                                  \
            int len_ = 0;                                                                     \
            MPI_Error_string(rc_, msg_, &len_);                                               \
            die("rank %d: %s failed: %s (%s:%d)", world_rank, #call, msg_, __FILE__, __LINE__); \
        }                                                                                     \
    } while (0)

static void abort_job(int status)
{
    /* The rank's message is out; make sure of it before the job is torn down. */
    fflush(stdout);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, status ? status : NMOE_EXIT_FAILURE);
    exit(status);
}

static bool launched_by_mpirun(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_SIZE");
}

int dist_init(void)
{
    if (started || !launched_by_mpirun()) return world_size;
    int provided = 0;
    /* FUNNELED: only the main thread calls MPI; OpenMP threads never do. */
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) die("MPI_Init_thread failed");
    started = true;
    /* Errors come back as codes (MPI_CHECK dies, and dying aborts the job). */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &world_rank));
    MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &world_size));
    nmoe_on_fatal_exit(abort_job);
    return world_size;
}

void dist_finalize(void)
{
    if (!started) return;
    nmoe_on_fatal_exit(NULL);
    MPI_Finalize();
    started = false;
}

int dist_rank(void) { return world_rank; }
int dist_size(void) { return world_size; }

DistTiming dist_timing(bool reset)
{
    DistTiming t = timing;
    if (reset) timing = (DistTiming){ 0 };
    return t;
}

void dist_wait_all(void)
{
    if (world_size == 1) return;
    double t0 = monotonic_s();
    MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD));
    timing.wait_s += monotonic_s() - t0;
}

/* MPI counts are ints: big buffers go in pieces. */
enum { CHUNK_FLOATS = 1 << 26 };

void dist_sum_tree_f32(float *buf, float *scratch, size_t n)
{
    if (world_size == 1) return;
    double t0 = monotonic_s();
    for (int stride = 1; stride < world_size; stride *= 2) {
        int peer = -1;
        int role = grad_tree_rank_round(world_rank, world_size, stride, &peer);
        if (role == GRAD_TREE_DONE) break;
        for (size_t off = 0; off < n; off += CHUNK_FLOATS) {
            int count = (int)(n - off < CHUNK_FLOATS ? n - off : CHUNK_FLOATS);
            if (role == GRAD_TREE_SEND) {
                MPI_CHECK(MPI_Send(buf + off, count, MPI_FLOAT, peer, stride, MPI_COMM_WORLD));
            } else if (role == GRAD_TREE_RECV) {
                MPI_CHECK(MPI_Recv(scratch + off, count, MPI_FLOAT, peer, stride, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
                grad_tree_add(buf + off, scratch + off, (size_t)count);
            }
        }
        if (role == GRAD_TREE_SEND) break;
    }
    for (size_t off = 0; off < n; off += CHUNK_FLOATS) {
        int count = (int)(n - off < CHUNK_FLOATS ? n - off : CHUNK_FLOATS);
        MPI_CHECK(MPI_Bcast(buf + off, count, MPI_FLOAT, 0, MPI_COMM_WORLD));
    }
    timing.comm_s += monotonic_s() - t0;
}

static int small_count(size_t n, const char *what)
{
    if (n > INT_MAX) die("%s: %zu values, more than one MPI call carries", what, n);
    return (int)n;
}

void dist_allgather_f64(const double *mine, double *all, size_t n)
{
    if (world_size == 1) {
        memcpy(all, mine, n * sizeof *all);
        return;
    }
    double t0 = monotonic_s();
    int c = small_count(n, "dist_allgather_f64");
    MPI_CHECK(MPI_Allgather(mine, c, MPI_DOUBLE, all, c, MPI_DOUBLE, MPI_COMM_WORLD));
    timing.comm_s += monotonic_s() - t0;
}

void dist_gather_f64(const double *mine, double *all, size_t n)
{
    if (world_size == 1) {
        memcpy(all, mine, n * sizeof *all);
        return;
    }
    double t0 = monotonic_s();
    int c = small_count(n, "dist_gather_f64");
    MPI_CHECK(MPI_Gather(mine, c, MPI_DOUBLE, all, c, MPI_DOUBLE, 0, MPI_COMM_WORLD));
    timing.comm_s += monotonic_s() - t0;
}

void dist_sum_i64(int64_t *v, size_t n)
{
    if (world_size == 1 || n == 0) return;
    double t0 = monotonic_s();
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, v, small_count(n, "dist_sum_i64"), MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD));
    timing.comm_s += monotonic_s() - t0;
}

void dist_sum_u64(uint64_t *v, size_t n)
{
    if (world_size == 1 || n == 0) return;
    double t0 = monotonic_s();
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, v, small_count(n, "dist_sum_u64"), MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD));
    timing.comm_s += monotonic_s() - t0;
}

int dist_max_int(int v)
{
    if (world_size == 1) return v;
    double t0 = monotonic_s();
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD));
    timing.comm_s += monotonic_s() - t0;
    return v;
}

void dist_bcast_f64(double *v, size_t n)
{
    if (world_size == 1) return;
    double t0 = monotonic_s();
    MPI_CHECK(MPI_Bcast(v, small_count(n, "dist_bcast_f64"), MPI_DOUBLE, 0, MPI_COMM_WORLD));
    timing.comm_s += monotonic_s() - t0;
}

void dist_bcast_bytes(void *v, size_t n)
{
    if (world_size == 1) return;
    double t0 = monotonic_s();
    MPI_CHECK(MPI_Bcast(v, small_count(n, "dist_bcast_bytes"), MPI_BYTE, 0, MPI_COMM_WORLD));
    timing.comm_s += monotonic_s() - t0;
}
