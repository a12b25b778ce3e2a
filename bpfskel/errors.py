"""The bpfskel exception family.

Every exception bpfskel raises on purpose derives from :class:`Error`, and
also from the built-in class a Python user would reach for first:

* :class:`LibbpfError` is an :class:`OSError` carrying the errno libbpf or the
  kernel reported.  It is instantiated through :func:`libbpf_error`, which picks
  a subclass that also derives from the matching built-in (``PermissionError``
  for EPERM/EACCES, ``FileNotFoundError`` for ENOENT, ...), so ``except
  PermissionError`` works exactly as it does for ``open()``.
* :class:`ReadOnlyError` is a ``PermissionError`` (errno EPERM): the write was
  refused because the memory is read-only, e.g. a frozen ``.rodata`` map.
* :class:`StateError` is a ``RuntimeError``: the call does not fit the
  object's state ("not loaded yet", "already loaded", "destroyed").
* :class:`ClosedError` is a :class:`StateError` and a ``ValueError``, like
  I/O on a closed file.
* :class:`SyscallError` is an :class:`OSError` carrying the errno of a system
  call bpfskel makes itself (``mmap``, ``perf_event_open``), with the matching
  built-in subclass as for :class:`LibbpfError`, which it is not: libbpf was
  not involved.
* :class:`BoundsError` is a ``ValueError`` (and an ``IndexError``): an access
  outside a mapping.
* :class:`VerifierError` is a :class:`LibbpfError` whose log holds the
  verifier's rejection.  It is deliberately *not* a ``PermissionError``,
  although the verifier answers EACCES: ``except PermissionError`` is for a
  process that lacks privileges, and then the message names the missing
  capabilities.

libbpf's errnos say little (ESRCH, "No such process", for a function missing
from kernel BTF).  When libbpf's log matches one of the common failures in
:data:`DIAGNOSES`, the message leads with what happened and what to check,
and names the errno symbolically.
"""

from __future__ import annotations

import errno as _errno
import os
import re
from typing import Any, Dict, Optional, Sequence, Tuple, Type

__all__ = [
    "Error",
    "LibbpfError",
    "ReadOnlyError",
    "ClosedError",
    "StateError",
    "SyscallError",
    "BoundsError",
    "NotSupportedError",
    "ObjectMismatchError",
    "QueueEmptyError",
    "EventSizeError",
    "VerifierError",
    "ENOTSUPP",
    "DIAGNOSES",
    "CapabilityError",
    "libbpf_error",
    "syscall_error",
    "permission_hint",
]


LOG_TAIL_LINES = 40  # lines of libbpf's log an error message quotes
ENOTSUPP = 524  # the kernel-internal "not supported" that bpf() and mmap leak to user space


class Error(Exception):
    """Base class of every error bpfskel raises on purpose."""


class LibbpfError(Error, OSError):
    """A libbpf call or a bpf() syscall failed.

    ``errno`` holds the error number, ``operation`` names the call and its
    object, and ``log`` holds everything libbpf logged during the call (for a
    failed program load, the whole verifier log).  The message quotes only
    the last :data:`LOG_TAIL_LINES` lines of it, where the verifier says why.
    """

    operation: str
    log: str
    hint: str  # what the process lacks, for EPERM/EACCES; "" otherwise

    def __init__(self, err: int, operation: str, log: str = "") -> None:
        what = self._diagnosis(log)
        if what:
            message = f"{operation}: {what} ({errno_name(err)}, errno {err})"
        else:
            message = f"{operation}: {strerror(err)} (errno {err})"
        hint = permission_hint() if err in (_errno.EPERM, _errno.EACCES) else ""
        if hint:
            message += f"; {hint}"
        if log:
            lines = log.rstrip("\n").split("\n")
            if len(lines) > LOG_TAIL_LINES:
                lines = [f"... ({len(lines) - LOG_TAIL_LINES} earlier lines in .log)"] \
                    + lines[-LOG_TAIL_LINES:]
            message += "\n" + "\n".join(lines)
        super().__init__(err, message)
        self.operation = operation
        self.log = log
        self.hint = hint

    @staticmethod
    def _diagnosis(log: str) -> str:
        return diagnose(log)

    def __str__(self) -> str:
        return str(self.strerror)

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (libbpf_error, (self.errno, self.operation, self.log))


class VerifierError(LibbpfError):
    """The kernel verifier rejected a program: ``log`` holds its log and
    ``program`` the program's name.  ``errno`` is what the kernel answered
    (usually EACCES), but this is not a ``PermissionError``."""

    program: str

    def __init__(self, err: int, operation: str, log: str = "") -> None:
        super().__init__(err, operation, log)
        found = re.search(_PROG_LOG, log)
        self.program = found.group(1) if found else ""

    @staticmethod
    def _diagnosis(log: str) -> str:
        found = re.search(_PROG_LOG, log)
        return diagnose(log) or (f"the verifier rejected program '{found.group(1)}'"
                                 if found else "the verifier rejected a program")


class ReadOnlyError(Error, PermissionError):
    """A write hit read-only memory: a frozen map or a read-only mapping."""

    def __init__(self, what: str) -> None:
        super().__init__(_errno.EPERM, f"{what} is read-only")

    def __str__(self) -> str:
        return str(self.strerror)


class StateError(Error, RuntimeError):
    """The call does not fit the object's state: a skeleton not loaded yet,
    one already loaded, or one destroyed (:class:`ClosedError`)."""


class ClosedError(StateError, ValueError):
    """The mapping, view or skeleton was closed or destroyed."""


class BoundsError(Error, ValueError, IndexError):
    """An access reached outside the bounds of a mapping."""


class ObjectMismatchError(Error, ValueError):
    """An object file's BTF does not match the generated classes."""


class QueueEmptyError(Error, IndexError, KeyError):
    """``pop``/``peek`` on an empty queue or stack map (both an IndexError, as
    for ``list.pop``, and a KeyError, as BCC raises)."""


class EventSizeError(Error, ValueError):
    """A record is smaller than the ``event_type`` it should be read as."""


class RingBufferFullError(Error, BlockingIOError):
    """A user ring buffer has no room for the record (errno ENOSPC); BPF frees
    space as it drains (``bpf_user_ringbuf_drain``)."""

    def __init__(self, message: str) -> None:
        super().__init__(_errno.ENOSPC, message)

    def __str__(self) -> str:
        return str(self.strerror)


class NotSupportedError(Error, OSError):
    """The running libbpf or kernel lacks a feature (errno EOPNOTSUPP)."""

    def __init__(self, message: str) -> None:
        super().__init__(_errno.EOPNOTSUPP, message)

    def __str__(self) -> str:
        return str(self.strerror)


# Capability names by number (linux/capability.h), the one table bpfskel keeps.
CAP_NAMES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)
CAP_SYS_ADMIN = CAP_NAMES.index("CAP_SYS_ADMIN")
CAP_PERFMON = CAP_NAMES.index("CAP_PERFMON")
CAP_BPF = CAP_NAMES.index("CAP_BPF")


class CapabilityError(Error, PermissionError):
    """Capabilities could not be changed as asked (``drop_capabilities``)."""


def effective_capabilities() -> Optional[int]:
    """This process's effective capability mask, or None if unreadable."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError, IndexError):
        pass
    return None


def permission_hint() -> str:
    """Which capabilities bpf() needs and this process lacks ("" if none).

    Since Linux 5.8, CAP_BPF creates maps and loads programs, CAP_PERFMON is
    needed on top for tracing programs and pointer arithmetic, and
    CAP_SYS_ADMIN covers both.  libbpf itself only says EPERM, and then
    blames RLIMIT_MEMLOCK.
    """
    caps = effective_capabilities()
    if caps is None or caps >> CAP_SYS_ADMIN & 1:
        return ""
    missing = [name for bit, name in ((CAP_BPF, "CAP_BPF"), (CAP_PERFMON, "CAP_PERFMON"))
               if not caps >> bit & 1]
    if not missing:
        return ""
    return (f"this process lacks {' and '.join(missing)} (or CAP_SYS_ADMIN): run it as "
            "root or grant those capabilities")


# errno -> the built-in OSError subclass Python itself would raise for it.
_BUILTIN_FOR_ERRNO: Dict[int, Type[OSError]] = {
    _errno.EPERM: PermissionError,
    _errno.EACCES: PermissionError,
    _errno.ENOENT: FileNotFoundError,
    _errno.EEXIST: FileExistsError,
    _errno.EINTR: InterruptedError,
    _errno.EAGAIN: BlockingIOError,
    _errno.ETIMEDOUT: TimeoutError,
    _errno.EISDIR: IsADirectoryError,
    _errno.ENOTDIR: NotADirectoryError,
    _errno.ESRCH: ProcessLookupError,
    _errno.ECHILD: ChildProcessError,
    _errno.EPIPE: BrokenPipeError,
}

# libbpf's own error numbers (LIBBPF_ERRNO__*, libbpf.h) and the kernel's
# internal ones that leak to user space, which os.strerror does not know.
_LIBBPF_ERRNOS = {
    ENOTSUPP: "operation not supported (ENOTSUPP)",
    4000: "libelf failed",
    4001: "invalid BPF object format",
    4002: "missing or bad 'version' section",
    4003: "object endianness does not match the host",
    4004: "internal libbpf error",
    4005: "relocation failed",
    4006: "program load failed",
    4007: "the kernel verifier rejected the program",
    4008: "program too large",
    4009: "wrong kernel version",
    4010: "program type not supported by the kernel",
    4011: "wrong pid in netlink message",
    4012: "invalid netlink sequence",
    4013: "netlink parse error",
}


def errno_name(err: int) -> str:
    """The symbolic name of an errno (``EINVAL``; ``ENOTSUPP`` included)."""
    return "ENOTSUPP" if err == ENOTSUPP else _errno.errorcode.get(err, str(err))


def strerror(err: int) -> str:
    """Text for an errno, libbpf's private ones (4000+) included."""
    return _LIBBPF_ERRNOS.get(err) or os.strerror(err)


class SyscallError(Error, OSError):
    """A system call bpfskel makes itself failed (``mmap`` of a map,
    ``perf_event_open``).  ``errno`` holds the error number and ``operation``
    names the call; built by :func:`syscall_error`, which picks the subclass
    that also derives from the matching built-in, as for :class:`LibbpfError`."""

    operation: str
    detail: str

    def __init__(self, err: int, operation: str, detail: str = "") -> None:
        super().__init__(err, f"{operation}: {detail or strerror(err)} "
                              f"({errno_name(err)}, errno {err})")
        self.operation = operation
        self.detail = detail

    def __str__(self) -> str:
        return str(self.strerror)

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (syscall_error, (self.errno, self.operation, self.detail))


_SUBCLASSES: Dict[Tuple[type, Type[OSError]], type] = {}


def _subclass_for(base: type, err: int) -> Any:
    """``base`` itself, or its subclass that is also the built-in OSError
    subclass Python raises for ``err`` (made once per pair)."""
    builtin = _BUILTIN_FOR_ERRNO.get(err)
    if builtin is None:
        return base
    cls = _SUBCLASSES.get((base, builtin))
    if cls is None:
        prefix = base.__name__[:-len("Error")]
        cls = type(prefix + builtin.__name__, (base, builtin), {})
        cls.__module__ = __name__
        _SUBCLASSES[(base, builtin)] = cls
    return cls


def syscall_error(err: int, operation: str, detail: str = "") -> SyscallError:
    """The :class:`SyscallError` subclass matching ``err`` (``detail`` replaces
    the errno's text)."""
    err = abs(err) or _errno.EINVAL
    return _subclass_for(SyscallError, err)(err, operation, detail)  # type: ignore[no-any-return]


# libbpf prints a rejected program's verifier log between these markers.
# (Patterns are strings: re compiles and caches each on first use, on an error
# path, instead of at every import.)
_PROG_LOG = r"prog '([^']*)': -- BEGIN PROG LOAD LOG --\n(?!-- END)"
# EPERM before the verifier looked at one instruction: the kernel refused the
# program itself (its type or attach target, lockdown, a policy), even as root.
# That is a permission failure, not a verifier rejection.
_NOT_VERIFIED = r"(?m)^processed 0 insns "

# libbpf's log line for a common failure -> what to tell the user.  Matched in
# order against the whole log of the failed call; the first match wins.
DIAGNOSES: Tuple[Tuple[str, str], ...] = (
    (r"failed to find kernel BTF type ID of '(?P<name>[^']+)'",
     "kernel function '{name}' not found in kernel BTF; is it inlined or renamed on "
     "this kernel?"),
    (r"extern \((?:func|var) ksym\) '(?P<name>[^']+)': not found in kernel",
     "kernel symbol '{name}' (a __ksym extern) not found in kernel BTF; is it "
     "inlined, renamed or in an unloaded module on this kernel?"),
    (r"failed to resolve CO-RE relocation (?P<what>[^\n]*)",
     "a CO-RE relocation does not match this kernel's types: {what}; the field or "
     "type does not exist here (guard it with bpf_core_field_exists())"),
    (r"failed to determine tracepoint '(?P<name>[^']+)' perf event ID",
     "tracepoint '{name}' does not exist on this kernel (see "
     "/sys/kernel/tracing/events/)"),
)


def diagnose(log: str) -> str:
    """A message for a common failure recognised in libbpf's log, or ""."""
    if not log:
        return ""
    for pattern, message in DIAGNOSES:
        found = re.search(pattern, log)
        if found:
            return message.format(**found.groupdict())
    return ""


def libbpf_error(err: int, operation: str, log: str = "") -> LibbpfError:
    """Build the :class:`LibbpfError` subclass matching ``err`` (and ``log``:
    a verifier rejection is a :class:`VerifierError`, unless the process lacks
    privileges)."""
    err = abs(err) or _errno.EINVAL
    if err == _errno.ESRCH and diagnose(log):
        return LibbpfError(err, operation, log)  # libbpf's "not found", not a process
    if re.search(_PROG_LOG, log) and not (err in (_errno.EPERM, _errno.EACCES)
                                      and permission_hint()) \
            and not (err == _errno.EPERM and re.search(_NOT_VERIFIED, log)):
        return VerifierError(err, operation, log)
    return _subclass_for(LibbpfError, err)(err, operation, log)  # type: ignore[no-any-return]


def tail(lines: Sequence[str], limit: Optional[int] = None) -> str:
    """Join the last ``limit`` log lines (all of them by default)."""
    picked = lines if limit is None else lines[-limit:]
    return "".join(line if line.endswith("\n") else line + "\n" for line in picked)
