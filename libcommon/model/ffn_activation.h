/* ffn_activation.h: the FFN activation dial (config key ffn_activation; nmoe-train(1)),
 * one value for the dense FFN, the shared experts and the routed experts alike.
 *
 *   swiglu         W2 (silu(W1 x) * (W3 x))          three matrices (the default)
 *   relu2          W2 relu(W1 x)^2                   two matrices: no W3 tensor at all
 *   squared_reglu  W2 (relu(W1 x)^2 * (W3 x))        three matrices, W1 the gate
 *
 * relu2 (Primer, So et al. 2021) has no gate, so its blocks have no w3 tensor in the
 * parameter table, the checkpoint and the optimizer state: at the same inter_dim it has
 * two thirds of the FFN parameters and FLOPs of the gated variants. */
#ifndef NMOE_MODEL_FFN_ACTIVATION_H
#define NMOE_MODEL_FFN_ACTIVATION_H

#include <stdbool.h>
#include <string.h>

typedef enum { FFN_ACT_SWIGLU = 0, FFN_ACT_RELU2 = 1, FFN_ACT_SQUARED_REGLU = 2 } FfnActivation;

/* The config's spelling; FFN_ACT_SWIGLU for anything else (the config refuses it first). */
static inline FfnActivation ffn_activation_from_name(const char *name)
{
    if (strcmp(name, "relu2") == 0) return FFN_ACT_RELU2;
    if (strcmp(name, "squared_reglu") == 0) return FFN_ACT_SQUARED_REGLU;
    return FFN_ACT_SWIGLU;
}

static inline const char *ffn_activation_name(FfnActivation a)
{
    return a == FFN_ACT_RELU2 ? "relu2" : a == FFN_ACT_SQUARED_REGLU ? "squared_reglu" : "swiglu";
}

/* Whether the FFN has the up projection W3 (a gated activation). */
static inline bool ffn_activation_gated(FfnActivation a) { return a != FFN_ACT_RELU2; }

#endif
