# pipelines/core_eval.mk: the CORE-style task suite as a make graph.
#
#   make -f pipelines/core_eval.mk CKPT=DIR [TASKS="arc_easy copa"] [OUT=run/core] [-j N]
#
# Each task is its own target, OUT/<task>.ndjson (one `eval` line, written atomically by
#   nmoe-eval core --ckpt $(CKPT) --tasks $(TASKS_FILE) --task <task>
# ), so `make -j N` runs N tasks at once. Then OUT/core.ndjson gathers the tasks' lines
# and the CORE line (`nmoe-eval summary`), and the table is printed.
#
# Re-running redoes only what changed: a task reruns when a checkpoint file, the task
# config, the task's data file, the nmoe-eval binary or EVAL_FLAGS changed; the summary
# when a task output or the selection of tasks changed.
#
# Variables:
#   CKPT        checkpoint directory (required)
#   TASKS       labels to run [default: every task of TASKS_FILE]
#   OUT         output directory [default: run/core]
#   TASKS_FILE  task config [default: pipelines/core.toml, 20 of the 22 CORE tasks]
#   NMOE_EVAL   the nmoe-eval program [default: bin/nmoe-eval of this tree]
#   EVAL_FLAGS  extra options for every `nmoe-eval core` run, e.g. "--limit 500" or
#               "--threads 2" (with -j N, give each run about cores/N threads)
#
# The full 22-task CORE bundle: get the DCLM / nanochat eval bundle (its eval_data/ holds
# the llm-foundry local_data files, including squad, coqa and the original hellaswag),
# copy pipelines/core.toml, set suite.data_dir to the bundle's eval_data folder, point
# each task's `file` at the bundle's path, add [task.squad] and [task.coqa] (both
# language_modeling, baseline 0; squad 10-shot, coqa 0-shot), then
#   make -f pipelines/core_eval.mk CKPT=DIR TASKS_FILE=path/to/core22.toml OUT=run/core22
# (nmoe-eval(1) and nmoe-eval-tasks(5) describe the config.)
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
ifeq ($(wildcard $(TASKS_FILE)),)
$(error TASKS_FILE=$(TASKS_FILE): no such file)
endif
NMOE_EVAL_BIN := $(shell command -v '$(NMOE_EVAL)' 2>/dev/null)
ifeq ($(NMOE_EVAL_BIN),)
$(error NMOE_EVAL=$(NMOE_EVAL): not found (run `make` in $(TOP) first))
endif

# The task list and data files, from the config (nmoe-eval core --list prints
# label, type, shots, baseline, file). Regenerated when the config changes.
$(OUT)/.tasks.mk: $(TASKS_FILE) $(NMOE_EVAL_BIN)
	@mkdir -p $(@D)
	@$(NMOE_EVAL) core --tasks $(TASKS_FILE) --list >$@.list
	@awk -F'\t' '{ print "ALL_TASKS += " $$1; print "$(OUT)/" $$1 ".ndjson: " $$5 }' $@.list >$@.tmp
	@rm -f $@.list
	@mv $@.tmp $@
include $(OUT)/.tasks.mk

TASKS ?= $(ALL_TASKS)
UNKNOWN := $(filter-out $(ALL_TASKS),$(TASKS))
ifneq ($(and $(ALL_TASKS),$(UNKNOWN)),)
$(error TASKS: $(UNKNOWN) not in $(TASKS_FILE) (it has: $(ALL_TASKS)))
endif
ifneq ($(filter core,$(ALL_TASKS)),)
$(error $(TASKS_FILE): a task may not be called "core" (OUT/core.ndjson is the summary))
endif
TASK_OUTS := $(TASKS:%=$(OUT)/%.ndjson)

# Stamps that change only when their content does, so a new checkpoint path, new flags
# or a new selection of tasks reruns what depends on them (and nothing else).
stamp = $(shell mkdir -p $(OUT) && printf '%s\n' '$(2)' | cmp -s - $(OUT)/$(1) || printf '%s\n' '$(2)' >$(OUT)/$(1))
$(call stamp,.run-flags,$(abspath $(CKPT)) $(EVAL_FLAGS))
$(call stamp,.selected,$(TASKS))

$(OUT)/%.ndjson: $(CKPT_FILES) $(TASKS_FILE) $(NMOE_EVAL_BIN) $(OUT)/.run-flags
	$(NMOE_EVAL) core --ckpt $(CKPT) --tasks $(TASKS_FILE) --task $* $(EVAL_FLAGS) -o $@

$(OUT)/core.ndjson: $(TASK_OUTS) $(OUT)/.selected $(NMOE_EVAL_BIN)
	$(NMOE_EVAL) summary -o $@ $(TASK_OUTS)
endif

clean:
	rm -f $(OUT)/*.ndjson $(OUT)/.tasks.mk $(OUT)/.run-flags $(OUT)/.selected
	-rmdir $(OUT) 2>/dev/null
