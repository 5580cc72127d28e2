# pipelines/dense_vs_moe.mk: a dense model and an MoE model with the same active FFN
# parameters per token, trained on the same tokens with the same seed and schedule,
# compared on loss against tokens, training FLOPs and training time.
#
#   make -f pipelines/dense_vs_moe.mk [DENSE=configs/tiny.toml MOE=configs/tiny_moe.toml]
#        [SET="steps=300 ..."] [DATA=run/speedrun/data] [OUT=run/dense_vs_moe] [-j 2]
#
# Both runs get SET (by default the MoE config's step count and schedule, so the dense
# one trains on exactly the same tokens) and DATA. Before anything is reported,
# pipelines/compare_report.sh checks that the two resolved configs (their meta lines)
# agree on the data, batch, sequence length, seed, steps and schedule, and that the
# active FFN width per token is equal in every block (a dense block's inter_dim against
# an MoE block's (shared + activated) x moe_inter_dim): a comparison that is not fair
# under sparsity is refused, unless ALLOW_MISMATCH=1.
#
# OUT/compare.md: one row per model (parameters, active parameters per token, training
# FLOPs per token and in all, final train and validation loss, training time, tokens/s);
# OUT/compare.png: the loss against tokens, against training FLOPs and against training
# time (train_s: validation and checkpoints left out); OUT/index.html: a page with both.
#
# Training FLOPs per token are counted as 6 N_active + 6 n_layers seq_len d_attn, the
# way pipelines/lib/flops.jq documents (Kaplan et al. 2020; PaLM's MFU appendix).
#
# Variables:
#   DENSE, MOE     the two configs [default: configs/tiny.toml, configs/tiny_moe.toml]
#   SET            KEY=VALUE overrides for both [default: steps=300 hold_tokens=150000
#                  decay_tokens=157200, configs/tiny_moe.toml's schedule]
#   DATA           data_path for both; the shipped Tiny Shakespeare pack is made there
#                  when DATA is the default and missing [default: run/speedrun/data]
#   OUT            output directory [default: run/dense_vs_moe]
#   REGISTRY    the run registry every run is recorded in (nmoe-registry(5)); empty:
#               none [default: run/registry.db]
#   TRAIN_FLAGS    extra nmoe-train options, e.g. "--threads 1" (with -j 2)
#   ALLOW_MISMATCH 1: report even when the configs are not matched [default: 0]
#
# Paths must not contain spaces.

TOP := $(abspath $(dir $(abspath $(lastword $(MAKEFILE_LIST))))/..)
BIN ?= $(TOP)/bin
NMOE_TRAIN ?= $(BIN)/nmoe-train
DENSE ?= $(TOP)/configs/tiny.toml
MOE ?= $(TOP)/configs/tiny_moe.toml
SET ?= steps=300 hold_tokens=150000 decay_tokens=157200
OUT ?= run/dense_vs_moe
TRAIN_FLAGS ?=
ALLOW_MISMATCH ?= 0

.PHONY: all clean
.DELETE_ON_ERROR:

ifneq ($(MAKECMDGOALS),clean)
ifeq ($(wildcard $(DENSE)),)
$(error DENSE=$(DENSE): no such file)
endif
ifeq ($(wildcard $(MOE)),)
$(error MOE=$(MOE): no such file)
endif
endif

all: $(OUT)/index.html
	@cat $(OUT)/compare.md

include $(TOP)/pipelines/lib/train_runs.mk



define run_rule
$(OUT)/$(1)/metrics.ndjson: $(2) $(OUT)/set.txt $(NMOE_TRAIN) $(DATA_DEP)
	@mkdir -p $(OUT)/$(1) $(dir $(REGISTRY))
	@rm -f $(OUT)/$(1)/metrics.part
	$(NMOE_TRAIN) $(2) -q --force $(TRAIN_FLAGS) $(REGISTRY_FLAGS)$(SET_FLAGS) --set data_path=$(DATA) \
	    --set out_dir=$(OUT)/$(1)/train --metrics $(OUT)/$(1)/metrics.part
	@mv $(OUT)/$(1)/metrics.part $$@
endef
$(eval $(call run_rule,dense,$(DENSE)))
$(eval $(call run_rule,moe,$(MOE)))

RUNS := $(OUT)/dense/metrics.ndjson $(OUT)/moe/metrics.ndjson

$(OUT)/compare.md: $(RUNS) $(TOP)/pipelines/compare_report.sh
	@ALLOW_MISMATCH=$(ALLOW_MISMATCH) bash $(TOP)/pipelines/compare_report.sh table $(RUNS) >$@.tmp
	@mv $@.tmp $@

$(OUT)/compare.png: $(RUNS) $(TOP)/pipelines/compare_report.sh
	@ALLOW_MISMATCH=$(ALLOW_MISMATCH) bash $(TOP)/pipelines/compare_report.sh plot $(RUNS) >$@.tmp
	@mv $@.tmp $@

$(OUT)/index.html: $(OUT)/compare.md $(OUT)/compare.png $(TOP)/pipelines/lib/md_page.sh
	@bash $(TOP)/pipelines/lib/md_page.sh "dense vs MoE: $(notdir $(DENSE)) and $(notdir $(MOE))" $(OUT)/compare.md \
	    compare.png >$@.tmp
	@mv $@.tmp $@

clean:
	rm -rf $(OUT)
