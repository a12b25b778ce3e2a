"""bpfskel.sym on stacks the kernel collected: a CPU-clock perf event samples
a gcc-built program (PIE and non-PIE, with a shared library), a tracepoint
records a kernel stack, and a build-id stack outlives its process.

Ground truth: ``nm``/``readelf`` and ``/proc/PID/maps`` for user frames
(tests/symenv.py), ``/proc/kallsyms`` parsed here for kernel frames.
Sources: bpf/profile.bpf.c, bpf/symtest.bpf.c.
"""

from __future__ import annotations

import bisect
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

import pytest
from symenv import CHAIN, NmTable, build_target, expected_names, file_vaddr, start_target

from bpfskel import sym
from bpfskel.sym.elf import read_elf
from bpfskel.sym.sampling import open_cpu_clock

from bpfenv import generated_module, requires_bpf

pytestmark = requires_bpf


@pytest.fixture(scope="module")
def profile_mod(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return generated_module("profile", tmp_path_factory)


@pytest.fixture(scope="module")
def symtest_mod(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return generated_module("symtest", tmp_path_factory)


Stack = Tuple[int, List[int], Optional[List[Tuple[bytes, int]]]]  # count, addrs, build-id frames


def sample(mod: Any, pid: int, seconds: float = 1.0, *,
           build_ids: bool = False) -> List[Stack]:
    """Sample ``pid`` at 997 Hz; every distinct user stack with its count."""
    with mod.open() as skel:
        skel.rodata.target_tgid = pid
        skel.rodata.build_id_stacks = int(build_ids)
        skel.load()
        try:
            fd = open_cpu_clock(997, pid=pid)
        except OSError as e:
            pytest.skip(f"perf_event_open(CPU clock) failed: {e}")
        with skel.progs.do_sample.attach_perf_event(fd):
            deadline = time.monotonic() + 10
            while skel.bss.samples < 200 * seconds and time.monotonic() < deadline:
                time.sleep(0.1)
        out: List[Stack] = []
        for key, count in skel.maps.counts.items():
            if key.user_stack < 0:
                continue
            addrs = [a for a in skel.maps.stacks[key.user_stack] if a]
            bids = None
            if build_ids and key.build_id_stack >= 0:
                # StackTraceMap decodes BPF_F_STACK_BUILD_ID frames; build_id is
                # None where the kernel fell back to a raw address
                bids = [(f.build_id, f.offset)
                        for f in skel.maps.build_id_stacks_map.stack(key.build_id_stack)
                        if f.build_id is not None]
            out.append((count, addrs, bids))
    assert out, "no user stack was sampled"
    return out


@pytest.mark.parametrize("pie", [True, False], ids=["pie", "nonpie"])
def test_sampled_user_frames_match_nm(profile_mod: Any, tmp_path: Path, pie: bool) -> None:
    prog = build_target(tmp_path, pie=pie)
    proc = start_target([str(prog)])
    try:
        stacks = sample(profile_mod, proc.pid)
        s = sym.Symbolizer()
        checked = 0
        chains: List[List[str]] = []
        leaf_counts: Dict[str, int] = {}
        for count, addrs, _ in stacks:
            frames = s.symbolize(proc.pid, addrs)
            for i, (addr, frame) in enumerate(zip(addrs, frames)):
                # a return address points after the call: look up addr - 1 in nm
                path, names = expected_names(proc.pid, addr if i == 0 else addr - 1)
                if path.startswith("["):
                    continue
                if names:
                    assert frame is not None and frame.name in names, (hex(addr), names, frame)
                    assert frame.module == path
                    checked += 1
                else:
                    assert frame is None, (hex(addr), path, frame)
            names_of = [f.name if f else "?" for f in frames]
            chains.append(names_of)
            leaf_counts[names_of[0]] = leaf_counts.get(names_of[0], 0) + count
        assert checked >= 10
        assert any(CHAIN == [n for n in c if n in CHAIN] for c in chains), chains[:5]
        hot = max(leaf_counts, key=lambda k: leaf_counts[k])
        assert hot in ("lib_static_spin", "static_spin"), leaf_counts
    finally:
        proc.kill()
        proc.wait()


def test_build_id_stacks_resolve_after_the_process_exits(profile_mod: Any,
                                                         tmp_path: Path) -> None:
    prog = build_target(tmp_path / "b", pie=True)
    lib = prog.parent / "libsymtest.so"
    proc = start_target([str(prog)])
    try:
        stacks = sample(profile_mod, proc.pid, build_ids=True)
    finally:
        proc.kill()
        proc.wait()
    frames = [f for _, _, bids in stacks for f in bids or []]
    if not frames:
        pytest.skip("the kernel gave no valid build-id frame (build-id pages not resident)")
    ids = {read_elf(str(p)).build_id: p for p in (prog, lib)}
    ours = [f for f in frames if f[0] in ids]
    assert ours, "no frame carries the build-id of the test program or its library"
    # a symbolizer that never saw the process: debug files by build-id
    debug_root = tmp_path / "debug"
    for bid, path in ids.items():
        assert bid
        dst = debug_root / ".build-id" / bid[:1].hex() / (bid[1:].hex() + ".debug")
        dst.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["objcopy", "--only-keep-debug", str(path), str(dst)], check=True)
    by_debug = sym.Symbolizer(debug_dirs=[str(debug_root)]).symbolize_build_id(ours)
    by_file = sym.Symbolizer(debug_dirs=[])
    by_file.add_files([str(prog), str(lib)])
    for (bid, offset), a, b in zip(ours, by_debug, by_file.symbolize_build_id(ours)):
        path = str(ids[bid])
        names = NmTable(path).names_at(file_vaddr(path, offset) - 1)  # return addresses
        names |= NmTable(path).names_at(file_vaddr(path, offset))
        assert a and a.name in names and b and b.name in names, (hex(offset), names, a, b)
        assert b.module == path
    unknown = sym.Symbolizer(debug_dirs=[str(tmp_path / "none")])
    assert unknown.symbolize_build_id(ours[:1]) == [None]


def test_profile_sees_own_process_cold(profile_mod: Any) -> None:
    """A Python interpreter's own frames, first symbolization of the pid."""
    code = "import time\nend = time.time() + 30\nwhile time.time() < end: pass\n"
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        time.sleep(0.2)
        stacks = sample(profile_mod, proc.pid, 0.5)
        s = sym.Symbolizer()
        names = {f.name for _, addrs, _ in stacks for f in s.symbolize(proc.pid, addrs) if f}
        assert names & {"_PyEval_EvalFrameDefault", "PyEval_EvalCode", "Py_RunMain"}, names
    finally:
        proc.kill()
        proc.wait()


# -- kernel ------------------------------------------------------------------------------------

class Kallsyms:
    """``/proc/kallsyms`` text symbols, parsed independently of bpfskel."""

    def __init__(self) -> None:
        by_addr: Dict[int, Set[str]] = {}
        with open("/proc/kallsyms") as f:
            for line in f:
                parts = line.split()
                if parts[1] in "tTwW":
                    by_addr.setdefault(int(parts[0], 16), set()).add(parts[2])
        self.addrs = sorted(by_addr)
        self.by_addr = by_addr

    def at(self, addr: int) -> Tuple[Set[str], int]:
        i = bisect.bisect_right(self.addrs, addr) - 1
        return self.by_addr[self.addrs[i]], addr - self.addrs[i]


@pytest.fixture
def symtest(symtest_mod: Any) -> Iterator[Any]:
    with symtest_mod.open() as skel:
        skel.rodata.target_tgid = os.getpid()
        skel.load()
        skel.attach()
        yield skel


def test_tracepoint_kernel_stack_matches_kallsyms(symtest: Any) -> None:
    os.getppid()
    assert symtest.data.kernel_stack >= 0, f"bpf_get_stackid: {symtest.data.kernel_stack}"
    addrs = [a for a in symtest.maps.kstacks[symtest.data.kernel_stack] if a]
    assert len(addrs) >= 3
    frames = sym.Symbolizer().symbolize_kernel(addrs)
    truth = Kallsyms()
    for addr, frame in zip(addrs, frames):
        names, offset = truth.at(addr)
        assert frame is not None and frame.name in names and frame.offset == offset, \
            (hex(addr), names, offset, frame)
        assert frame.module == "vmlinux"
    assert "do_syscall_64" in {f.name for f in frames if f}


def test_bpf_program_symbols(symtest: Any) -> None:
    if shutil.which("bpftool") is None:
        pytest.skip("bpftool not found (make sysdeps installs it)")
    progs = json.loads(subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True,
                                      text=True, check=True).stdout)
    tags = {p["tag"] for p in progs if p.get("name") == "on_getppid"}
    ks = sym.KernelSymbols()
    found = []
    for tag in tags:
        name = f"bpf_prog_{tag}_on_getppid"
        addr = ks.address_of(name)
        if addr is not None:
            frame = ks.resolve(addr + 4)
            assert frame == sym.Frame(name, 4, "bpf")
            found.append(name)
    assert found, f"no bpf_prog_<tag>_on_getppid in /proc/kallsyms for tags {tags}"


def test_module_symbols_carry_the_module_name() -> None:
    mods = {}
    with open("/proc/kallsyms") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 4 and parts[1] in "tT" and parts[3] != "[bpf]":
                mods.setdefault(parts[3].strip("[]"), (int(parts[0], 16), parts[2]))
    if not mods:
        pytest.skip("no kernel module is loaded")
    ks = sym.KernelSymbols()
    for mod, (addr, name) in list(mods.items())[:20]:
        frame = ks.resolve(addr)
        assert frame is not None and frame.module == mod and frame.offset == 0
        assert frame.name == name or ks.address_of(frame.name) == addr


def test_hidden_kernel_addresses_raise_one_clear_error(tmp_path: Path) -> None:
    zeros = tmp_path / "kallsyms"
    zeros.write_text("0000000000000000 T _text\n0000000000000000 t do_one\n")
    with pytest.raises(sym.KernelAddressesHiddenError, match="CAP_SYSLOG") as ei:
        sym.KernelSymbols(str(zeros))
    assert isinstance(ei.value, PermissionError)
    # the real file, read without CAP_SYSLOG
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv not found")
    code = ("from bpfskel import sym\n"
            "try:\n    sym.KernelSymbols()\nexcept sym.KernelAddressesHiddenError as e:\n"
            "    print('hidden:', e)\nelse:\n    print('visible')\n")
    out = subprocess.run(["setpriv", "--inh-caps=-syslog", "--bounding-set=-syslog",
                          sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=str(Path(__file__).parent.parent)))
    assert out.returncode == 0, out.stderr
    with open("/proc/sys/kernel/perf_event_paranoid") as f:
        paranoid = int(f.read())
    with open("/proc/sys/kernel/kptr_restrict") as f:
        restrict = int(f.read())
    if restrict == 0 and paranoid <= 1:
        assert out.stdout.startswith("visible")  # the kernel shows them to perf users
    else:
        assert out.stdout.startswith("hidden:") and "kptr_restrict" in out.stdout


def test_kallsyms_file_with_modules_and_bpf_programs(tmp_path: Path) -> None:
    """The format of /proc/kallsyms with modules loaded (none is on this host)."""
    path = tmp_path / "kallsyms"
    path.write_text(
        "ffffffff81000000 T _stext\n"
        "ffffffff81000100 t do_thing\n"
        "ffffffff81000200 D some_data\n"
        "ffffffff81000300 T last_core\n"
        "ffffffffa0000000 t bpf_prog_0123456789abcdef_handler\t[bpf]\n"
        "ffffffffc0010000 t ext4_fill_super\t[ext4]\n"
        "ffffffffc0010400 T ext4_iget\t[ext4]\n"
        "ffffffffc0200000 t nf_hook\t[nf_tables]\n")
    ks = sym.KernelSymbols(str(path))
    assert ks.resolve(0xffffffff81000250) == sym.Frame("do_thing", 0x150, "vmlinux")
    assert ks.resolve(0xffffffffa0000010) == sym.Frame(
        "bpf_prog_0123456789abcdef_handler", 0x10, "bpf")
    assert ks.resolve(0xffffffffc0010404) == sym.Frame("ext4_iget", 4, "ext4")
    assert ks.resolve(0xffffffffc0010010) == sym.Frame("ext4_fill_super", 0x10, "ext4")
    # past the last symbol of a module: not blamed on it from far away
    assert ks.resolve(0xffffffffa0000000 + sym.kernel.LAST_SYMBOL_SPAN) is None
    assert ks.resolve(0xffffffff80000000) is None


def test_kallsyms_file_out_of_order(tmp_path: Path) -> None:
    """Lines are sorted by address when the file is not (and non-text symbols dropped)."""
    path = tmp_path / "kallsyms"
    path.write_text(
        "ffffffff81000300 T last_core\n"
        "ffffffff81000000 T _stext\n"
        "ffffffff81000200 D some_data\n"
        "ffffffff81000100 t do_thing\n")
    ks = sym.KernelSymbols(str(path))
    assert len(ks) == 3
    assert ks.resolve_many([0xffffffff81000250, 0xffffffff81000010, 0xffffffff81000300]) == [
        sym.Frame("do_thing", 0x150, "vmlinux"), sym.Frame("_stext", 0x10, "vmlinux"),
        sym.Frame("last_core", 0, "vmlinux")]
