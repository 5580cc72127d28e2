# pipelines/sweep.mk: one dial, several values, every other key equal.
#
#   make -f pipelines/sweep.mk DIAL=key VALUES="a b c" BASE=config.toml [SET="k=v ..."]
#        [OUT=run/sweep/<key>] [-j N]
#
# One training run per value (nmoe-train BASE --set DIAL=value, then each SET), each
# its own target OUT/<value>/metrics.ndjson, so `make -j N` trains N values at once.
# Then OUT/sweep.md, a table of the final metrics and router health per value
# (pipelines/sweep_report.sh), OUT/loss.png, the loss curves overlaid (gnuplot), and
# OUT/index.html, a page with both (pipelines/lib/md_page.sh).
#
# A run that diverges (exit 4) or whose routing collapses (exit 5, stop_on_collapse) is
# a result, recorded as such in the table; any other failure stops the sweep. An
# interrupted run resumes from its last checkpoint the next time (its metric stream is
# kept in OUT/<value>/metrics.part until the run ends); a finished one is not redone
# unless BASE, SET or nmoe-train changed.
#
# Variables:
#   DIAL        a config key (nmoe-train --list-keys) (required)
#   VALUES      its values, space-separated; each names a directory, so no '/' (required)
#   BASE        the config every run starts from (required)
#   SET         more KEY=VALUE overrides, the same for every run, e.g. "steps=100"
#   OUT         output directory [default: run/sweep/$(DIAL)]
#   NMOE_TRAIN  the nmoe-train program [default: bin/nmoe-train of this tree]
#   REGISTRY    the run registry every run is recorded in (nmoe-registry(5)); empty:
#               none [default: run/registry.db]
#   TRAIN_FLAGS extra nmoe-train options, e.g. "--threads 1" (with -j N, give each run
#               about cores/N threads; results do not depend on it)
#
# Paths and values must not contain spaces.

TOP := $(abspath $(dir $(abspath $(lastword $(MAKEFILE_LIST))))/..)
NMOE_TRAIN ?= $(TOP)/bin/nmoe-train
NMOE_ROUTERSTAT ?= $(TOP)/bin/nmoe-routerstat
OUT ?= run/sweep/$(DIAL)
TRAIN_FLAGS ?=

.PHONY: all clean
.DELETE_ON_ERROR:

ifneq ($(MAKECMDGOALS),clean)
ifeq ($(strip $(DIAL)),)
$(error DIAL=key is required: the config key to sweep)
endif
ifeq ($(strip $(VALUES)),)
$(error VALUES="a b ..." is required: the values of $(DIAL))
endif
ifeq ($(strip $(BASE)),)
$(error BASE=config.toml is required: the config every run starts from)
endif
ifeq ($(wildcard $(BASE)),)
$(error BASE=$(BASE): no such file)
endif
ifneq ($(words $(VALUES)),$(words $(sort $(VALUES))))
$(error VALUES="$(VALUES)": a value is given twice)
endif
ifneq ($(findstring /,$(VALUES)),)
$(error VALUES="$(VALUES)": a value names a directory and cannot contain '/')
endif
endif

RUNS := $(foreach v,$(VALUES),$(OUT)/$(v)/metrics.ndjson)

all: $(OUT)/index.html
	@cat $(OUT)/sweep.md

include $(TOP)/pipelines/lib/train_runs.mk


# One run. A checkpoint and a partial stream left by an interrupted run are resumed;
# anything else left there is cleared (--force). Exit 4 and 5 are results; the stream
# is renamed into place only when the run has ended.
$(OUT)/%/metrics.ndjson: $(BASE) $(OUT)/set.txt $(NMOE_TRAIN)
	@mkdir -p $(OUT)/$* $(dir $(REGISTRY))
	@if [ -e $(OUT)/$*/train/latest ] && [ -e $(OUT)/$*/metrics.part ]; then \
	    echo "sweep: $(DIAL)=$*: resuming $(OUT)/$*/train" >&2; \
	    start="--resume $(OUT)/$*/train"; \
	else \
	    rm -f $(OUT)/$*/metrics.part; start="--force"; \
	fi; \
	status=0; \
	$(NMOE_TRAIN) $(BASE) -q $(TRAIN_FLAGS) $(REGISTRY_FLAGS)--set $(DIAL)=$* $(SET_FLAGS) --set out_dir=$(OUT)/$*/train \
	    --metrics $(OUT)/$*/metrics.part $$start || status=$$?; \
	case $$status in \
	    0|4|5) mv $(OUT)/$*/metrics.part $@ ;; \
	    *) echo "sweep: $(DIAL)=$*: nmoe-train exited with status $$status" >&2; exit 1 ;; \
	esac

$(OUT)/sweep.md: $(RUNS) $(TOP)/pipelines/sweep_report.sh
	@NMOE_ROUTERSTAT=$(NMOE_ROUTERSTAT) bash $(TOP)/pipelines/sweep_report.sh table $(DIAL) $(OUT) $(VALUES) >$@.tmp
	@mv $@.tmp $@

$(OUT)/loss.png: $(RUNS) $(TOP)/pipelines/sweep_report.sh
	@bash $(TOP)/pipelines/sweep_report.sh plot $(DIAL) $(OUT) $(VALUES) >$@.tmp
	@mv $@.tmp $@

$(OUT)/index.html: $(OUT)/sweep.md $(OUT)/loss.png $(TOP)/pipelines/lib/md_page.sh
	@bash $(TOP)/pipelines/lib/md_page.sh "sweep of $(DIAL) over $(BASE)" $(OUT)/sweep.md loss.png >$@.tmp
	@mv $@.tmp $@

clean:
	rm -rf $(OUT)
