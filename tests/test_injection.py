"""Hostile names in an object never become code in the generated module.

Two kinds of hostile text reach the generator:

* **ELF section names**, which clang takes verbatim from ``SEC("...")``:
  quotes, triple quotes, backslashes and newlines followed by Python code, in
  ``.data.X``, ``.rodata.X``, ``.bss.X`` and a program's section;
* **BTF names** (struct/enum type, member, variable, enumerator, typedef, map
  and program names).  C identifiers cannot hold such text, so the objects
  are compiled with placeholder identifiers and the placeholders are then
  patched, byte for byte with the same length, in the whole ELF file (the
  ``.BTF`` string table, the symbol table libbpf matches variables against,
  and the DWARF strings).

Every payload, if it ever ran, would create a file in a sentinel directory.
For each object the module is generated, checked as text, imported and opened
(and loaded when the kernel allows it); the sentinel directory must stay
empty, and the hostile text may appear only inside string literals.
"""

from __future__ import annotations

import ast
import importlib.util
import io
import struct
import tokenize
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

import bpfskel
from bpfskel.gen.generate import generate
from bpfskel.names import identifier, section_ident

from bpfenv import bpf_unavailable_reason, compile_bpf
from elfread import ElfFile

BTF_MAGIC = 0xEB9F


def payload(sentinels: Path, tag: str) -> str:
    """Python code that creates ``sentinels/<tag>`` if it is ever executed.

    The command is hex-encoded so that the payload has no ``/`` and survives
    being part of a file name."""
    command = f"touch {sentinels}/{tag}".encode().hex()
    return f"__import__('os').system(bytes.fromhex('{command}').decode())"


def c_string(text: str) -> str:
    """``text`` as a C string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") \
        .replace("\r", "\\r").replace("\x0c", "\\f") + '"'


def hostile_sections(sentinels: Path) -> Dict[str, str]:
    """Variable name -> hostile section it lives in (one per kind of section)."""
    return {
        "v_quotes": ".data.a'b\"c\n" + payload(sentinels, "sec_quotes"),
        "v_triple": ".data.x'''\"\"\"\\\n" + payload(sentinels, "sec_triple") + "#",
        "v_rodata": ".rodata.q\\'\n" + payload(sentinels, "sec_rodata") + "\n'''",
        "v_bss": '.bss.z"""\r\n' + payload(sentinels, "sec_bss") + '\n"""',
    }


def hostile_names(sentinels: Path, kinds: List[str]) -> Dict[str, str]:
    """Placeholder identifier -> hostile name of the same length, per kind.

    Each hostile name breaks out of a different quoting or comment context."""
    shapes = {
        "type": 'T"""\n{code}\n"""',
        "member": "m'\n{code}#",
        "var": "v\\\n{code}",
        "enumerator": "E'''\n{code}\n'''",
        "typedef": "t\r\n{code}#",
        "enum": "e\x0c\n{code}",
        "map": 'M"\n{code}',
        "prog": "P)\n{code}\n#",
    }
    names = {}
    for kind in kinds:
        hostile = shapes[kind].format(code=payload(sentinels, f"btf_{kind}"))
        prefix = f"QQ{kind}_"
        names[prefix + "x" * (len(hostile) - len(prefix))] = hostile
    return names


def placeholder(names: Dict[str, str], kind: str) -> str:
    return next(p for p in names if p.startswith(f"QQ{kind}_"))


def btf_strings(data: bytes) -> bytes:
    """The string section of the object's ``.BTF``."""
    btf = ElfFile(bytes(data)).section_data(".BTF")
    magic, _version, _flags, hdr_len, _toff, _tlen, str_off, str_len = \
        struct.unpack_from("<HBBIIIII", btf)
    assert magic == BTF_MAGIC
    return btf[hdr_len + str_off: hdr_len + str_off + str_len]


def patch(data: bytes, names: Dict[str, str]) -> bytes:
    """Replace every placeholder by its hostile name throughout the object."""
    for old, new in names.items():
        assert len(old) == len(new.encode())
        assert old.encode() + b"\0" in btf_strings(data), f"{old} is not a BTF name"
        data = data.replace(old.encode(), new.encode())
    for new in names.values():
        assert new.encode() + b"\0" in btf_strings(data)
    return data


def outside_strings(text: str) -> str:
    """Every token of the module that is not a string literal (comments included)."""
    toks = tokenize.generate_tokens(io.StringIO(text).readline)
    return " ".join(t.string for t in toks if t.type != tokenize.STRING)


def check_text(text: str, hostile: List[str]) -> None:
    """The module is pure ASCII, no hostile text shows up raw anywhere, and no
    fragment of it with a quote, bracket or backslash is outside a string."""
    assert text.isascii()
    code = outside_strings(text)
    for h in hostile:
        assert h not in text, f"raw hostile text in the module: {h!r}"
        for piece in h.replace("\r", "\n").replace("\x0c", "\n").split("\n"):
            if len(piece) >= 3 and not piece.replace("_", "a").replace(".", "a").isalnum():
                assert piece not in code, f"hostile fragment outside strings: {piece!r}"
    tree = ast.parse(text)
    for node in ast.walk(tree):
        assert not (isinstance(node, ast.Name) and node.id == "__import__"), "injected call"
        assert not (isinstance(node, ast.Attribute) and node.attr == "system"), "injected call"


def load_module(path: Path, text: str) -> Any:
    path.write_text(text, encoding="ascii")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture()
def sentinels(tmp_path: Path) -> Path:
    d = tmp_path / "sentinels"
    d.mkdir()
    return d


def data_object(tmp_path: Path, sentinels: Path) -> Tuple[bytes, Dict[str, str], Dict[str, str]]:
    """Hostile section names, a hostile program section and hostile BTF type,
    member, variable, enumerator and typedef names; loadable (the kernel
    rejects the BTF, libbpf then loads without it)."""
    secs = hostile_sections(sentinels)
    names = hostile_names(sentinels, ["type", "member", "var", "enumerator", "typedef", "enum"])
    ph = {kind: placeholder(names, kind) for kind in
          ("type", "member", "var", "enumerator", "typedef", "enum")}
    globals_ = "\n".join(
        f"{'const volatile ' if '.rodata' in sec else ''}__u32 {var} "
        f"__attribute__((section({c_string(sec)}))){'' if '.bss' in sec else ' = 7'};"
        for var, sec in secs.items())
    src = f"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {ph['type']} {{ __u32 {ph['member']}; __u32 plain; }};
enum {ph['enum']} {{ {ph['enumerator']} = 5 }};
typedef __u16 {ph['typedef']};

struct {ph['type']} {ph['var']} = {{ 0x1234, 0x5678 }};
enum {ph['enum']} e_var = {ph['enumerator']};
{ph['typedef']} td_var = 9;
{globals_}

SEC({c_string("tp/a'b" + chr(10) + payload(sentinels, "prog_section"))})
int tp_prog(void *ctx) {{ return 0; }}

SEC("syscall")
int run(void *ctx)
{{
	v_bss = {ph['var']}.{ph['member']} + e_var + td_var + v_quotes + v_triple + v_rodata;
	return 0;
}}

char LICENSE[] SEC("license") = "GPL";
"""
    (tmp_path / "hostile_data.bpf.c").write_text(src)
    obj = compile_bpf(tmp_path / "hostile_data.bpf.c", tmp_path / "hostile_data.bpf.o")
    return patch(obj.read_bytes(), names), secs, names


def test_hostile_data_object(tmp_path: Path, sentinels: Path) -> None:
    data, secs, names = data_object(tmp_path, sentinels)
    text = generate(data, "hostile_data.bpf.o", "hostile_data")
    hostile = list(secs.values()) + list(names.values())
    check_text(text, hostile)
    for sec in secs.values():
        assert ascii(sec) in text, "a section name is emitted as an escaped string"

    mod = load_module(tmp_path / "hostile_data_skel.py", text)
    by_kind = {k: names[placeholder(names, k)] for k in
               ("type", "member", "var", "enumerator", "typedef", "enum")}
    # the patched names did reach the generator, as identifiers
    struct_cls = getattr(mod.types, identifier(by_kind["type"]))
    assert identifier(by_kind["member"]) in [f[0] for f in struct_cls._fields_]
    enum_cls = getattr(mod.types, identifier(by_kind["enum"]))
    assert getattr(enum_cls, identifier(by_kind["enumerator"])) == 5
    assert getattr(mod.types, identifier(by_kind["typedef"])) is not None
    assert {s for s, _i, _c in mod.Skeleton._sections_} >= set(secs.values())
    var = identifier(by_kind["var"])

    with mod.open() as skel:
        g = getattr(skel.data, var)
        assert (getattr(g, identifier(by_kind["member"])), g.plain) == (0x1234, 0x5678)
        for v, sec in secs.items():
            view = getattr(skel, section_ident(sec))
            assert getattr(view, v) == (0 if ".bss" in sec else 7)
        if bpf_unavailable_reason() is None:
            skel.load()
            assert skel.progs.run.test_run().retval == 0
            bss = getattr(skel, section_ident(secs["v_bss"]))
            assert bss.v_bss == 0x1234 + 5 + 9 + 7 + 7 + 7
    assert sorted(p.name for p in sentinels.iterdir()) == []


def test_hostile_map_and_program_names(tmp_path: Path, sentinels: Path) -> None:
    """Map and program names go to the kernel, which refuses these, so this
    object is opened (and its load, if it fails, fails cleanly)."""
    names = hostile_names(sentinels, ["map", "prog"])
    src = f"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {{
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
}} {placeholder(names, 'map')} SEC(".maps");

SEC("syscall")
int {placeholder(names, 'prog')}(void *ctx)
{{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(&{placeholder(names, 'map')}, &key);

	if (v)
		*v += 1;
	return 0;
}}

char LICENSE[] SEC("license") = "GPL";
"""
    (tmp_path / "hostile_maps.bpf.c").write_text(src)
    obj = compile_bpf(tmp_path / "hostile_maps.bpf.c", tmp_path / "hostile_maps.bpf.o")
    data = patch(obj.read_bytes(), names)
    text = generate(data, "hostile_maps.bpf.o", "hostile_maps")
    check_text(text, list(names.values()))
    mod = load_module(tmp_path / "hostile_maps_skel.py", text)
    map_name = names[placeholder(names, "map")]
    prog_name = names[placeholder(names, "prog")]
    assert [m[1] for m in mod.Skeleton._maps_] == [map_name]
    assert [p[1] for p in mod.Skeleton._progs_] == [prog_name]
    with mod.open() as skel:
        assert getattr(skel.maps, identifier(map_name)).name == map_name
        assert getattr(skel.progs, identifier(prog_name)).name == prog_name
        if bpf_unavailable_reason() is None:
            try:
                skel.load()
            except bpfskel.LibbpfError:
                pass  # the kernel refuses such names: a clean error is fine
    assert sorted(p.name for p in sentinels.iterdir()) == []


def test_hostile_source_file_and_object_name(tmp_path: Path, sentinels: Path) -> None:
    """The file name and object name reach the header comment, docstrings and
    ``NAME``: a name with quotes and newlines must stay data there too."""
    src = tmp_path / "plain.bpf.c"
    src.write_text('#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n__u32 x = 1;\n'
                   'SEC("syscall") int run(void *ctx) { return x; }\n'
                   'char LICENSE[] SEC("license") = "GPL";\n')
    data = compile_bpf(src, tmp_path / "plain.bpf.o").read_bytes()
    evil = "a'''\"\"\"\n" + payload(sentinels, "name") + "\n#"
    text = generate(data, f"/dir/{evil}.bpf.o", evil)
    check_text(text, [evil])
    mod = load_module(tmp_path / "plain_skel.py", text)
    assert mod.NAME == evil
    assert sorted(p.name for p in sentinels.iterdir()) == []
