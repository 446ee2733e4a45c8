"""Atomic file writes: a reader sees the old file or the new one, never half of either.

    with atomic_write("m.npz", "wb") as f:      # f is a temporary file in m.npz's folder
        np.savez(f, ...)
    # here m.npz is the new, complete file; on any error (or Ctrl-C) it is the old one, untouched

    write_text("results.json", text)             # the same for a whole string
    check_output_path("m.npz", "--out")          # before any data is read: can we write there at all?

How: the data goes to a temporary file with a unique name in the target's own folder (a rename is
atomic only within one filesystem), created with O_CREAT|O_EXCL|O_NOFOLLOW, so a pre-placed file or
symlink of that name is never followed or overwritten. It is flushed and fsync'ed (the data is on disk
before the name points at it, so a crash cannot leave an empty file under the final name), then
os.replace'd onto the target. On every error, KeyboardInterrupt included, the temporary file is removed
and the target is left as it was.

Concurrent writers of one target each write their own temporary file; each rename is atomic, so every
write completes and the last rename wins. A concurrent reader opens either the old or the new inode,
both whole.
"""
from __future__ import annotations

import contextlib
import errno
import os
import secrets
from pathlib import Path

from ..errors import DataError

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _temp_name(path: Path) -> Path:
    # hidden, unique per process and call; the ".tmp" suffix tells a person what it is
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


@contextlib.contextmanager
def atomic_write(path, mode: str = "wb", encoding: str | None = None):
    """Yield a file object whose contents replace `path` atomically when the block ends without error.

    mode: "wb" or "w" (text, encoding default utf-8). The new file gets the permissions a plain open()
    would give (0o666 minus the umask), not mkstemp's 0o600.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write: mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    tmp = _temp_name(path)
    fd = os.open(tmp, _FLAGS, 0o666)
    try:
        kw = {} if mode == "wb" else {"encoding": encoding or "utf-8", "newline": ""}
        with os.fdopen(fd, mode, **kw) as f:
            fd = None                                # the file object owns it now
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if fd is not None:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def write_bytes(path, data: bytes) -> None:
    with atomic_write(path, "wb") as f:
        f.write(data)


def write_text(path, text: str, encoding: str = "utf-8") -> None:
    with atomic_write(path, "w", encoding=encoding) as f:
        f.write(text)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (best effort: some filesystems refuse to fsync a directory)."""
    try:
        fd = os.open(folder if str(folder) else ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class OutputPathError(DataError):
    """An output path that cannot be written; the message names the option and the path."""


def check_output_path(path, option: str, *, directory: bool = False, not_same_as=()) -> Path:
    """Refuse an output path that cannot be written, before any work is done -> the Path.

    option      : the user-facing name for messages ("--out")
    directory   : the output is a folder (may exist; missing folders are created in the nearest existing one)
    not_same_as : (option, path) pairs of inputs the output must not overwrite

    Checks: the folder exists and is a folder; the target is not an existing folder (for a file)
    or a file (for a folder); a file can be created there (it creates and removes a uniquely named
    probe file: this catches read-only filesystems and permissions, even for root). A full disk is
    only found while writing; atomic_write then removes its temporary file and keeps the old one.
    """
    p = Path(path)
    if str(path) == "":
        raise OutputPathError(f"{option}: empty path")
    for other_opt, other in not_same_as:
        if other is not None and _same_file(p, Path(other)):
            raise OutputPathError(f"{option} {path} is the same file as {other_opt}; it would be overwritten")
    if directory:
        if p.exists() and not p.is_dir():
            raise OutputPathError(f"{option} {path}: exists and is not a folder")
        folder = p
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent                   # makedirs(parents=True) will create the rest
    else:
        if p.is_dir():
            raise OutputPathError(f"{option} {path}: is an existing folder; give a file name inside it")
        folder = p.parent
    folder = folder if str(folder) else Path(".")
    if not folder.exists():
        raise OutputPathError(f"{option} {path}: folder {folder} does not exist")
    if not folder.is_dir():
        raise OutputPathError(f"{option} {path}: {folder} is not a folder")
    probe = _temp_name(folder / "write-check")
    try:
        os.close(os.open(probe, _FLAGS, 0o600))
        os.unlink(probe)
    except OSError as e:
        reason = {errno.EROFS: "read-only filesystem", errno.EACCES: "permission denied",
                  errno.EPERM: "permission denied", errno.ENOSPC: "no space left on the device"}
        raise OutputPathError(f"{option} {path}: cannot write in {folder} "
                              f"({reason.get(e.errno, e.strerror)})") from None
    return p


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False
