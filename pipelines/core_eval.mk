# pipelines/core_eval.mk: the CORE-style task suite as a make graph.
#
#   make -f pipelines/core_eval.mk CKPT=DIR [TASKS="arc_easy copa"] [OUT=run/core] [-j N]
#   make -f pipelines/core_eval.mk CKPT=DIR BUNDLE=path/to/eval_bundle [OUT=run/core22]
#
# Each task is its own target, OUT/<task>.ndjson (one `eval` line, written atomically by
#   nmoe-eval core --ckpt $(CKPT) --tasks $(TASKS_FILE) --task <task>
# or, with BUNDLE, --bundle $(BUNDLE) in place of --tasks), so `make -j N` runs N tasks
# at once. Then OUT/core.ndjson gathers the tasks' lines and the CORE line (`nmoe-eval
# summary`), and the table is printed.
#
# Re-running redoes only what changed: a task reruns when a checkpoint file, the task
# config (or the bundle's core.yaml and eval_meta_data.csv), the task's data file, the
# nmoe-eval binary or EVAL_FLAGS changed; the summary when a task output or the
# selection of tasks changed.
#
# Variables:
#   CKPT        checkpoint directory (required)
#   TASKS       labels to run [default: every task of TASKS_FILE]
#   OUT         output directory [default: run/core]
#   TASKS_FILE  task config [default: pipelines/core.toml, 20 of the 22 CORE tasks]
#   BUNDLE      a CORE eval bundle instead of TASKS_FILE (nmoe-eval --bundle): a nanochat
#               eval_bundle folder (core.yaml, eval_meta_data.csv, eval_data/; all 22
#               CORE tasks) or a DCLM eval .yaml file (eval_meta_data.csv and local_data/
#               beside it) [default: none]
#   NMOE_EVAL   the nmoe-eval program [default: bin/nmoe-eval of this tree]
#   EVAL_FLAGS  extra options for every `nmoe-eval core` run, e.g. "--limit 500" or
#               "--threads 2" (with -j N, give each run about cores/N threads)
#
# The full 22-task CORE: unpack nanochat's eval_bundle (squad, coqa and the original
# hellaswag are in it; nmoe does not ship them) and give BUNDLE=path/to/eval_bundle.
# DCLM's mmlu_and_lowvar.yaml also lists mmlu_fewshot, which is not a CORE task: run
# the 22 with TASKS="$(nmoe-eval core --bundle F --list | cut -f1 | grep -vx mmlu_fewshot)".
#
# Paths must not contain spaces (make cannot depend on such files).

TOP := $(abspath $(dir $(abspath $(lastword $(MAKEFILE_LIST))))/..)
NMOE_EVAL ?= $(TOP)/bin/nmoe-eval
TASKS_FILE ?= $(TOP)/pipelines/core.toml
OUT ?= run/core
EVAL_FLAGS ?=

.PHONY: all clean
.DELETE_ON_ERROR:

all: $(OUT)/core.ndjson
	@$(NMOE_EVAL) summary --table $(OUT)/core.ndjson

ifneq ($(MAKECMDGOALS),clean)
ifeq ($(strip $(CKPT)),)
$(error CKPT=DIR is required: the checkpoint directory to evaluate)
endif
CKPT_FILES := $(shell find '$(CKPT)' -type f 2>/dev/null | LC_ALL=C sort)
ifeq ($(CKPT_FILES),)
$(error CKPT=$(CKPT): no checkpoint files there)
endif
# The suite: the nmoe-eval option that names it, and the files it is read from.
ifneq ($(strip $(BUNDLE)),)
ifneq ($(filter command line environment,$(origin TASKS_FILE)),)
$(error give TASKS_FILE or BUNDLE, not both)
endif
SUITE := --bundle $(BUNDLE)
SUITE_NAME := BUNDLE=$(BUNDLE)
# a folder: nanochat's layout; a file: a DCLM eval yaml with the csv beside it
SUITE_FILES := $(if $(wildcard $(BUNDLE)/.),$(BUNDLE)/core.yaml $(BUNDLE)/eval_meta_data.csv,\
                 $(BUNDLE) $(dir $(BUNDLE))eval_meta_data.csv)
$(foreach f,$(SUITE_FILES),$(if $(wildcard $(f)),,$(error BUNDLE=$(BUNDLE): $(f): no such file)))
else
ifeq ($(wildcard $(TASKS_FILE)),)
$(error TASKS_FILE=$(TASKS_FILE): no such file)
endif
SUITE := --tasks $(TASKS_FILE)
SUITE_NAME := $(TASKS_FILE)
SUITE_FILES := $(TASKS_FILE)
endif
NMOE_EVAL_BIN := $(shell command -v '$(NMOE_EVAL)' 2>/dev/null)
ifeq ($(NMOE_EVAL_BIN),)
$(error NMOE_EVAL=$(NMOE_EVAL): not found (run `make` in $(TOP) first))
endif

# The task list and data files, from the config (nmoe-eval core --list prints
# label, type, shots, baseline, file). Regenerated when the config changes.
$(OUT)/.tasks.mk: $(SUITE_FILES) $(OUT)/.suite $(NMOE_EVAL_BIN)
	@mkdir -p $(@D)
	@$(NMOE_EVAL) core $(SUITE) --list >$@.list
	@awk -F'\t' '{ print "ALL_TASKS += " $$1; print "$(OUT)/" $$1 ".ndjson: " $$5 }' $@.list >$@.tmp
	@rm -f $@.list
	@mv $@.tmp $@
include $(OUT)/.tasks.mk

TASKS ?= $(ALL_TASKS)
UNKNOWN := $(filter-out $(ALL_TASKS),$(TASKS))
ifneq ($(and $(ALL_TASKS),$(UNKNOWN)),)
$(error TASKS: $(UNKNOWN) not in $(SUITE_NAME) (it has: $(ALL_TASKS)))
endif
ifneq ($(filter core,$(ALL_TASKS)),)
$(error $(SUITE_NAME): a task may not be called "core" (OUT/core.ndjson is the summary))
endif
TASK_OUTS := $(TASKS:%=$(OUT)/%.ndjson)

# Stamps that change only when their content does, so a new checkpoint path, new flags,
# another suite or a new selection of tasks reruns what depends on them (and nothing
# else).
stamp = $(shell mkdir -p $(OUT) && printf '%s\n' '$(2)' | cmp -s - $(OUT)/$(1) || printf '%s\n' '$(2)' >$(OUT)/$(1))
$(call stamp,.run-flags,$(abspath $(CKPT)) $(EVAL_FLAGS))
$(call stamp,.selected,$(TASKS))
$(call stamp,.suite,$(word 1,$(SUITE)) $(abspath $(word 2,$(SUITE))))

$(OUT)/%.ndjson: $(CKPT_FILES) $(SUITE_FILES) $(NMOE_EVAL_BIN) $(OUT)/.run-flags $(OUT)/.suite
	$(NMOE_EVAL) core --ckpt $(CKPT) $(SUITE) --task $* $(EVAL_FLAGS) -o $@

$(OUT)/core.ndjson: $(TASK_OUTS) $(OUT)/.selected $(NMOE_EVAL_BIN)
	$(NMOE_EVAL) summary -o $@ $(TASK_OUTS)
endif

clean:
	rm -f $(OUT)/*.ndjson $(OUT)/.tasks.mk $(OUT)/.run-flags $(OUT)/.selected $(OUT)/.suite
	-rmdir $(OUT) 2>/dev/null
