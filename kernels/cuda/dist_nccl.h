/* dist_nccl.h: the GPU collectives of a multi-process nmoe run, over NCCL, the way llm.c
 * does it: one process per GPU under mpirun, rank 0 creates the ncclUniqueId and hands
 * it out with MPI_Bcast, every rank joins with ncclCommInitRank. MPI (train/dist.c, or
 * the caller's own MPI_Init) launches and carries the host-side collectives; NCCL only
 * moves device buffers. Only compiled with `make CUDA=1`.
 *
 * Buffers are device pointers (cudaMalloc) on this rank's GPU. Every call is made by
 * every rank of the communicator, in the same order (as with MPI). Each collective runs
 * on the NcclDist's own stream, made by cudaStreamCreate (a blocking stream, so work the
 * caller queued on the legacy default stream finishes before it starts), and returns
 * once the result is in place: no overlap of compute and communication yet.
 *
 * Reproducibility: NCCL's reduction order is not fixed (it depends on the algorithm,
 * ring or tree, the protocol, the number of channels and the topology NCCL picks), so a
 * sum over ranks is not the fixed-order tree of train/grad_tree.h. GPU data parallel is
 * therefore reproducible across rank counts only within a float32 bound: each element
 * of the sum is off by at most (n_ranks - 1) * 2^-24 times the sum of the magnitudes
 * of its terms (the bound of any summation order; ncclAvg's pre-scaling adds one more
 * rounding), unlike the CPU transport's bit-identical -np 1 / 2 / 4. Sums of values
 * that add exactly in float (small integers) are exact whatever the order. Gathers and
 * all-to-alls move bytes and are exact.
 *
 * Failure: every CUDA and NCCL call is checked; a failure names the call and the
 * library's text (cudaGetErrorString, ncclGetErrorString and NCCL's last-error detail),
 * aborts the NCCL communicator (ncclCommAbort, so no kernel of this rank waits on a dead
 * peer) and then calls MPI_Abort, so every rank of the job stops instead of hanging in
 * a collective. While waiting for a collective the rank polls ncclCommGetAsyncError,
 * so an error NCCL reports asynchronously (a network or peer failure) ends the wait
 * too. A rank that is killed outright is mpirun's to notice: it ends the job.
 *
 * Status: compiled and linked in CI, and run there over an MPI double of NCCL on host
 * memory (tests/cli/nccl_shim.sh); never run with NCCL on a GPU yet, multi-GPU untested. */
#ifndef NMOE_DIST_NCCL_H
#define NMOE_DIST_NCCL_H

#include <mpi.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct NcclDist NcclDist;

/* Collective over `comm` (every rank calls it): selects this rank's GPU, makes a stream
 * and the NCCL communicator of comm's ranks in comm's rank order. The GPU is the rank's
 * place among the job's ranks on its node, as the launcher sets it
 * (OMPI_COMM_WORLD_LOCAL_RANK, MPI_LOCALRANKID or SLURM_LOCALID; without one, its place
 * among comm's ranks on the node), or the one GPU a rank sees when the launcher shows
 * each its own; dies when the node has fewer visible GPUs than ranks. comm must stay
 * valid until nccl_dist_finalize. */
NcclDist *nccl_dist_init(MPI_Comm comm);
/* Collective: finalizes and destroys the NCCL communicator and the stream (MPI stays
 * up: it is the caller's). NULL is a no-op. */
void nccl_dist_finalize(NcclDist *d);

int nccl_dist_rank(const NcclDist *d);
int nccl_dist_size(const NcclDist *d);
/* The CUDA device this rank uses. */
int nccl_dist_device(const NcclDist *d);
/* Seconds spent in this module's collectives since the last reset; reset when `reset`
 * (the "communication" of a train line, as dist_timing() is for MPI). */
double nccl_dist_comm_s(NcclDist *d, bool reset);

/* In place: buf (n floats) becomes the sum over the ranks of their buf. */
void nccl_dist_allreduce_sum_f32(NcclDist *d, float *buf, size_t n);
/* In place: the mean over the ranks (ncclAvg; for floats NCCL multiplies each input by
 * 1 / n_ranks before summing, exact when n_ranks is a power of two). Data parallel's
 * gradient average. */
void nccl_dist_allreduce_avg_f32(NcclDist *d, float *buf, size_t n);

/* all = rank 0's part, then rank 1's, ... packed; rank r's part is counts[r] floats
 * (counts: one per rank, the same on every rank). mine is this rank's counts[rank]
 * floats; it may be its own place inside all. One ncclBroadcast per rank with a
 * non-empty part, inside ncclGroupStart/End (NCCL has no all-gather-v). */
void nccl_dist_allgatherv_f32(NcclDist *d, const float *mine, float *all, const size_t *counts);

/* Expert parallel's dispatch and combine: the send_counts[p] floats of send after peer
 * p - 1's go to peer p, and recv receives, packed in peer order, the recv_counts[p]
 * floats peer p sends. One ncclSend and one ncclRecv per peer with a non-empty part,
 * inside ncclGroupStart/End. The counts are host arrays (one per rank) and must agree
 * with the peers' (what p sends me is my recv_counts[p]): exchange them first on the
 * host (MPI_Alltoall, as dist.c's expert exchange does), since NCCL cannot detect a
 * mismatch and a mismatch can hang. Dies on a negative count or when this rank's count
 * to itself differs between send and recv. */
void nccl_dist_alltoallv_f32(NcclDist *d, const float *send, const int64_t *send_counts, float *recv,
                             const int64_t *recv_counts);

#ifdef __cplusplus
}
#endif
#endif
