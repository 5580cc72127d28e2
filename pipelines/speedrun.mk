# pipelines/speedrun.mk: train to a target validation loss, time it, run CORE, and
# record the run on the leaderboard.
#
#   make -f pipelines/speedrun.mk [CONFIG=configs/tiny_moe.toml TARGET=6.3] [DATA=run/speedrun/data]
#        [OUT=run/speedrun/<config>] [LEADERBOARD=LEADERBOARD.json] [EVAL_FLAGS="--limit 100"]
#
# 1. OUT/metrics.ndjson: nmoe-train CONFIG with target_loss=TARGET and validation every
#    VAL_EVERY steps on the fixed validation set (the start of the held-out data); the
#    run stops at the first validation at or below TARGET.
# 2. OUT/result.json: steps, tokens and training time to the target, the validation
#    time excluded (the train lines' step times summed), from the metric stream. A run
#    that ended without reaching TARGET is refused here: nothing is recorded.
# 3. OUT/core/core.ndjson: CORE on the final checkpoint (pipelines/core_eval.mk).
# 4. OUT/recorded: the entry appended to LEADERBOARD (pipelines/leaderboard.sh), which
#    is kept sorted by training time, under a lock, replaced atomically.
# A finished step is not redone; an interrupted training run starts over.
#
# With the defaults, the shipped tiny speedrun: Tiny Shakespeare in GPT-2 tokens (made
# from data/tinyshakespeare.txt into DATA on first use), the tiny MoE to a validation
# loss of 6.3, which 2 CPU cores reach in a few minutes.
#
# Variables:
#   CONFIG       the config to train [default: configs/tiny_moe.toml]
#   TARGET       the validation loss to reach [default: 6.3]
#   DATA         data_path for the run; made from Tiny Shakespeare when it does not
#                exist and DATA is the default [default: run/speedrun/data]
#   VAL_EVERY    validate every this many steps [default: 10]
#   SET          more KEY=VALUE overrides for nmoe-train, e.g. "steps=600"
#   OUT          output directory [default: run/speedrun/<config name>]
#   LEADERBOARD  the leaderboard file [default: LEADERBOARD.json]
#   EVAL_FLAGS   options for every nmoe-eval run; the entry records them [default:
#                --limit 100, 100 examples per task; EVAL_FLAGS= for the whole suite]
#   CORE_TASKS   CORE task labels [default: every task of pipelines/core.toml]
#   REGISTRY    the run registry every run is recorded in (nmoe-registry(5)); empty:
#               none [default: run/registry.db]
#   TRAIN_FLAGS  extra nmoe-train options, e.g. "--threads 2"
#
# Paths must not contain spaces.

TOP := $(abspath $(dir $(abspath $(lastword $(MAKEFILE_LIST))))/..)
BIN ?= $(TOP)/bin
NMOE_TRAIN ?= $(BIN)/nmoe-train
CONFIG ?= $(TOP)/configs/tiny_moe.toml
TARGET ?= 6.3
VAL_EVERY ?= 10
OUT ?= run/speedrun/$(basename $(notdir $(CONFIG)))
LEADERBOARD ?= LEADERBOARD.json
EVAL_FLAGS ?= --limit 100
CORE_TASKS ?=
TRAIN_FLAGS ?=

.PHONY: all clean
.DELETE_ON_ERROR:

ifneq ($(MAKECMDGOALS),clean)
ifeq ($(wildcard $(CONFIG)),)
$(error CONFIG=$(CONFIG): no such file)
endif
ifeq ($(shell awk 'BEGIN { t = "$(TARGET)" + 0; exit !(t > 0 && "$(TARGET)" ~ /^[0-9.eE+-]+$$/) }' && echo ok),)
$(error TARGET=$(TARGET): not a positive number)
endif
endif

all: $(OUT)/recorded
	@cat $(OUT)/recorded

include $(TOP)/pipelines/lib/train_runs.mk


$(OUT)/metrics.ndjson: $(CONFIG) $(NMOE_TRAIN) $(DATA_DEP)
	@mkdir -p $(OUT) $(dir $(REGISTRY))
	@rm -f $(OUT)/metrics.part
	$(NMOE_TRAIN) $(CONFIG) -q --force $(TRAIN_FLAGS) $(REGISTRY_FLAGS)--set data_path=$(DATA) --set target_loss=$(TARGET) \
	    --set validation_every=$(VAL_EVERY) $(SET_FLAGS) --set out_dir=$(OUT)/train --metrics $(OUT)/metrics.part
	@mv $(OUT)/metrics.part $@

$(OUT)/result.json: $(OUT)/metrics.ndjson $(TOP)/pipelines/leaderboard.sh
	@bash $(TOP)/pipelines/leaderboard.sh result $(TARGET) $< >$@.tmp
	@mv $@.tmp $@

$(OUT)/core/core.ndjson: $(OUT)/result.json
	@$(MAKE) -s -f $(TOP)/pipelines/core_eval.mk CKPT=$(OUT)/train OUT=$(OUT)/core EVAL_FLAGS="$(EVAL_FLAGS)" \
	    $(if $(strip $(CORE_TASKS)),TASKS="$(CORE_TASKS)") NMOE_EVAL=$(BIN)/nmoe-eval $(OUT)/core/core.ndjson

$(OUT)/recorded: $(OUT)/result.json $(OUT)/core/core.ndjson
	@bash $(TOP)/pipelines/leaderboard.sh record $(LEADERBOARD) $(OUT)/metrics.ndjson $(OUT)/result.json \
	    $(OUT)/core/core.ndjson "$(EVAL_FLAGS)" >$@.tmp
	@mv $@.tmp $@

clean:
	rm -rf $(OUT)
