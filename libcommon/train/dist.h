/* dist.h: the ranks of a data-parallel nmoe-train (mpirun -np N), over OpenMPI.
 *
 * MPI starts only when a launcher started the process (mpirun sets
 * OMPI_COMM_WORLD_SIZE; PMI_SIZE / PMIX_RANK for others): a plain `nmoe-train CONFIG`
 * makes no MPI call at all and is one rank of one. Every collective below is then a
 * no-op (or a copy), so callers do not test for it.
 *
 * Under mpirun every fatal error of a rank ends the whole job: dist_init puts
 * MPI_Abort on the fatal path of error.h (the rank's message first, on its stderr).
 * Collectives check their return codes and die naming the call.
 *
 * Timing: dist_wait_all is a barrier whose time is "waiting" (for the slowest rank);
 * every other collective's time is "communication". Both add up in seconds in
 * dist_timing(), which the trainer reads and resets each step. */
#ifndef NMOE_DIST_H
#define NMOE_DIST_H

#include "model/expert_exchange.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Starts MPI when launched by mpirun; returns the number of ranks. Idempotent. */
int dist_init(void);
/* MPI_Finalize (when started). */
void dist_finalize(void);
int dist_rank(void);
int dist_size(void);

typedef struct {
    double comm_s, wait_s;
} DistTiming;
/* Seconds spent since the last reset; reset when `reset`. */
DistTiming dist_timing(bool reset);

/* Barrier: the time it takes is waiting for the slowest rank. */
void dist_wait_all(void);
/* The fixed-order sum of every rank's n floats (grad_tree.h's rank rounds, then a
 * broadcast from rank 0): buf holds this rank's partial sum and receives the total on
 * every rank; scratch is n floats. */
void dist_sum_tree_f32(float *buf, float *scratch, size_t n);
/* all[r * n + i] = rank r's mine[i], on every rank. */
void dist_allgather_f64(const double *mine, double *all, size_t n);
/* Rank 0's gather of the same (all: n * size doubles, on rank 0 only). */
void dist_gather_f64(const double *mine, double *all, size_t n);
/* Exact sums over the ranks, in place. */
void dist_sum_i64(int64_t *v, size_t n);
void dist_sum_u64(uint64_t *v, size_t n);
/* The largest of the ranks' values. */
int dist_max_int(int v);
int64_t dist_max_i64(int64_t v);
/* ZeRO-1 (train/zero.h): rank r owns count[r] floats at first[r] of an n-float buffer
 * laid out alike on every rank. allgatherv: every rank's part into every rank's buf, in
 * place (buf: n floats everywhere). gatherv: onto rank 0 only; there buf is the n-float
 * buffer with rank 0's part in place, elsewhere buf holds just this rank's count floats.
 * Dies past what one MPI call carries (int counts and displacements: 2^31 - 1 floats). */
void dist_allgatherv_f32(float *buf, const size_t *first, const size_t *count);
void dist_gatherv_f32(float *buf, const size_t *first, const size_t *count);
/* Rank 0's n doubles (bytes) to every rank. */
void dist_bcast_f64(double *v, size_t n);
void dist_bcast_bytes(void *v, size_t n);

/* Expert parallel: the ranks split into groups of `group_size` consecutive ranks
 * (rank / group_size is the group, rank % group_size the place in it) and this returns
 * the exchange over this rank's group (MPI_Comm_split once; the same pointer after).
 * The all-to-alls count as communication. Dies unless group_size >= 2 divides the
 * rank count. */
const ExpertExchange *dist_expert_exchange(int group_size);

#endif
