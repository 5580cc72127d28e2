/* expert_exchange.h: how an MoE op reaches the other ranks of its expert-parallel group
 * (nmoe-train(1) "Expert parallel"), without the kernels knowing about MPI.
 *
 * A group of `size` ranks shares the n_routed_experts experts of every MoE block: rank r
 * computes experts [r * E / size, (r + 1) * E / size). Every rank of the group makes the
 * same sequence of calls (the collectives below are MPI's, over the group's
 * communicator; train/dist.c provides them), so an op that uses an exchange must be
 * called in lockstep by all of them: nmoe-train sets one only around its training
 * micro-batches, which every rank runs the same number of. */
#ifndef NMOE_EXPERT_EXCHANGE_H
#define NMOE_EXPERT_EXCHANGE_H

#include <stdint.h>

typedef struct ExpertExchange {
    int rank, size; /* this rank's place in the group, and the group's size (> 1) */
    /* MPI_Alltoall: send[p * per_peer ..] goes to peer p, recv[p * per_peer ..] comes from
     * peer p. */
    void (*alltoall_i64)(const int64_t *send, int64_t *recv, int per_peer);
    /* MPI_Alltoallv of floats, packed: peer p's part of send is the next send_counts[p]
     * floats after peer p - 1's, and likewise in recv with recv_counts. */
    void (*alltoallv_f32)(const float *send, const int64_t *send_counts, float *recv, const int64_t *recv_counts);
} ExpertExchange;

#endif
