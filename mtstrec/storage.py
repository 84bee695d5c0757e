"""One storage root, local or S3, behind a small API with atomic writes.

A root is a URI: a local path (`data/`, `/srv/mtstrec`, `file:///srv/mtstrec`)
or `s3://bucket/prefix`. For S3 the endpoint comes from `MTSTREC_S3_ENDPOINT_URL`
(or `AWS_ENDPOINT_URL`) and the credentials from the usual AWS variables;
pyarrow ignores `AWS_ENDPOINT_URL` on its own, so it is passed explicitly here.
"""

from __future__ import annotations

import io
import os
import posixpath
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

PARQUET_WRITE_OPTIONS = {"compression": "zstd", "write_statistics": True}


def s3_endpoint() -> str | None:
    return os.environ.get("MTSTREC_S3_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL")


@dataclass
class Storage:
    """A root URI with helpers that all take paths relative to it."""

    root: str
    fs: pafs.FileSystem = field(init=False, repr=False)
    base: str = field(init=False)

    def __post_init__(self) -> None:
        parsed = urlparse(self.root)
        if parsed.scheme == "s3":
            endpoint = s3_endpoint()
            kwargs: dict = {"region": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
            if endpoint:
                endpoint_url = urlparse(endpoint)
                kwargs["endpoint_override"] = endpoint_url.netloc
                kwargs["scheme"] = endpoint_url.scheme or "https"
            self.fs = pafs.S3FileSystem(**kwargs)
            self.base = f"{parsed.netloc}{parsed.path}".rstrip("/")
        elif parsed.scheme in ("", "file"):
            local = parsed.path if parsed.scheme == "file" else self.root
            self.fs = pafs.LocalFileSystem()
            self.base = os.path.abspath(local)
        else:
            raise ValueError(f"unsupported storage root {self.root!r}: use a local path or s3://bucket/prefix")

    @property
    def is_s3(self) -> bool:
        return isinstance(self.fs, pafs.S3FileSystem)

    def child(self, *parts: str) -> Storage:
        """A Storage rooted at a sub-path (e.g. one dataset)."""
        return Storage(self.uri(*parts))

    def path(self, *parts: str) -> str:
        """Filesystem path (for `self.fs`) of a relative path."""
        return posixpath.join(self.base, *parts) if parts else self.base

    def uri(self, *parts: str) -> str:
        prefix = "s3://" if self.is_s3 else ""
        return prefix + self.path(*parts)

    def polars_storage_options(self) -> dict[str, str] | None:
        """Options for polars' cloud readers, or None for local roots."""
        if not self.is_s3:
            return None
        options = {"aws_region": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
        endpoint = s3_endpoint()
        if endpoint:
            options["aws_endpoint_url"] = endpoint
            options["aws_allow_http"] = str(endpoint.startswith("http://")).lower()
        return options

    def exists(self, rel: str) -> bool:
        return self.fs.get_file_info(self.path(rel)).type != pafs.FileType.NotFound

    def list_files(self, rel: str, suffix: str = "") -> list[str]:
        """Relative paths of files under `rel` (recursively), sorted; [] if absent."""
        if not self.exists(rel):
            return []
        selector = pafs.FileSelector(self.path(rel), recursive=True)
        prefix = self.base.rstrip("/") + "/"
        found = [
            info.path[len(prefix) :] if info.path.startswith(prefix) else info.path
            for info in self.fs.get_file_info(selector)
            if info.type == pafs.FileType.File and info.path.endswith(suffix)
        ]
        return sorted(p for p in found if not posixpath.basename(p).startswith(".tmp-"))

    def list_dirs(self, rel: str) -> list[str]:
        """Names of the direct sub-directories of `rel`, sorted; [] if absent."""
        if not self.exists(rel):
            return []
        infos = self.fs.get_file_info(pafs.FileSelector(self.path(rel)))
        return sorted(posixpath.basename(i.path) for i in infos if i.type == pafs.FileType.Directory)

    def read_bytes(self, rel: str) -> bytes:
        with self.fs.open_input_stream(self.path(rel)) as stream:
            return stream.read()

    def write_bytes(self, rel: str, data: bytes) -> None:
        """Write atomically: a reader sees the old file or the whole new one."""
        target = self.path(rel)
        if self.is_s3:
            # One S3 PUT is atomic: the object appears only once it is complete.
            with self.fs.open_output_stream(target) as out:
                out.write(data)
            return
        directory = posixpath.dirname(target)
        self.fs.create_dir(directory, recursive=True)
        temp = posixpath.join(directory, f".tmp-{uuid.uuid4().hex}-{posixpath.basename(target)}")
        try:
            with open(temp, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, target)
        finally:
            if os.path.exists(temp):
                os.remove(temp)

    def write_parquet(self, rel: str, table: pa.Table, metadata: dict[str, str] | None = None) -> None:
        """Write a table as one Parquet file, atomically and deterministically."""
        if metadata:
            merged = dict(table.schema.metadata or {})
            merged.update({k.encode(): str(v).encode() for k, v in metadata.items()})
            table = table.replace_schema_metadata(merged)
        buffer = io.BytesIO()
        pq.write_table(table, buffer, **PARQUET_WRITE_OPTIONS)
        self.write_bytes(rel, buffer.getvalue())

    def read_parquet(self, rel: str, columns: list[str] | None = None) -> pa.Table:
        """Read one Parquet file, or every Parquet file under a directory."""
        if not self.exists(rel):
            raise FileNotFoundError(f"{self.uri(rel)} does not exist")
        info = self.fs.get_file_info(self.path(rel))
        if info.type == pafs.FileType.File:
            return pq.read_table(self.path(rel), filesystem=self.fs, columns=columns)
        files = self.list_files(rel, ".parquet")
        if not files:
            raise FileNotFoundError(f"{self.uri(rel)} holds no Parquet files")
        tables = [pq.read_table(self.path(f), filesystem=self.fs, columns=columns) for f in files]
        return pa.concat_tables(tables, promote_options="default")

    def parquet_metadata(self, rel: str) -> dict[str, str]:
        """Key-value metadata of one Parquet file, decoded."""
        schema = pq.read_schema(self.path(rel), filesystem=self.fs)
        return {k.decode(): v.decode() for k, v in (schema.metadata or {}).items() if k != b"ARROW:schema"}

    def delete(self, rel: str) -> None:
        info = self.fs.get_file_info(self.path(rel))
        if info.type == pafs.FileType.Directory:
            self.fs.delete_dir(self.path(rel))
        elif info.type == pafs.FileType.File:
            self.fs.delete_file(self.path(rel))
