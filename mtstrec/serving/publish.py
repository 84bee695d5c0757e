"""Write a partition of several Parquet parts so that a re-run replaces it whole.

Parts go to a staging prefix first (`<parent>/_staging/<name>-<token>/`). `publish` then
puts them in place: on a local root the partition directory is swapped by two renames, so
a reader sees the old partition or the new one, never a mix; on S3, where nothing renames,
each part is copied over the old one (one atomic PUT per object), stale parts are deleted,
and `_manifest.json`, written last, names the parts of the finished partition.
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
import shutil
import uuid

import pyarrow as pa

from mtstrec.storage import Storage

log = logging.getLogger(__name__)

MANIFEST = "_manifest.json"
STAGING = "_staging"


class StagedPartition:
    """Parquet parts of `rel` (e.g. `recommendations/date=2020-08-30`), staged until published."""

    def __init__(self, dataset: Storage, rel: str) -> None:
        self.dataset = dataset
        self.rel = rel.rstrip("/")
        parent, self.name = posixpath.split(self.rel)
        self.staging_root = posixpath.join(parent, STAGING)
        self.staging = posixpath.join(self.staging_root, f"{self.name}-{uuid.uuid4().hex}")
        self.parts: list[str] = []
        self.rows = 0
        self._clear_stale_staging()

    def _clear_stale_staging(self) -> None:
        """Staging left by an earlier run of the same partition that died before publishing."""
        for name in self.dataset.list_dirs(self.staging_root):
            if name.startswith(f"{self.name}-"):
                log.info("removing stale staging %s", self.dataset.uri(self.staging_root, name))
                self.dataset.delete(posixpath.join(self.staging_root, name))

    def write_part(self, table: pa.Table) -> None:
        name = f"part-{len(self.parts):05d}.parquet"
        self.dataset.write_parquet(posixpath.join(self.staging, name), table)
        self.parts.append(name)
        self.rows += table.num_rows

    def publish(self, manifest: dict) -> None:
        """Replace `rel` with the staged parts and a manifest of them."""
        body = json.dumps({**manifest, "rows": self.rows, "parts": self.parts}, indent=2, default=str).encode()
        if self.dataset.is_s3:
            self._publish_s3(body)
        else:
            self._publish_local(body)
        log.info("published %s: %s rows in %d part(s)", self.dataset.uri(self.rel), f"{self.rows:,}",
                 len(self.parts))

    def _publish_local(self, manifest: bytes) -> None:
        self.dataset.write_bytes(posixpath.join(self.staging, MANIFEST), manifest)
        final, staged = self.dataset.path(self.rel), self.dataset.path(self.staging)
        old = f"{staged}.old"
        if os.path.exists(final):
            os.rename(final, old)
        os.rename(staged, final)
        shutil.rmtree(old, ignore_errors=True)

    def _publish_s3(self, manifest: bytes) -> None:
        fs = self.dataset.fs
        for name in self.parts:
            fs.copy_file(self.dataset.path(self.staging, name), self.dataset.path(self.rel, name))
        for stale in self.dataset.list_files(self.rel):
            if posixpath.basename(stale) not in self.parts and posixpath.basename(stale) != MANIFEST:
                self.dataset.delete(stale)
        self.dataset.write_bytes(posixpath.join(self.rel, MANIFEST), manifest)
        self.dataset.delete(self.staging)

    def discard(self) -> None:
        if self.dataset.exists(self.staging):
            self.dataset.delete(self.staging)
