"""Writing result files: never over an existing file unless asked, never half-written, and owned
by the user who ran sudo rather than by root."""

import errno
import os
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from handshake_viz.errors import OutputError, OutputExistsError


def cannot_write(path: Path, error: OSError, remedy: str = "free some space, or write elsewhere with --out "
                 "(or --captures)") -> OutputError:
    return OutputError(f"cannot write {path}: {error.strerror or error}: {remedy}")


def _read_only(path: Path) -> bool:
    return bool(os.statvfs(path).f_flag & os.ST_RDONLY)


def invoking_user() -> tuple[int, int] | None:
    """(uid, gid) of the user who ran sudo, when running as root through sudo."""
    if os.geteuid() != 0 or "SUDO_UID" not in os.environ:
        return None
    return int(os.environ["SUDO_UID"]), int(os.environ.get("SUDO_GID", os.environ["SUDO_UID"]))


class Outputs:
    def __init__(self, force: bool = False):
        self.force = force
        self.owner = invoking_user()

    def refuse_existing(self, paths: list[Path]) -> None:
        """Fail before any work when a file would be replaced without --force."""
        existing = [p for p in paths if p.exists() or p.is_symlink()]   # a dangling link is someone's too
        if existing and not self.force:
            more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
            raise OutputExistsError(f"{existing[0]} already exists{more}: pass --force to replace it, "
                                    "or write elsewhere with --out/--captures")

    def check_writable(self, folders: list[Path]) -> None:
        """Fail before a capture when a folder its results go to could not be made or written
        (read-only, no permission); nothing is created yet."""
        for folder in folders:
            existing = next(p for p in [folder, *folder.absolute().parents] if p.exists())
            if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
                reason = "not a folder" if not existing.is_dir() else os.strerror(
                    errno.EROFS if _read_only(existing) else errno.EACCES)
                raise OutputError(f"cannot write {folder}: {reason}: write elsewhere with --out (or --captures)")

    def folder(self, path: Path) -> Path:
        missing = [p for p in [path, *path.parents] if not p.exists()]
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise cannot_write(path, error)
        for created in missing:
            self._own(created)
        return path

    @contextmanager
    def replacing(self, path: Path):
        """A binary file to fill; it takes path's place only if the block ends without error."""
        self.refuse_existing([path])
        self.folder(path.parent)
        try:
            handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        except OSError as error:
            raise cannot_write(path, error)
        try:
            with os.fdopen(handle, "wb") as f:
                yield f
            os.chmod(temporary, 0o644)
            self._own(Path(temporary))
            os.replace(temporary, path)
        except OSError as error:   # no space left, or the disk went read-only: nothing half-written stays
            Path(temporary).unlink(missing_ok=True)
            raise cannot_write(path, error)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def write(self, path: Path, fill: Callable) -> Path:
        with self.replacing(path) as f:
            fill(f)
        return path

    def write_bytes(self, path: Path, data: bytes) -> Path:
        return self.write(path, lambda f: f.write(data))

    def _own(self, path: Path) -> None:
        if self.owner:
            os.chown(path, *self.owner)
