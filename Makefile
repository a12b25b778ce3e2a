# bpfskel — the two commands a newcomer needs are `make demo` and `make test`.
# Both do their own set-up (Debian packages, pip install, BPF build).

CLANG      ?= $(or $(BPFSKEL_CLANG),clang-19)
BPFTOOL    ?= bpftool
PYTHON     ?= python3
BUILD      ?= build
ARCH_INC   ?= /usr/include/$(shell uname -m)-linux-gnu
BPF_CFLAGS ?= -g -O2 -target bpf -I$(ARCH_INC) -I$(BUILD) -Wall -Wno-unused-variable
APT_PKGS   := clang-19 libbpf-dev bpftool gcc make iproute2

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(BUILD)/%.bpf.o,$(BPF_SRCS))

.PHONY: all deps sysdeps pydeps bpf tools tool-skels test test-kernels demo bench bench-peers bench-readme lint mounts clean
all: bpf

# Idempotent: installs the Debian packages only when one is missing.
sysdeps:
	@missing=""; for p in $(APT_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

# Skipped when this checkout is already what `import bpfskel` finds and the
# test tools import: no network needed then (e.g. `make demo` in the image).
pydeps:
	@(cd / && $(PYTHON) -c "import bpfskel, sys, pytest, mypy, ruff, hatchling, prometheus_client, yaml; \
	  sys.exit(bpfskel.__file__ != '$(CURDIR)/bpfskel/__init__.py')") 2>/dev/null \
	  || $(PYTHON) -m pip install -q -e '.[test]'

deps: sysdeps pydeps

# tracefs (tracepoints) and bpffs (pinning), when not mounted yet.
mounts:
	@mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing || true
	@mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf || true

$(BUILD):
	mkdir -p $(BUILD)

# vmlinux.h is generated from the running kernel, never committed.
$(BUILD)/vmlinux.h: | $(BUILD)
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

# A program that includes vmlinux.h gets it generated first.
$(BUILD)/%.bpf.o: bpf/%.bpf.c | $(BUILD)
	@if grep -q '"vmlinux.h"' $<; then $(MAKE) --no-print-directory $(BUILD)/vmlinux.h; fi
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

bpf: $(BPF_OBJS)

# bpfskel.tools: each bpfskel/tools/bpf/<tool>.bpf.c becomes <tool>_skel.py
# next to it, object embedded.  The modules are generated, never committed:
# bpfskel's wheel build runs the same [tool.bpfskel] build through the hatch
# hook (hatch_build.py), and `pip install -e .` too.  This is that build for a
# checkout used through PYTHONPATH.  It always runs: bpfskel's cache knows
# better than make what a module depends on (headers, clang, libbpf, the
# generator), an unchanged source costs a few ms and its module is not
# rewritten.
tool-skels:
	$(PYTHON) -m bpfskel build --project .
bpfskel/tools/syscall_names.py: tools/gen_syscall_names.py
	$(PYTHON) tools/gen_syscall_names.py
tools: tool-skels bpfskel/tools/syscall_names.py

test: deps mounts
	$(MAKE) --no-print-directory bpf tools
	$(PYTHON) -m pytest -q

# The kernel matrix: the hook-marked tests (kprobe, kprobe.multi, fentry, LSM)
# and a smoke test in a VM of each Debian kernel (tools/vmrun fetches them).
KERNELS ?= 6.1 6.12
test-kernels: deps mounts
	$(MAKE) --no-print-directory bpf tools
	$(PYTHON) tools/test_kernels.py $(KERNELS)

# A generated module from its object (the pattern the README recommends).
$(BUILD)/%_skel.py: $(BUILD)/%.bpf.o
	$(PYTHON) -m bpfskel gen $< -o $@

# The demo: syslat for a few seconds on a built-in workload.
demo: deps mounts
	$(MAKE) --no-print-directory bpf $(BUILD)/syslat_skel.py
	$(PYTHON) examples/syslat.py --workload --duration 4 --pause-demo --slow-us 20000 \
	  --max-events 5

# Lint and type-check the package, the examples and the generated demo modules.
lint: deps
	$(MAKE) --no-print-directory bpf tools $(BUILD)/syslat_skel.py $(BUILD)/minimal_skel.py \
	  $(BUILD)/profile_skel.py $(BUILD)/opensnoop_skel.py
	$(PYTHON) -m bpfskel build --project examples/getpid_counter
	$(PYTHON) -m ruff check bpfskel examples bench tests tools tools/vmrun hatch_build.py
	$(PYTHON) -m mypy --strict bpfskel hatch_build.py examples tools/vmrun tools/test_kernels.py tools/gen_syscall_names.py \
	  $(BUILD)/syslat_skel.py $(BUILD)/minimal_skel.py $(BUILD)/profile_skel.py \
	  $(BUILD)/opensnoop_skel.py

# Benchmarks: a table of measured ratios, also written to build/bench.json.
# The peer rows (BCC's Python, pylibbpf) need `make bench-peers` once.
bench: deps mounts
	$(MAKE) --no-print-directory bpf
	$(PYTHON) bench/run.py

bench-peers:
	PYTHON=$(PYTHON) sh bench/peers.sh

# The README's benchmark table, rewritten from the last build/bench.json.
bench-readme:
	$(PYTHON) bench/readme.py

clean:
	rm -rf $(BUILD)
