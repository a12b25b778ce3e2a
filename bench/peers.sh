#!/bin/sh
# Install the peers bench/bench_peers.py compares against, on Debian 12:
#   * BCC's Python (python3-bpfcc).  BCC compiles C at run time against the
#     running kernel's headers; Debian has none for a foreign kernel, so the
#     newest Debian 6.1 headers are linked in as /lib/modules/$(uname -r)/
#     build (the arch part) and source (the -common part).  Its package lands
#     in /usr/lib/python3/dist-packages, which bench_peers.py appends to the
#     path of whichever python3 runs the benchmarks (bcc is pure Python over
#     libbcc.so).
#   * pylibbpf, built from its sdist (a pybind11 extension that builds its own
#     libbpf.a; it needs g++, cmake, libelf-dev, zlib1g-dev), installed with
#     --user for $PYTHON, with its one dependency (llvmlite).
# Not part of CI: only `make bench` uses them.  Idempotent.
set -eu
PYTHON=${PYTHON:-python3}
KREL=$(uname -r)

if ! dpkg -s python3-bpfcc >/dev/null 2>&1; then
	apt-get install -y python3-bpfcc
fi
if [ ! -e "/lib/modules/$KREL/build/include" ] && [ ! -e "/lib/modules/$KREL/build/Makefile" ]; then
	hdr=$(apt-cache search --names-only '^linux-headers-6\.1\.0-[0-9]+-amd64$' |
	      awk '{print $1}' | sort -V | tail -n 1)
	[ -n "$hdr" ] || { echo "peers.sh: no linux-headers-6.1.0-*-amd64 package" >&2; exit 1; }
	common=${hdr%-amd64}-common
	apt-get install -y "$hdr" "$common"
	mkdir -p "/lib/modules/$KREL"
	ln -sfn "/usr/src/$hdr" "/lib/modules/$KREL/build"
	ln -sfn "/usr/src/$common" "/lib/modules/$KREL/source"
fi

if ! "$PYTHON" -c 'import pylibbpf' 2>/dev/null; then
	dpkg -s g++ cmake libelf-dev zlib1g-dev >/dev/null 2>&1 ||
		apt-get install -y g++ cmake libelf-dev zlib1g-dev
	tmp=$(mktemp -d)
	# only pylibbpf from source: its build tools (cmake, ninja, pybind11) as wheels
	"$PYTHON" -m pip download --no-deps --no-binary pylibbpf -d "$tmp" pylibbpf
	"$PYTHON" -m pip install --user llvmlite
	"$PYTHON" -m pip install --user --no-deps "$tmp"/pylibbpf-*.tar.gz
	rm -rf "$tmp"
fi
"$PYTHON" - <<'PY'
import sys
sys.path.append("/usr/lib/python3/dist-packages")
import bcc, pylibbpf
bcc.BPF(text="int f(void *ctx) { return 0; }").cleanup()
print("peers.sh: BCC", bcc.__version__, "and pylibbpf are ready")
PY
