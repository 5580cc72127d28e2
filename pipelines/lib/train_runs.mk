# train_runs.mk: included by the pipelines that train (sweep.mk, speedrun.mk,
# dense_vs_moe.mk) after their `all` target, with TOP and OUT set. What they share:
#   REGISTRY_FLAGS  nmoe-train's --registry $(REGISTRY), none when REGISTRY is empty
#   SET_FLAGS       one --set per KEY=VALUE of SET
#   $(OUT)/set.txt  SET as a file that changes only when SET does, so a new SET redoes
#                   the runs that depend on it and an unchanged one does not
#   DATA, DATA_DEP  data_path for the runs; the shipped Tiny Shakespeare pack (GPT-2
#                   tokens) is made in DEFAULT_DATA when DATA is the default and missing

BIN ?= $(TOP)/bin
REGISTRY ?= run/registry.db
REGISTRY_FLAGS = $(if $(strip $(REGISTRY)),--registry $(REGISTRY) ,)
SET ?=
SET_FLAGS := $(foreach s,$(SET),--set $(s))
DEFAULT_DATA := run/speedrun/data
DATA ?= $(DEFAULT_DATA)
DATA_DEP := $(if $(filter $(DEFAULT_DATA),$(DATA)),$(DEFAULT_DATA)/manifest.json)

$(DEFAULT_DATA)/manifest.json:
	@mkdir -p $(dir $@)
	$(BIN)/nmoe-tok encode -q -t gpt2 --eot $(TOP)/data/tinyshakespeare.txt | $(BIN)/nmoe-shard pack -f -q -o $(DEFAULT_DATA)

$(OUT)/set.txt: FORCE
	@mkdir -p $(OUT)
	@printf '%s\n' $(SET) | sort >$@.tmp; if cmp -s $@.tmp $@; then rm $@.tmp; else mv $@.tmp $@; fi
FORCE:
