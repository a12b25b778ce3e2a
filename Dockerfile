# bpfskel demo image (Debian 12).  BPF needs the host kernel, so run it with
# the two capabilities BPF tracing needs instead of --privileged (Docker 20.10+
# knows them), and the host's BTF and tracefs:
#   docker build -t bpfskel .
#   docker run --rm --cap-add BPF --cap-add PERFMON \
#     -v /sys/kernel/btf:/sys/kernel/btf:ro \
#     -v /sys/kernel/tracing:/sys/kernel/tracing:ro \
#     bpfskel
# As an agent: add `-p 9435:9435 bpfskel python3 examples/syslat.py --prometheus :9435 --json`.
# XDP/tc programs also need --cap-add NET_ADMIN; kernel symbols need --cap-add SYSLOG.
FROM debian:12

ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      clang-19 libbpf-dev libbpf1 bpftool gcc make iproute2 python3 python3-pip python3-venv \
      linux-libc-dev ca-certificates \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . /src
# A venv keeps pip away from Debian's Python (PEP 668).
RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir -e '.[test]'
ENV PATH=/opt/venv/bin:$PATH PYTHON=/opt/venv/bin/python

# `make demo` re-checks the packages (already there), builds the BPF objects,
# generates the skeleton and runs the example.
CMD ["make", "demo", "PYTHON=/opt/venv/bin/python"]
