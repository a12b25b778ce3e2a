"""What the TCP tools (tcpstates, tcplife, tcpconnect) share: the ``-4``/``-6``
options, the address family they set in ``.rodata``, and an event's two
endpoints as text.

Their BPF sides store both addresses as 16 bytes whatever the family (an IPv4
address in the first 4), with the family beside them, so one reader serves
every event type.
"""

from __future__ import annotations

import argparse
import socket
from typing import Any, Tuple

from bpfskel import labels

__all__ = ["add_family_options", "family", "endpoints"]


def add_family_options(p: argparse.ArgumentParser) -> None:
    fam = p.add_mutually_exclusive_group()
    fam.add_argument("-4", "--ipv4", action="store_true", help="IPv4 only")
    fam.add_argument("-6", "--ipv6", action="store_true", help="IPv6 only")


def family(args: argparse.Namespace) -> int:
    """The ``targ_family`` filter: AF_INET, AF_INET6, or 0 for both."""
    return socket.AF_INET if args.ipv4 else socket.AF_INET6 if args.ipv6 else 0


def endpoints(e: Any) -> Tuple[int, str, str]:
    """(IP version, source address, destination address) of an event with
    ``family``, ``saddr`` and ``daddr`` members."""
    if e.family == socket.AF_INET:
        return 4, labels.ipv4(bytes(e.saddr)[:4]), labels.ipv4(bytes(e.daddr)[:4])
    return 6, labels.ipv6(e.saddr), labels.ipv6(e.daddr)
