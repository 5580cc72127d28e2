# flops.jq: parameter and FLOP counts of an nmoe model from its resolved config (the
# meta line's "config", nmoe-metrics(5)), for the pipelines' reports. Included with
#   jq -L pipelines/lib 'include "flops"; ...'
#
# Training FLOPs per token, the documented way (Kaplan et al. 2020; PaLM's MFU appendix,
# causal attention counted once): 6 N_active + 6 n_layers seq_len d_attn, where N_active
# counts the weights of every matrix product a token goes through (the attention
# projections, the FFN or the shared and top-k routed experts and the router, the LM
# head; not the embedding lookup) and d_attn = n_heads x head_dim: the forward is
# 2 N_active plus 2 x seq_len/2 x d_attn per block for QK^T and AV, the backward twice
# the forward.
def hd($c): ($c.head_dim // ($c.dim / $c.n_heads));
def moe_block($c; $l): $c.n_routed_experts > 0 and $l >= $c.n_dense_layers;
# Active FFN width of block $l: inter_dim (dense), (shared + activated) x moe_inter_dim (MoE).
def ffn_width($c; $l): if moe_block($c; $l) then ($c.n_shared_experts + $c.n_activated_experts) * $c.moe_inter_dim
                       else $c.inter_dim end;
def widths($c): [range(0; $c.n_layers) | ffn_width($c; .)];
def active($c):
  hd($c) as $hd
  | ($c.dim * $c.n_heads * $hd * 2 + $c.dim * $c.n_kv_heads * $hd * 2) as $attn
  | ([range(0; $c.n_layers) | $attn + 3 * $c.dim * ffn_width($c; .)
       + (if moe_block($c; .) then $c.dim * $c.n_routed_experts else 0 end)] | add)
    + $c.dim * $c.vocab_size;
def flops_per_token($c): 6 * active($c) + 6 * $c.n_layers * $c.seq_len * $c.n_heads * hd($c);
