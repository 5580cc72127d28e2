/* nccl_shim.c: a test double for NCCL and the CUDA runtime, so dist_nccl's bookkeeping
 * (offsets, counts, groups, in-place cases) and test_nccl_dist's checks run under mpirun
 * on a machine without a GPU (tests/cli/nccl_shim.sh). "Device" memory is host memory;
 * each NCCL call is done by MPI: ncclAllReduce by MPI_Allreduce (ncclAvg as NCCL does it
 * for floats: each input times 1 / N, then the sum), the ncclBroadcasts of a group by
 * MPI_Bcast in the order they were queued, its ncclSend/ncclRecv by MPI_Isend/MPI_Irecv
 * and one MPI_Waitall at ncclGroupEnd (so, as with NCCL, nothing moves before the group
 * ends). Only MPI_COMM_WORLD's ranks can form a communicator. It says nothing about
 * NCCL or a GPU: the real library runs only in tests/gpu/device_checks.sh. Like the
 * libraries it stands for, it keeps process-wide state (the open group, the last
 * error). NMOE_SHIM_FAIL_SEND_RANK=r makes rank r's ncclSend fail. */
#include "cuda_runtime_api.h"
#include "nccl.h"
#include "cuda/cuda_backend.h"

#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char shim_magic[] = "nmoe nccl_shim";

struct ShimStream { int unused; };
struct ShimComm { MPI_Comm comm; int rank, size; };

int cuda_device_count(void)
{
    int n = 0;
    return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}

void cuda_describe(char *buf, size_t cap) { snprintf(buf, cap, "nccl_shim (host memory, MPI for NCCL; no GPU)"); }

const char *cudaGetErrorString(cudaError_t e)
{
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorNotReady: return "device not ready";
    default: return "invalid argument";
    }
}

/* NMOE_SHIM_GPUS (default 8) "GPUs" per node. */
cudaError_t cudaGetDeviceCount(int *n)
{
    const char *v = getenv("NMOE_SHIM_GPUS");
    *n = v ? atoi(v) : 8;
    return cudaSuccess;
}

cudaError_t cudaSetDevice(int device)
{
    int n = 0;
    cudaGetDeviceCount(&n);
    return device >= 0 && device < n ? cudaSuccess : cudaErrorInvalidValue;
}

cudaError_t cudaStreamCreate(cudaStream_t *s)
{
    *s = calloc(1, sizeof **s);
    return *s ? cudaSuccess : cudaErrorInvalidValue;
}

cudaError_t cudaStreamDestroy(cudaStream_t s)
{
    free(s);
    return cudaSuccess;
}

cudaError_t cudaStreamQuery(cudaStream_t s) { return s ? cudaSuccess : cudaErrorInvalidValue; }

cudaError_t cudaMalloc(void **p, size_t n)
{
    *p = malloc(n ? n : 1);
    return *p ? cudaSuccess : cudaErrorInvalidValue;
}

cudaError_t cudaFree(void *p)
{
    free(p);
    return cudaSuccess;
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t n, cudaMemcpyKind kind)
{
    (void)kind;
    memmove(dst, src, n);
    return cudaSuccess;
}

const char *ncclGetErrorString(ncclResult_t r)
{
    switch (r) {
    case ncclSuccess: return "no error";
    case ncclInvalidArgument: return "invalid argument";
    case ncclInvalidUsage: return "invalid usage";
    default: return "unknown result";
    }
}

static const char *last_error = "";

const char *ncclGetLastError(ncclComm_t comm)
{
    (void)comm;
    return last_error;
}

ncclResult_t ncclGetUniqueId(ncclUniqueId *id)
{
    memset(id, 0, sizeof *id);
    memcpy(id->internal, shim_magic, sizeof shim_magic);
    return ncclSuccess;
}

ncclResult_t ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId id, int rank)
{
    int wr = -1, ws = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &wr);
    MPI_Comm_size(MPI_COMM_WORLD, &ws);
    if (memcmp(id.internal, shim_magic, sizeof shim_magic) != 0 || nranks != ws || rank != wr) return ncclInvalidUsage;
    struct ShimComm *c = calloc(1, sizeof *c);
    if (!c || MPI_Comm_dup(MPI_COMM_WORLD, &c->comm) != MPI_SUCCESS) return ncclInvalidUsage;
    c->rank = rank;
    c->size = nranks;
    *comm = c;
    return ncclSuccess;
}

ncclResult_t ncclCommFinalize(ncclComm_t comm) { return comm ? ncclSuccess : ncclInvalidArgument; }

ncclResult_t ncclCommDestroy(ncclComm_t comm)
{
    if (!comm) return ncclInvalidArgument;
    MPI_Comm_free(&comm->comm);
    free(comm);
    return ncclSuccess;
}

/* No MPI call: the peers may be stuck in one (the job is about to be aborted). */
ncclResult_t ncclCommAbort(ncclComm_t comm)
{
    free(comm);
    return ncclSuccess;
}

ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t *err)
{
    *err = ncclSuccess;
    return comm ? ncclSuccess : ncclInvalidArgument;
}

/* The open group: its operations, in the order they were queued. */
enum { OP_BCAST, OP_SEND, OP_RECV };
typedef struct { int kind; const void *send; void *recv; int count, peer; ncclComm_t comm; } ShimOp;
enum { MAX_OPS = 4096 };
static ShimOp group_ops[MAX_OPS];
static int group_depth, group_n;

static ncclResult_t run_ops(const ShimOp *ops, int n)
{
    for (int i = 0; i < n; i++) /* broadcasts, in order: every rank queued the same ones */
        if (ops[i].kind == OP_BCAST) {
            const ShimOp *o = &ops[i];
            if (o->comm->rank == o->peer && o->send != o->recv) memmove(o->recv, o->send, (size_t)o->count * sizeof(float));
            if (MPI_Bcast(o->recv, o->count, MPI_FLOAT, o->peer, o->comm->comm) != MPI_SUCCESS) return ncclInvalidUsage;
        }
    MPI_Request *req = calloc(n > 0 ? (size_t)n : 1, sizeof *req);
    int nr = 0;
    if (!req) return ncclInvalidUsage;
    for (int i = 0; i < n; i++) {
        const ShimOp *o = &ops[i];
        int rc = MPI_SUCCESS;
        if (o->kind == OP_RECV) rc = MPI_Irecv(o->recv, o->count, MPI_FLOAT, o->peer, 0, o->comm->comm, &req[nr++]);
        if (o->kind == OP_SEND) rc = MPI_Isend(o->send, o->count, MPI_FLOAT, o->peer, 0, o->comm->comm, &req[nr++]);
        if (rc != MPI_SUCCESS) { free(req); return ncclInvalidUsage; }
    }
    int rc = MPI_Waitall(nr, req, MPI_STATUSES_IGNORE);
    free(req);
    return rc == MPI_SUCCESS ? ncclSuccess : ncclInvalidUsage;
}

static ncclResult_t queue(int kind, const void *send, void *recv, size_t count, ncclDataType_t type, int peer,
                          ncclComm_t comm)
{
    if (!comm || type != ncclFloat || count > INT_MAX || peer < 0 || peer >= comm->size) return ncclInvalidArgument;
    /* A failure injected on one rank (tests/cli/nccl_shim.sh): its ncclSend fails while
     * the peers wait for its data. */
    const char *fail_rank = getenv("NMOE_SHIM_FAIL_SEND_RANK");
    if (kind == OP_SEND && fail_rank && atoi(fail_rank) == comm->rank) {
        last_error = "nccl_shim: injected failure";
        return ncclInvalidUsage;
    }
    ShimOp op = { kind, send, recv, (int)count, peer, comm };
    if (group_depth == 0) return run_ops(&op, 1);
    if (group_n == MAX_OPS) return ncclInvalidUsage;
    group_ops[group_n++] = op;
    return ncclSuccess;
}

ncclResult_t ncclGroupStart(void)
{
    group_depth++;
    return ncclSuccess;
}

ncclResult_t ncclGroupEnd(void)
{
    if (group_depth == 0) return ncclInvalidUsage;
    if (--group_depth > 0) return ncclSuccess;
    ncclResult_t r = run_ops(group_ops, group_n);
    group_n = 0;
    return r;
}

ncclResult_t ncclAllReduce(const void *send, void *recv, size_t count, ncclDataType_t type, ncclRedOp_t op,
                           ncclComm_t comm, cudaStream_t stream)
{
    (void)stream;
    if (!comm || type != ncclFloat || count > INT_MAX || (op != ncclSum && op != ncclAvg) || group_depth)
        return ncclInvalidArgument;
    int rc;
    if (op == ncclAvg) {
        float *scaled = malloc((count ? count : 1) * sizeof *scaled), inv = 1.0f / (float)comm->size;
        for (size_t i = 0; i < count; i++) scaled[i] = ((const float *)send)[i] * inv;
        rc = MPI_Allreduce(scaled, recv, (int)count, MPI_FLOAT, MPI_SUM, comm->comm);
        free(scaled);
    } else {
        rc = MPI_Allreduce(send == recv ? MPI_IN_PLACE : send, recv, (int)count, MPI_FLOAT, MPI_SUM, comm->comm);
    }
    return rc == MPI_SUCCESS ? ncclSuccess : ncclInvalidUsage;
}

ncclResult_t ncclBroadcast(const void *send, void *recv, size_t count, ncclDataType_t type, int root, ncclComm_t comm,
                           cudaStream_t stream)
{
    (void)stream;
    return queue(OP_BCAST, send, recv, count, type, root, comm);
}

ncclResult_t ncclSend(const void *send, size_t count, ncclDataType_t type, int peer, ncclComm_t comm, cudaStream_t stream)
{
    (void)stream;
    return queue(OP_SEND, send, NULL, count, type, peer, comm);
}

ncclResult_t ncclRecv(void *recv, size_t count, ncclDataType_t type, int peer, ncclComm_t comm, cudaStream_t stream)
{
    (void)stream;
    return queue(OP_RECV, NULL, recv, count, type, peer, comm);
}
