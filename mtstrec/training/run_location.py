"""A run directory on the storage root and its local working copy.

Training, evaluation and registration may run on different machines: the run directory lives
at a URI (a local path or `s3://…`), and each step works on a local copy. For a local URI the
copy is the directory itself; for S3 it is a cache under `$MTSTREC_CACHE_DIR` (default: the
temp directory) that `pull` refills from the URI and `push` uploads back. The cache is never
the only copy: the trainer pushes after every epoch, and the `COMPLETE` marker goes up last.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import shutil
import tempfile
from pathlib import Path

from mtstrec.storage import Storage

CACHE_ENV = "MTSTREC_CACHE_DIR"
COMPLETE_MARKER = "COMPLETE"


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or tempfile.gettempdir()) / "mtstrec-runs"


class RunLocation:
    """`uri`: the run directory; `local`: the directory the steps read and write."""

    def __init__(self, uri: str | os.PathLike) -> None:
        self.storage = Storage(os.fspath(uri))
        self.uri = self.storage.uri()
        if self.storage.is_s3:
            digest = hashlib.sha256(self.uri.encode()).hexdigest()[:12]
            self.local = cache_root() / digest / posixpath.basename(self.uri)
        else:
            self.local = Path(self.uri)
        self._pushed: dict[str, tuple[int, int]] = {}

    @property
    def name(self) -> str:
        return posixpath.basename(self.uri)

    @property
    def parent(self) -> Storage:
        return Storage(self.uri.rsplit("/", 1)[0] if self.storage.is_s3 else str(Path(self.uri).parent))

    def exists(self, rel: str) -> bool:
        return self.storage.exists(rel)

    def pull(self) -> Path:
        """The run's files in `local`, fresh from the URI (any earlier cache content is dropped)."""
        if not self.storage.is_s3:
            return self.local
        files = self.storage.list_files("")
        if not files:
            raise FileNotFoundError(f"{self.uri} does not exist or is empty")
        shutil.rmtree(self.local, ignore_errors=True)
        for rel in files:
            self.storage.download(rel, self.local / rel)
        self._pushed = {rel: self._stamp(rel) for rel in files}
        return self.local

    def push(self) -> None:
        """Upload the local files changed since the last pull or push; the COMPLETE marker last."""
        if not self.storage.is_s3:
            return
        changed = []
        for path in sorted(p for p in self.local.rglob("*") if p.is_file() and not p.name.startswith(".tmp-")):
            rel = path.relative_to(self.local).as_posix()
            if self._pushed.get(rel) != self._stamp(rel):
                changed.append(rel)
        for rel in sorted(changed, key=lambda r: r == COMPLETE_MARKER):
            stamp = self._stamp(rel)
            self.storage.upload(self.local / rel, rel)
            self._pushed[rel] = stamp

    def clear(self) -> None:
        """Delete the run directory and its local copy."""
        self.storage.delete("")
        if self.storage.is_s3:
            shutil.rmtree(self.local, ignore_errors=True)
        self._pushed = {}

    def delete(self, rel: str) -> None:
        self.storage.delete(rel)
        if self.storage.is_s3:
            (self.local / rel).unlink(missing_ok=True)
        self._pushed.pop(rel, None)

    def to_uri(self, local_path: str | os.PathLike) -> str:
        """The URI of a file of the local copy."""
        return self.storage.uri(Path(local_path).relative_to(self.local).as_posix())

    def to_local(self, uri: str) -> Path:
        """The local copy of a file given by its URI."""
        prefix = self.uri.rstrip("/") + "/"
        if not uri.startswith(prefix):
            raise ValueError(f"{uri} is not inside run {self.uri}")
        return self.local / uri[len(prefix):]

    def _stamp(self, rel: str) -> tuple[int, int]:
        stat = (self.local / rel).stat()
        return stat.st_mtime_ns, stat.st_size
