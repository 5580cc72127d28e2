# nmoe: build, test, install.
#
#   make                 CPU build of every program into bin/
#   make CUDA=1          also the CUDA backend (nvcc, sm_90, cuBLASLt, NCCL)
#   make check           build and run every test (unit tests also under ASan+UBSan,
#                        the threaded pipelines' tests under ThreadSanitizer)
#   make fuzz            run each libFuzzer target for FUZZ_SECONDS
#   make bench           run the benchmarks in bench/
#   make demo            the README's main job on the bundled data
#   make deps            install the Debian packages (idempotent; needs root or sudo)
#   make install PREFIX=/usr/local

PREFIX ?= /usr/local
BIN ?= bin
CUDA ?= 0
CUDA_HOME ?= /usr/local/cuda
CUDA_ARCH ?= sm_90
FUZZ_SECONDS ?= 20
VERSION := 0.1.0

CC := gcc
NVCC := $(CUDA_HOME)/bin/nvcc
WARN := -Wall -Wextra -Werror
CPPFLAGS := -D_GNU_SOURCE -DNMOE_VERSION='"$(VERSION)"' -Ilibcommon -Ikernels
CFLAGS := -std=c11 -O2 -g $(WARN) -fopenmp -MMD -MP
LDLIBS := -lzstd -larchive -lz -lopenblas -lpcre2-8 -lcjson -lxxhash -lsqlite3 -lm -fopenmp
# OpenMPI (data-parallel nmoe-train under mpirun; Debian's libopenmpi-dev, from make deps).
# A required dependency like zstd: its flags come from pkg-config, so `make deps` still
# runs on a machine without it.
MPI_CFLAGS := $(shell pkg-config --cflags ompi-c 2>/dev/null)
MPI_LIBS := $(shell pkg-config --libs ompi-c 2>/dev/null || echo -lmpi)
CPPFLAGS += $(MPI_CFLAGS)
LDLIBS += $(MPI_LIBS)
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
TSAN := -fsanitize=thread

ifeq ($(CUDA),1)
  BUILD := build/cuda
  CPPFLAGS += -DNMOE_CUDA=1 -I$(CUDA_HOME)/include
  LDLIBS += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublasLt -lcublas -lnccl -lcudart -lstdc++
  NVCCFLAGS := -O2 -g -arch=$(CUDA_ARCH) -std=c++17 -Ilibcommon -Ikernels $(MPI_CFLAGS) -Xcompiler -Wall,-Wextra,-Werror -MMD -MP
else
  BUILD := build/cpu
endif

LIB_SRC := $(wildcard libcommon/*/*.c) $(wildcard kernels/cpu/*.c)
CU_SRC := $(if $(filter 1,$(CUDA)),$(wildcard kernels/cuda/*.cu))
TOOL_SRC := $(wildcard tools/nmoe-*.c)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
TESTTOOL_SRC := $(wildcard tests/tools/*.c)
GPU_SRC := $(if $(filter 1,$(CUDA)),$(wildcard tests/gpu/test_*.c))

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o) $(CU_SRC:%.cu=$(BUILD)/%.o)
LIB := $(BUILD)/libnmoe.a
TOOLS := $(TOOL_SRC:tools/%.c=$(BIN)/%)
UNIT := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
ASAN_LIB_OBJ := $(LIB_SRC:%.c=build/asan/%.o)
ASAN_UNIT := $(UNIT_SRC:tests/unit/%.c=build/asan/tests/%)
REPLAY := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=build/asan/fuzz/replay_%)
GPU_TESTS := $(GPU_SRC:tests/gpu/%.c=$(BUILD)/gpu/%)
# The tests of the code that runs its own threads (encode's pipeline, cat's read-
# ahead), also built under ThreadSanitizer; tests/tsan/threads.sh runs them.
TSAN_LIB_OBJ := $(LIB_SRC:%.c=build/tsan/%.o)
TSAN_UNIT := build/tsan/tests/test_tokenizer_pipeline build/tsan/tests/test_shard_stream
# Small helper programs the shell tests use (generators, corrupters), in build/testtools/.
TESTTOOLS := $(TESTTOOL_SRC:tests/tools/%.c=build/testtools/%)

# Keep intermediate objects (no trailing `rm` after the test summary; faster rebuilds).
.SECONDARY:

.PHONY: all check check-gpu unit fuzz bench demo deps install clean man-check
all: $(TOOLS) $(GPU_TESTS)

# Relink when the build flavour changes (CPU <-> CUDA), since both share bin/.
FLAVOUR := $(BUILD)/flavour
$(shell mkdir -p $(BUILD); echo '$(CUDA)' | cmp -s - $(FLAVOUR) || echo '$(CUDA)' > $(FLAVOUR))

# The source tree's git revision (base/git_rev.h: the run registry, the meta line), seen
# by git_rev.o alone and rebuilt when it changes, as the flavour is.
GIT_REV := $(shell git describe --always --dirty --abbrev=12 2>/dev/null || echo unknown)
GIT_REV_FILE := $(BUILD)/git-rev
$(shell echo '$(GIT_REV)' | cmp -s - $(GIT_REV_FILE) || echo '$(GIT_REV)' > $(GIT_REV_FILE))
%/libcommon/base/git_rev.o: CPPFLAGS += -DNMOE_GIT_REV='"$(GIT_REV)"'
$(BUILD)/libcommon/base/git_rev.o build/asan/libcommon/base/git_rev.o build/tsan/libcommon/base/git_rev.o: $(GIT_REV_FILE)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/%.o: %.cu
	@mkdir -p $(@D)
	$(NVCC) $(NVCCFLAGS) -DNMOE_CUDA=1 -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN)/%: $(BUILD)/tools/%.o $(LIB) $(FLAVOUR)
	@mkdir -p $(BIN)
	$(CC) $(CFLAGS) -o $@ $< $(LIB) $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/gpu/%: $(BUILD)/tests/gpu/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# Sanitizer build of the library and unit tests (and the fuzz replayers).
build/asan/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -O1 $(SAN) -c $< -o $@

build/asan/libnmoe.a: $(ASAN_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/asan/tests/%: build/asan/tests/unit/%.o build/asan/libnmoe.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(LDLIBS)

build/asan/fuzz/replay_%: build/asan/tests/fuzz/fuzz_%.o build/asan/tests/fuzz/replay_main.o build/asan/libnmoe.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(LDLIBS)

# ThreadSanitizer build of the library and the threaded pipelines' tests.
build/tsan/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -O1 $(TSAN) -c $< -o $@

build/tsan/libnmoe.a: $(TSAN_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/tsan/tests/%: build/tsan/tests/unit/%.o build/tsan/libnmoe.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(TSAN) -o $@ $^ $(LDLIBS)

unit: $(UNIT) $(ASAN_UNIT) $(REPLAY) $(TESTTOOLS) $(TSAN_UNIT)

build/testtools/%: $(BUILD)/tests/tools/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# The whole suite: unit tests (plain and sanitized), fuzz regressions, CLI tests
# (tests/tsan/threads.sh among them runs the ThreadSanitizer tests), oracle tests. tests/run prints the closing "N passed, N failed" line.
check: all unit
	@tests/run $(UNIT) $(ASAN_UNIT) $(REPLAY) $(sort $(wildcard tests/cli/*.sh)) tests/tsan/threads.sh \
	  $(sort $(wildcard tests/oracle/*.sh))

# GPU checks (run on a machine with a GPU): make CUDA=1 check-gpu
check-gpu: all
	@tests/run $(GPU_TESTS)

# dist_nccl and its test with NCCL and the CUDA runtime replaced by an MPI double on host
# memory (tests/gpu/nccl_shim): the module's bookkeeping and the test's checks run under
# mpirun on any machine (tests/cli/nccl_shim.sh). Says nothing about NCCL or a GPU.
# CPU build only (make without CUDA=1: the CUDA library holds the real module).
SHIM_DIR := build/nccl-shim
$(SHIM_DIR)/test_nccl_dist: tests/gpu/test_nccl_dist.c kernels/cuda/dist_nccl.cu kernels/cuda/dist_nccl.h \
    $(wildcard tests/gpu/nccl_shim/*) $(LIB)
	@mkdir -p $(@D)
	g++ -std=c++17 -O1 -g $(WARN) -Itests/gpu/nccl_shim $(CPPFLAGS) -x c++ -c kernels/cuda/dist_nccl.cu -o $(@D)/dist_nccl.o
	$(CC) -Itests/gpu/nccl_shim $(CPPFLAGS) -std=c11 -O1 -g $(WARN) -c tests/gpu/test_nccl_dist.c -o $(@D)/test_nccl_dist.o
	$(CC) -Itests/gpu/nccl_shim $(CPPFLAGS) -std=c11 -O1 -g $(WARN) -c tests/gpu/nccl_shim/nccl_shim.c -o $(@D)/nccl_shim.o
	$(CC) $(CFLAGS) -o $@ $(@D)/test_nccl_dist.o $(@D)/dist_nccl.o $(@D)/nccl_shim.o $(LIB) $(LDLIBS) -lstdc++

# libFuzzer targets, built with clang; crashes land in build/fuzz/<name>/crashes.
# The library is instrumented once (fuzzer-no-link) and shared by every target.
FUZZ_CFLAGS := -std=c11 -g -O1 -fopenmp $(CPPFLAGS) -Wall -Wextra -Werror -Wno-pass-failed
FUZZ_SAN := -fsanitize=address,undefined
FUZZ_OBJ := $(LIB_SRC:%.c=build/fuzz/obj/%.o)
build/fuzz/obj/%.o: %.c
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c $< -o $@

build/fuzz/libnmoe.a: $(FUZZ_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c build/fuzz/libnmoe.a
	clang $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $< build/fuzz/libnmoe.a $(LDLIBS)

fuzz: $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)
	@for f in $^; do n=$${f##*/fuzz_}; mkdir -p build/fuzz/$$n/corpus build/fuzz/$$n/crashes; \
	  echo "fuzz $$n for $(FUZZ_SECONDS)s"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=build/fuzz/$$n/crashes/ build/fuzz/$$n/corpus \
	    $$( [ -d tests/fuzz/seeds/$$n ] && echo tests/fuzz/seeds/$$n ) 2>build/fuzz/$$n/log || \
	    { echo "fuzz $$n: crash, see build/fuzz/$$n/"; exit 1; }; done

bench: all
	@for b in bench/*.sh; do echo "== $$b"; bash $$b || exit 1; done

demo: all
	@bash pipelines/demo.sh

deps:
	@bash .ci/install-deps

man-check: all
	@NMOE_TOP=$(CURDIR) bash tests/cli/man_matches_help.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man7
	install -m 755 $(TOOLS) $(DESTDIR)$(PREFIX)/bin/
	for s in 1 5 7; do for f in man/man$$s/*.$$s; do [ -e "$$f" ] && install -m 644 $$f $(DESTDIR)$(PREFIX)/share/man/man$$s/; done; done; true
	# Named tokenizers (gpt2, r50k_base, cl100k_base, o200k_base) resolve from <bindir>/../share/nmoe.
	install -d $(DESTDIR)$(PREFIX)/share/nmoe/tokenizers/gpt2
	install -m 644 data/tokenizers/*.tiktoken data/tokenizers/*.meta.json $(DESTDIR)$(PREFIX)/share/nmoe/tokenizers/
	install -m 644 data/tokenizers/gpt2/* $(DESTDIR)$(PREFIX)/share/nmoe/tokenizers/gpt2/

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)
