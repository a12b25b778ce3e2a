"""What symbolization returns (:class:`Frame`) and the folded-stack format."""

from __future__ import annotations

from typing import Iterable, List, NamedTuple, Optional, Sequence, Tuple, Union

__all__ = ["Frame", "folded", "frame_name"]


class Frame(NamedTuple):
    """One resolved address: ``name`` plus ``offset`` bytes, in ``module``.

    ``module`` is the file's path as ``/proc/PID/maps`` names it (``[vdso]``
    for the vDSO, ``perf-PID.map`` for JIT code), or for the kernel
    ``vmlinux``, the module's name, or ``bpf`` for BPF programs.
    ``file`` and ``line`` give the source position from DWARF
    ``.debug_line`` with ``Symbolizer(source_lines=True)``, else None.  Like
    ``addr2line``, they are those of the address given: for a return address
    (every frame but the innermost), pass ``addr - 1`` to get the call's line.
    """

    name: str
    offset: int
    module: str
    file: Optional[str] = None
    line: Optional[int] = None

    def __str__(self) -> str:
        return f"{self.name}+{self.offset:#x}" if self.offset else self.name


def frame_name(frame: Union[Frame, str, None]) -> str:
    """A frame as a flame graph shows it: the function name, ``[unknown]`` for None."""
    if frame is None:
        return "[unknown]"
    return frame if isinstance(frame, str) else frame.name


def folded(stacks_with_counts: Iterable[Tuple[Sequence[Union[Frame, str, None]], int]]) -> str:
    """Brendan Gregg's folded format, one ``root;...;leaf count`` line per stack.

    Each stack is given leaf first, as the kernel and :class:`Symbolizer`
    return it (innermost frame at index 0); the line lists it root first, as
    ``flamegraph.pl`` and speedscope expect.  Identical lines are merged and
    the output is sorted, so it is stable.  ``;`` in a name (C++ templates)
    becomes ``:`` so it cannot split a frame.
    """
    merged: dict[str, int] = {}
    for stack, count in stacks_with_counts:
        names = [frame_name(f).replace(";", ":") or "[unknown]"
                 for f in reversed(list(stack))]
        key = ";".join(names) if names else "[empty]"
        merged[key] = merged.get(key, 0) + int(count)
    lines: List[str] = [f"{k} {v}" for k, v in sorted(merged.items())]
    return "\n".join(lines) + ("\n" if lines else "")
