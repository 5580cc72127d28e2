# pipelines/precision.mk: the tiny MoE with its routed experts in each emulated
# precision, each with and without the gain/no-clip set, every other key equal; how
# the router and the experts fare (issue 14).
#
#   make -f pipelines/precision.mk [STEPS=150] [FORMATS="fp32 bf16 fp8_e4m3 mxfp4 nvfp4"]
#        [CONFIG=configs/tiny_moe.toml] [DATA=run/speedrun/data] [OUT=run/precision] [-j 2]
#
# One run per format and set, OUT/<format>-<set>/metrics.ndjson: <set> "base" is CONFIG
# as it is, "gain" adds GAINS. Then OUT/precision.md, a table of the router health of
# the last step per run and MoE layer in the seed's format (CV%, normalized entropy,
# active experts, bias range), that step's update telemetry (the router's update /
# weight RMS ratio, the share of router weights below the floor of router_precision's
# format, the share of expert weight codes the step changed: nmoe-metrics(5)), how the
# run ended and its last validation loss (pipelines/precision_report.sh);
# OUT/precision.png, the loss and router-health curves; OUT/index.html, both on a page.
#
# THE GAIN/NO-CLIP SET (GAINS): embed_gain=10 logit_gain=0.1 expert_output_gain=2
# grad_clip=0. muP-style multipliers that leave the function at init about as it was:
# the residual stream reaches every block and the head through an RMSNorm, so a 10x
# embedding only makes the blocks' small initial outputs smaller still beside it (muP's
# input multiplier, 10 in Cerebras' and the muP paper's GPT runs); logits of a freshly
# initialized head are small, so at 0.1x the softmax is as near uniform as at 1x (the
# initial loss stays ln V to about 1%); 2 = top_k gives the routed output the scale of
# the sum of its K experts that the normalized gates divide by K. Clipping off lets a
# precision that destabilizes training show it (a run that diverges, exit 4, or
# collapses, exit 5, is a result in the table).
#
# A run that diverges or collapses is recorded as such; any other failure stops the
# pipeline. A finished run is not redone unless CONFIG, a variable or nmoe-train
# changed.
#
# Variables:
#   STEPS     steps per run [default: 150]
#   SCHEDULE  schedule overrides scaled to STEPS for configs/tiny_moe.toml's 1024
#             tokens per step: the cosine decay over the second half [default:
#             hold_tokens=STEPS*512 decay_tokens=STEPS*512]; empty: CONFIG's own
#   FORMATS   expert_precision values [default: fp32 bf16 fp8_e4m3 mxfp4 nvfp4]
#   ROUTER    router_precision of every run [default: fp32]
#   GAINS     the gain/no-clip set, KEY=VALUE ... [default: above]
#   CONFIG    the config [default: configs/tiny_moe.toml]
#   SET       more KEY=VALUE overrides for every run
#   DATA      data_path; the shipped Tiny Shakespeare pack is made there when DATA is
#             the default and missing [default: run/speedrun/data]
#   OUT       output directory [default: run/precision]
#   REGISTRY  the run registry (nmoe-registry(5)); empty: none [default: run/registry.db]
#   TRAIN_FLAGS extra nmoe-train options, e.g. "--threads 1" (with -j 2)
#
# Paths and values must not contain spaces.

TOP := $(abspath $(dir $(abspath $(lastword $(MAKEFILE_LIST))))/..)
BIN ?= $(TOP)/bin
NMOE_TRAIN ?= $(BIN)/nmoe-train
NMOE_ROUTERSTAT ?= $(BIN)/nmoe-routerstat
CONFIG ?= $(TOP)/configs/tiny_moe.toml
STEPS ?= 150
SCHEDULE ?= hold_tokens=$(shell echo $$(( $(STEPS) * 512 ))) decay_tokens=$(shell echo $$(( $(STEPS) * 512 )))
FORMATS ?= fp32 bf16 fp8_e4m3 mxfp4 nvfp4
ROUTER ?= fp32
GAINS ?= embed_gain=10 logit_gain=0.1 expert_output_gain=2 grad_clip=0
OUT ?= run/precision
TRAIN_FLAGS ?=

.PHONY: all clean
.DELETE_ON_ERROR:

ifneq ($(MAKECMDGOALS),clean)
ifeq ($(wildcard $(CONFIG)),)
$(error CONFIG=$(CONFIG): no such file)
endif
ifneq ($(shell echo '$(STEPS)' | grep -Ex '[1-9][0-9]*'),$(STEPS))
$(error STEPS=$(STEPS): a positive whole number of steps)
endif
ifneq ($(findstring -,$(FORMATS)),)
$(error FORMATS="$(FORMATS)": a format names a directory with '-' in it)
endif
endif

all: $(OUT)/index.html
	@cat $(OUT)/precision.md

include $(TOP)/pipelines/lib/train_runs.mk

# Every run's keys, recorded in set.txt (train_runs.mk), so a change redoes the runs.
override SET := steps=$(STEPS) router_precision=$(ROUTER) data_path=$(DATA) $(SCHEDULE) $(SET)
SET_FLAGS := $(foreach s,$(SET),--set $(s))
GAIN_FLAGS := $(foreach s,$(GAINS),--set $(s))

RUN_NAMES := $(foreach f,$(FORMATS),$(f)-base $(f)-gain)
RUNS := $(foreach r,$(RUN_NAMES),$(OUT)/$(r)/metrics.ndjson)

$(OUT)/gains.txt: FORCE
	@mkdir -p $(OUT)
	@printf '%s\n' $(GAINS) | sort >$@.tmp; if cmp -s $@.tmp $@; then rm $@.tmp; else mv $@.tmp $@; fi

# One run: <format>-<set>. Exit 4 (diverged) and 5 (collapsed) are results.
$(OUT)/%/metrics.ndjson: $(CONFIG) $(OUT)/set.txt $(OUT)/gains.txt $(NMOE_TRAIN) $(DATA_DEP)
	@mkdir -p $(OUT)/$* $(dir $(REGISTRY))
	@rm -f $(OUT)/$*/metrics.part
	@fmt=$(firstword $(subst -, ,$*)); set=$(lastword $(subst -, ,$*)); \
	case $$set in base) gains="" ;; gain) gains="$(GAIN_FLAGS)" ;; *) echo "precision: $*: not <format>-base or <format>-gain" >&2; exit 1 ;; esac; \
	status=0; \
	$(NMOE_TRAIN) $(CONFIG) -q --force $(TRAIN_FLAGS) $(REGISTRY_FLAGS)$(SET_FLAGS) --set expert_precision=$$fmt $$gains \
	    --set out_dir=$(OUT)/$*/train --metrics $(OUT)/$*/metrics.part || status=$$?; \
	case $$status in \
	    0|4|5) mv $(OUT)/$*/metrics.part $@ ;; \
	    *) echo "precision: $*: nmoe-train exited with status $$status" >&2; exit 1 ;; \
	esac

$(OUT)/precision.md: $(RUNS) $(TOP)/pipelines/precision_report.sh
	@NMOE_ROUTERSTAT=$(NMOE_ROUTERSTAT) bash $(TOP)/pipelines/precision_report.sh table $(OUT) $(RUN_NAMES) >$@.tmp
	@mv $@.tmp $@

$(OUT)/precision.png: $(RUNS) $(TOP)/pipelines/precision_report.sh
	@NMOE_ROUTERSTAT=$(NMOE_ROUTERSTAT) bash $(TOP)/pipelines/precision_report.sh plot $(OUT) $(RUN_NAMES) >$@.tmp
	@mv $@.tmp $@

$(OUT)/index.html: $(OUT)/precision.md $(OUT)/precision.png $(TOP)/pipelines/lib/md_page.sh
	@bash $(TOP)/pipelines/lib/md_page.sh "expert precision on $(notdir $(CONFIG)), $(STEPS) steps" $(OUT)/precision.md \
	    precision.png >$@.tmp
	@mv $@.tmp $@

clean:
	rm -rf $(OUT)
