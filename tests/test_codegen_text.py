'''Exact generated text for small types (libbpf-cargo's style of table test):
raw BTF built in memory (tests/btfbuilder.py) in, the ``types`` and
``sections`` part of the module out, compared line by line.

The expected text was written from the C each case stands for: offsets,
padding, bitfield storage and accessors, and the pahole-style comments.  A
change to what the generator writes for these shows here as a diff to review.
'''

from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, Tuple

import pytest

from btfbuilder import SIGNED, BtfBuilder, decode, emit


def _event(b: BtfBuilder) -> None:
    """struct event { unsigned int pid; unsigned char flag; long ts; };"""
    u8, u32 = b.integer("unsigned char", 1), b.integer("unsigned int", 4)
    b.struct("event", 16, [("pid", u32, 0, 0), ("flag", u8, 32, 0),
                           ("ts", b.integer("long", 8, encoding=SIGNED), 64, 0)])


EVENT = '''\
class types:
    """C types of the object, by C name (anonymous ones by where they are used)."""

    class event(_rt.Struct):
        """struct event: 16 bytes."""
        pid: int
        flag: int
        ts: int


class sections:
    """One view class per global data section."""


types.event._members_ = ('pid', 'flag', 'ts')
types.event._fields_ = [
    ('pid', _c.c_uint32),                        #     0: unsigned int pid
    ('flag', _c.c_uint8),                        #     4: unsigned char flag
    ('_pad_5', _c.c_ubyte * 3),                  #     5: padding
    ('ts', _c.c_int64),                          #     8: long ts
]
'''


def _flags(b: BtfBuilder) -> None:
    """struct flags { unsigned int a:1, b:7, c:20; };"""
    u32 = b.integer("unsigned int", 4)
    b.struct("flags", 4, [("a", u32, 0, 1), ("b", u32, 1, 7), ("c", u32, 8, 20)])


FLAGS = '''\
class types:
    """C types of the object, by C name (anonymous ones by where they are used)."""

    class flags(_rt.Struct):
        """struct flags: 4 bytes."""
        a: int
        b: int
        c: int


class sections:
    """One view class per global data section."""


types.flags._members_ = ('a', 'b', 'c')
types.flags._fields_ = [
    ('_bits_0', _c.c_ubyte * 1),                 #     0: bitfield storage
    ('_bits_1', _c.c_ubyte * 3),                 #     1: bitfield storage
]
_rt.add_accessors(types.flags, [  # (name, offset, bytes, bit shift, bits, signed)
    ('a', 0, 1, 0, 1, False),                    # unsigned int a:1
    ('b', 0, 1, 1, 7, False),                    # unsigned int b:7
    ('c', 1, 3, 0, 20, False),                   # unsigned int c:20
])
'''


def _union_enum_bss(b: BtfBuilder) -> None:
    """enum state { IDLE, BUSY = 2 }; union val { enum state st; u64 raw; };
    u64 counter; enum state last;  (both in .bss)"""
    u64 = b.integer("unsigned long long", 8)
    e = b.enum("state", 4, [("IDLE", 0), ("BUSY", 2)])
    b.union("val", 8, [("st", e, 0, 0), ("raw", u64, 0, 0)])
    b.datasec(".bss", 16, [(b.var("counter", u64), 0, 8), (b.var("last", e), 8, 4)])


UNION_ENUM_BSS = '''\
class types:
    """C types of the object, by C name (anonymous ones by where they are used)."""

    class val(_rt.Union):
        """union val: 8 bytes."""
        st: _rt.EnumField[types.state]
        raw: int

    class state(_rt.CEnum):
        """enum state: 4 bytes, unsigned."""
        IDLE = 0
        BUSY = 2


class sections:
    """One view class per global data section."""

    class bss(_rt.SectionView):
        """The .bss section: 16 bytes."""
        __slots__ = ()  # no stray attributes: a typo raises
        counter: int
        last: _rt.EnumField[types.state]


types.val._enums_ = {'st': types.state}
types.val._members_ = ('st', 'raw')
types.val._fields_ = [
    ('st', _c.c_uint32),                         #     0: enum state st
    ('raw', _c.c_uint64),                        #     0: unsigned long long raw
    ('_size', _c.c_ubyte * 8),                   #     0: union size
]

sections.bss._section_ = '.bss'
sections.bss._enums_ = {'last': types.state}
sections.bss._members_ = ('counter', 'last')
sections.bss._fields_ = [
    ('counter', _c.c_uint64),                    #     0: unsigned long long counter
    ('last', _c.c_uint32),                       #     8: enum state last
    ('_pad_12', _c.c_ubyte * 4),                 #    12: padding
]
'''

CASES: Dict[str, Tuple[Callable[[BtfBuilder], None], str]] = {
    "struct with padding": (_event, EVENT),
    "bitfields": (_flags, FLAGS),
    "union, enum and .bss": (_union_enum_bss, UNION_ENUM_BSS),
}


@pytest.mark.parametrize("case", list(CASES))
def test_generated_text(case: str, tmp_path: Path) -> None:
    build, expected = CASES[case]
    b = BtfBuilder()
    build(b)
    text = emit(decode(b.raw(), tmp_path))
    got = text[text.index("class types:"):text.index("\nclass Maps(")]
    assert got.rstrip("\n").splitlines() == expected.rstrip("\n").splitlines()
