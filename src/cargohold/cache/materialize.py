"""Put cache files into working trees: hardlink, then reflink, then copy; always read-only."""

from __future__ import annotations

import errno
import fcntl
import os
import secrets
import shutil
import stat
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from cargohold.errors import InvalidInput, StorageError

Method = Literal["hardlink", "reflink", "copy"]
METHODS: tuple[Method, ...] = ("hardlink", "reflink", "copy")
FICLONE = 0x40049409

# Errors that mean "this filesystem pair cannot do that": remembered, never retried.
_UNSUPPORTED = frozenset(
    {errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOTTY, errno.EINVAL}
    | {errno.ENOSYS, errno.EBADF}
)
# Errors that concern one file only (a hardlink count at its maximum): try the next method.
_SKIP_FILE = frozenset({errno.EMLINK})


class _Unsupported(Exception):
    """A method cannot work here; try the next one."""


def _hardlink(source: Path, temp: Path) -> None:
    os.link(source, temp)


def _reflink(source: Path, temp: Path) -> None:
    with open(source, "rb") as src:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        try:
            fcntl.ioctl(fd, FICLONE, src.fileno())
            os.fchmod(fd, 0o444)
        finally:
            os.close(fd)


def _copy(source: Path, temp: Path) -> None:
    shutil.copyfile(source, temp)
    os.chmod(temp, 0o444)


_DO: dict[Method, Callable[[Path, Path], None]] = {
    "hardlink": _hardlink,
    "reflink": _reflink,
    "copy": _copy,
}


class Materializer:
    """Places cache files at target paths, remembering which methods fail where."""

    def __init__(self, methods: Sequence[Method] = METHODS) -> None:
        unknown = [m for m in methods if m not in _DO]
        if unknown or not methods:
            raise InvalidInput(f"unknown materialize methods: {list(methods)}", hint=str(METHODS))
        self.methods: tuple[Method, ...] = tuple(methods)
        self._failed: dict[tuple[int, int], set[Method]] = {}

    def place(self, source: Path, target: Path) -> Method:
        """Put `source` at `target` atomically; returns the method that worked."""
        source, target = Path(source), Path(target)
        source_st = source.stat()
        existing = _lstat(target)
        if existing is not None and stat.S_ISDIR(existing.st_mode):
            raise InvalidInput(f"{target} already exists and is a directory", path=str(target))
        if existing is not None and _same_file(existing, source_st):
            return "hardlink"
        target.parent.mkdir(parents=True, exist_ok=True)
        pair = (source_st.st_dev, target.parent.stat().st_dev)
        for method in self._candidates(pair):
            if self._try(method, pair, source, target):
                return method
        raise StorageError(
            f"could not materialize {target}: none of {', '.join(self.methods)} worked",
            hint="Check that the target directory is writable and has space",
            path=str(target),
        )

    def link_new(self, source: str | Path, target: str | Path) -> bool:
        """The fast path for a target that does not exist yet, in a directory that does: one
        hard link, nothing else. False when that is not possible (the target exists, another
        device, no hardlinks here, the source is gone): then use `place`."""
        if "hardlink" not in self.methods:
            return False
        try:
            os.link(source, target)
        except OSError:
            return False
        return True

    def failed_methods(self, source_dev: int, target_dev: int) -> frozenset[Method]:
        """Methods found not to work between these two devices."""
        return frozenset(self._failed.get((source_dev, target_dev), ()))

    def _candidates(self, pair: tuple[int, int]) -> list[Method]:
        failed = self._failed.get(pair, set())
        cross_device = pair[0] != pair[1]
        return [
            m for m in self.methods if m not in failed and not (m == "hardlink" and cross_device)
        ]

    def _try(self, method: Method, pair: tuple[int, int], source: Path, target: Path) -> bool:
        """Place by `method` via a temp name; False when the method does not work here."""
        temp = target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp"
        try:
            _DO[method](source, temp)
        except OSError as err:
            temp.unlink(missing_ok=True)
            if not self._skippable(method, pair, err):
                raise
            return False
        try:
            os.replace(temp, target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return True

    def _skippable(self, method: Method, pair: tuple[int, int], err: OSError) -> bool:
        """Whether to go on to the next method; remembers methods the pair cannot do."""
        if method == "copy" or isinstance(err, FileNotFoundError):
            return False  # the last resort failed, or the cache entry was evicted meanwhile
        if err.errno in _SKIP_FILE:
            return True
        if err.errno in _UNSUPPORTED:
            self._failed.setdefault(pair, set()).add(method)
            return True
        return False


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return path.lstat()
    except FileNotFoundError:
        return None


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
