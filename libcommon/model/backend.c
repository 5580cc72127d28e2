/* backend.c: the backends this build has, by config name (see backend.h). A backend
 * that cannot run is an error naming why; nmoe never falls back to another quietly. */
#include "model/backend.h"

#include <stdio.h>
#include <string.h>

#if NMOE_CUDA
#include "cuda/cuda_backend.h"
#endif

const char *backend_names(void)
{
#if NMOE_CUDA
    return "cpu, cuda";
#else
    return "cpu";
#endif
}

bool backend_supports(const char *name, const ModelShape *s, char *why, size_t why_len)
{
    if (strcmp(name, "cuda") != 0) return true;
    if (s->model_bf16) {
        snprintf(why, why_len, "backend \"cuda\": precision \"bf16\" is not in the CUDA backend yet (bf16 is emulated "
                 "on the cpu backend only); use backend = \"cpu\" or precision = \"fp32\"");
        return false;
    }
    if (s->ffn_activation != FFN_ACT_SWIGLU) {
        snprintf(why, why_len, "backend \"cuda\": ffn_activation \"%s\" is not in the CUDA backend (it has swiglu "
                 "only); use backend = \"cpu\"", ffn_activation_name(s->ffn_activation));
        return false;
    }
    if (s->mla) {
        snprintf(why, why_len, "backend \"cuda\": attention \"mla\" is not in the CUDA backend (it has mha only); "
                 "use backend = \"cpu\"");
        return false;
    }
    if (s->router_z_loss != 0.0f && s->n_routed_experts > 0) {
        snprintf(why, why_len, "backend \"cuda\": router_z_loss %g is not in the CUDA backend (it has router_z_loss "
                 "= 0 only); use backend = \"cpu\"", (double)s->router_z_loss);
        return false;
    }
    if (s->n_expert_groups > 1 && s->n_routed_experts > 0) {
        snprintf(why, why_len, "backend \"cuda\": n_expert_groups %d (group-limited routing) is not in the CUDA backend "
                 "(it has n_expert_groups = 1 only); use backend = \"cpu\"", s->n_expert_groups);
        return false;
    }
    if (s->rope_yarn) {
        snprintf(why, why_len, "backend \"cuda\": rope_scaling \"yarn\" is not in the CUDA backend (it has "
                 "rope_scaling = \"none\" only); use backend = \"cpu\"");
        return false;
    }
    if (s->z_loss != 0.0f) {
        snprintf(why, why_len, "backend \"cuda\": z_loss %g is not in the CUDA backend (it has z_loss = 0 only); "
                 "use backend = \"cpu\"", (double)s->z_loss);
        return false;
    }
    if (s->qk_norm) {
        snprintf(why, why_len, "backend \"cuda\": qk_norm is not in the CUDA backend (it has qk_norm = false only); "
                 "use backend = \"cpu\"");
        return false;
    }
    if (s->attn_sinks) {
        snprintf(why, why_len, "backend \"cuda\": attn_sinks is not in the CUDA backend (it has attn_sinks = false "
                 "only); use backend = \"cpu\"");
        return false;
    }
    if (s->attn_global_every > 0) {
        snprintf(why, why_len, "backend \"cuda\": attn_global_every %d is not in the CUDA backend (it has "
                 "attn_global_every = 0 only); use backend = \"cpu\"", s->attn_global_every);
        return false;
    }
    return true;
}

bool backend_supports_optimizer(const char *name, const char *optimizer, char *why, size_t why_len)
{
    if (strcmp(name, "cuda") != 0 || strcmp(optimizer, "adamw") == 0) return true;
    snprintf(why, why_len, "backend \"cuda\": optimizer \"%s\" is not in the CUDA backend (it has adamw only); use "
             "backend = \"cpu\"", optimizer);
    return false;
}

const ModelBackend *backend_find(const char *name, int *exit_code, char *why, size_t why_len)
{
    if (strcmp(name, "cpu") == 0) return &model_backend_cpu;
    if (strcmp(name, "cuda") == 0) {
#if NMOE_CUDA
        if (cuda_device_count() < 1) {
            *exit_code = 1;
            snprintf(why, why_len, "backend \"cuda\": no CUDA device is visible on this machine (check nvidia-smi)");
            return NULL;
        }
        *exit_code = 1;
        snprintf(why, why_len, "backend \"cuda\": this build has the CUDA kernels but not yet the CUDA training "
                               "backend; use backend = \"cpu\"");
        return NULL;
#else
        *exit_code = 2;
        snprintf(why, why_len, "backend \"cuda\": this build has no CUDA backend (rebuild with make CUDA=1)");
        return NULL;
#endif
    }
    *exit_code = 2;
    snprintf(why, why_len, "backend \"%s\": unknown (this build has: %s)", name, backend_names());
    return NULL;
}
