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
/* expert parallel: this rank's group */
static MPI_Comm ep_comm = MPI_COMM_NULL;
static ExpertExchange ep_exchange;

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
    if (ep_comm != MPI_COMM_NULL) MPI_Comm_free(&ep_comm);
    ep_exchange.size = 0;
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

int64_t dist_max_i64(int64_t v)
{
    if (world_size == 1) return v;
    double t0 = monotonic_s();
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD));
    timing.comm_s += monotonic_s() - t0;
    return v;
}

/* The ranks' parts as MPI's int counts and displacements (xmalloc'ed, 2 * size ints). */
static int *part_layout(const size_t *first, const size_t *count, const char *what)
{
    int *c = xmalloc(2 * (size_t)world_size * sizeof *c);
    for (int r = 0; r < world_size; r++) {
        if (first[r] > INT_MAX || count[r] > INT_MAX - first[r])
            die("%s: rank %d's part [%zu, +%zu) is past what one MPI call carries (2^31 - 1 floats)", what, r, first[r],
                count[r]);
        c[r] = (int)count[r];
        c[world_size + r] = (int)first[r];
    }
    return c;
}

void dist_allgatherv_f32(float *buf, const size_t *first, const size_t *count)
{
    if (world_size == 1) return;
    int *c = part_layout(first, count, "dist_allgatherv_f32");
    double t0 = monotonic_s();
    MPI_CHECK(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, c, c + world_size, MPI_FLOAT, MPI_COMM_WORLD));
    timing.comm_s += monotonic_s() - t0;
    free(c);
}

void dist_gatherv_f32(float *buf, const size_t *first, const size_t *count)
{
    if (world_size == 1) return;
    int *c = part_layout(first, count, "dist_gatherv_f32");
    double t0 = monotonic_s();
    if (world_rank == 0)
        MPI_CHECK(MPI_Gatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, c, c + world_size, MPI_FLOAT, 0, MPI_COMM_WORLD));
    else
        MPI_CHECK(MPI_Gatherv(buf, c[world_rank], MPI_FLOAT, NULL, NULL, NULL, MPI_FLOAT, 0, MPI_COMM_WORLD));
    timing.comm_s += monotonic_s() - t0;
    free(c);
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

static void ep_alltoall_i64(const int64_t *send, int64_t *recv, int per_peer)
{
    double t0 = monotonic_s();
    MPI_CHECK(MPI_Alltoall(send, per_peer, MPI_INT64_T, recv, per_peer, MPI_INT64_T, ep_comm));
    timing.comm_s += monotonic_s() - t0;
}

/* Packed counts to MPI's int counts and displacements. */
static void ep_layout(const int64_t *counts, int n, int *c, int *displ)
{
    int64_t at = 0;
    for (int p = 0; p < n; p++) {
        if (counts[p] < 0 || counts[p] > INT_MAX || at > INT_MAX)
            die("expert parallel: an all-to-all of %lld floats at %lld, more than one MPI call carries",
                (long long)counts[p], (long long)at);
        c[p] = (int)counts[p];
        displ[p] = (int)at;
        at += counts[p];
    }
}

static void ep_alltoallv_f32(const float *send, const int64_t *send_counts, float *recv, const int64_t *recv_counts)
{
    const int n = ep_exchange.size;
    int *sc = xmalloc(4 * (size_t)n * sizeof *sc), *sd = sc + n, *rc = sc + 2 * n, *rd = sc + 3 * n;
    ep_layout(send_counts, n, sc, sd);
    ep_layout(recv_counts, n, rc, rd);
    double t0 = monotonic_s();
    MPI_CHECK(MPI_Alltoallv(send, sc, sd, MPI_FLOAT, recv, rc, rd, MPI_FLOAT, ep_comm));
    timing.comm_s += monotonic_s() - t0;
    free(sc);
}

const ExpertExchange *dist_expert_exchange(int group_size)
{
    if (group_size < 2 || world_size % group_size != 0)
        die("expert_parallel = %d must be >= 2 and divide the %d ranks", group_size, world_size);
    if (ep_exchange.size == group_size) return &ep_exchange;
    if (ep_exchange.size) die("expert parallel: a second group size (%d after %d)", group_size, ep_exchange.size);
    MPI_CHECK(MPI_Comm_split(MPI_COMM_WORLD, world_rank / group_size, world_rank, &ep_comm));
    MPI_Comm_set_errhandler(ep_comm, MPI_ERRORS_RETURN);
    ep_exchange = (ExpertExchange){ .rank = world_rank % group_size, .size = group_size,
                                    .alltoall_i64 = ep_alltoall_i64, .alltoallv_f32 = ep_alltoallv_f32 };
    return &ep_exchange;
}
