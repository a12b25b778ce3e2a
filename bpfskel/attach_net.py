"""Network attach kinds beyond XDP and tc: netfilter hooks and sockmap
programs (sk_lookup and flow_dissector go through ``attach_netns``)."""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING, Any, Optional

from . import _libbpf
from .errors import ClosedError
from .links import Link
from .uapi import AttachType

if TYPE_CHECKING:
    from .programs import Program

__all__ = ["ProgAttachment", "netfilter", "sockmap"]

# enum bpf_attach_type values for sockmap programs
BPF_SK_SKB_STREAM_PARSER = AttachType.SK_SKB_STREAM_PARSER
BPF_SK_SKB_STREAM_VERDICT = AttachType.SK_SKB_STREAM_VERDICT
BPF_SK_MSG_VERDICT = AttachType.SK_MSG_VERDICT
BPF_SK_SKB_VERDICT = AttachType.SK_SKB_VERDICT


def netfilter(prog: "Program", pf: int, hooknum: int, priority: int, flags: int) -> Link:
    fn = _libbpf.require("bpf_program__attach_netfilter")
    o = _libbpf.opts(_libbpf.NetfilterOpts, pf=pf, hooknum=hooknum, priority=priority,
                     flags=flags)
    return prog._attach(fn, f"netfilter pf {pf} hook {hooknum} prio {priority}",
                        ctypes.byref(o))


class ProgAttachment(Link):
    """A ``bpf_prog_attach`` attachment (no ``bpf_link``): ``destroy()``
    detaches with ``bpf_prog_detach2``.  ``fd`` is the target's (the map's)."""

    def __init__(self, prog_fd: int, target_fd: int, attach_type: int, what: str) -> None:
        super().__init__(0, what)
        self._attached: Optional[tuple[int, int, int]] = (prog_fd, target_fd, attach_type)

    @property
    def fd(self) -> int:
        if self._attached is None:
            raise ClosedError(f"link {self.what} was destroyed")
        return self._attached[1]

    @property
    def destroyed(self) -> bool:
        return getattr(self, "_attached", None) is None

    def destroy(self) -> None:
        attached, self._attached = getattr(self, "_attached", None), None
        if attached is not None:
            _libbpf.lib().bpf_prog_detach2(*attached)


def sockmap(prog: "Program", map: Any, attach_type: int) -> Link:
    prog._skel._check_loaded(f"attaching {prog.name!r}")
    map_fd = map if isinstance(map, int) else map.fd
    prog_fd = prog.fd
    _libbpf.call(_libbpf.lib().bpf_prog_attach,
                 f"attaching program {prog.name!r} to map fd {map_fd} (type {attach_type})",
                 prog_fd, map_fd, int(attach_type), 0)
    return prog._keep(ProgAttachment(prog_fd, map_fd, int(attach_type),
                                     f"{prog.name}:sockmap fd {map_fd}"))
