"""bpfskel.stats: struct bpf_prog_info as gcc lays it out from linux/bpf.h,
and run counts that match the runs the test made (BPF_PROG_TEST_RUN with
``repeat``), counted only while statistics are enabled."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bpfskel import _libbpf
from bpfskel.stats import enable_stats, program_stats, stats_enabled

from bpfenv import generated_module, requires_bpf

FIELDS = ["id", "name", "load_time", "nr_map_ids", "netns_dev", "btf_id", "prog_tags",
          "run_time_ns", "run_cnt", "recursion_misses", "verified_insns", "attach_btf_id"]


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not found")
def test_prog_info_layout_matches_the_kernel_header(tmp_path: Path) -> None:
    src = tmp_path / "info.c"
    src.write_text("#include <stdio.h>\n#include <stddef.h>\n#include <linux/bpf.h>\n"
                   "int main(void) {\n"
                   '  printf("%zu\\n", sizeof(struct bpf_prog_info));\n'
                   + "".join(f'  printf("%zu\\n", offsetof(struct bpf_prog_info, {f}));\n'
                             for f in FIELDS) + "}\n")
    exe = tmp_path / "info"
    subprocess.run(["gcc", str(src), "-o", str(exe)], check=True)
    size, *offsets = (int(x) for x in subprocess.run([str(exe)], capture_output=True,
                                                     text=True, check=True).stdout.split())
    assert ctypes.sizeof(_libbpf.ProgInfo) == size
    assert [getattr(_libbpf.ProgInfo, f).offset for f in FIELDS] == offsets


@pytest.fixture(scope="module")
def xdp(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return generated_module("xdp_filter", tmp_path_factory)


@requires_bpf
def test_run_counts_are_the_runs_made(xdp: Any) -> None:
    frame = bytes(64)  # not IPv4: XDP_PASS
    with xdp.open_and_load() as skel:
        prog = skel.progs.xdp_classify
        st = program_stats(prog)
        assert st.name == "xdp_classify" and st.id > 0
        if not stats_enabled():  # nobody times programs: nothing counts
            prog.test_run(frame, repeat=10)
            assert program_stats(prog).run_cnt == 0
        with enable_stats():
            assert stats_enabled()
            before = program_stats(prog.fd)
            prog.test_run(frame, repeat=100)
            after = program_stats(prog.fd)
        assert after.run_cnt - before.run_cnt == 100
        assert after.run_time_ns > before.run_time_ns
