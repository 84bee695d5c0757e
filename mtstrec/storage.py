"""One storage root, local or S3, behind a small API with atomic writes.

A root is a URI: a local path (`data/`, `/srv/mtstrec`, `file:///srv/mtstrec`)
or `s3://bucket/prefix`. For S3 the endpoint comes from `MTSTREC_S3_ENDPOINT_URL`
(or `AWS_ENDPOINT_URL`) and the credentials from the usual AWS variables;
pyarrow ignores `AWS_ENDPOINT_URL` on its own, so it is passed explicitly here.

A dataset's files that depend on the logical date (DATED_PATHS) live in one snapshot per
date, `snapshots/date=YYYY-MM-DD/`; `Storage.dated(day)` is the view of a dataset in which
those relative paths resolve into the day's snapshot, so that runs for different days never
share them (docs/operations.md, "Concurrency guarantees").
"""

from __future__ import annotations

import io
import os
import posixpath
import shutil
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

PARQUET_WRITE_OPTIONS = {"compression": "zstd", "write_statistics": True}
# Relative paths (and everything under them) that belong to one logical date.
DATED_PATHS = ("bronze/items", "sequences", "candidates", "features/price")
SNAPSHOTS_DIR = "snapshots"
# Error codes of a conditional PUT that lost against an existing object (or a concurrent writer).
S3_PRECONDITION_CODES = ("PreconditionFailed", "ConditionalRequestConflict")


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

    def dated(self, day: str) -> Storage:
        """This dataset as seen by the run for `day` (YYYY-MM-DD): DATED_PATHS resolve into its snapshot."""
        return DatedStorage(self.uri(), day)

    def undated(self) -> Storage:
        """The dataset itself, where the files every date shares live."""
        return self

    def path(self, *parts: str) -> str:
        """Filesystem path (for `self.fs`) of a relative path ("" is the root itself)."""
        parts = tuple(p for p in parts if p)
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
        temp = self._synced_temp(target, data)
        try:
            os.replace(temp, target)
        finally:
            if os.path.exists(temp):
                os.remove(temp)

    def _synced_temp(self, target: str, data: bytes) -> str:
        """A complete, fsynced local temp file beside `target`, holding `data` (to rename or link into place)."""
        directory = posixpath.dirname(target)
        self.fs.create_dir(directory, recursive=True)
        temp = posixpath.join(directory, f".tmp-{uuid.uuid4().hex}-{posixpath.basename(target)}")
        try:
            with open(temp, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            os.remove(temp)
            raise
        return temp

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

    def create_exclusive(self, rel: str, data: bytes) -> bool:
        """Create `rel` holding `data` only if it does not exist yet; False when it already does.

        Local: a complete temp file hard-linked to the target (link fails if the target exists).
        S3: a conditional PUT (`If-None-Match: *`), which S3 and moto honour atomically.
        """
        target = self.path(rel)
        if self.is_s3:
            from botocore.exceptions import ClientError

            bucket, key = target.split("/", 1)
            try:
                s3_client().put_object(Bucket=bucket, Key=key, Body=data, IfNoneMatch="*")
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in S3_PRECONDITION_CODES:
                    return False
                raise
            return True
        temp = self._synced_temp(target, data)
        try:
            os.link(temp, target)
        except FileExistsError:
            return False
        finally:
            os.remove(temp)
        return True

    def download(self, rel: str, local: str | os.PathLike) -> None:
        """Copy one file to a local path (streamed; the local file is replaced atomically)."""
        os.makedirs(os.path.dirname(os.fspath(local)) or ".", exist_ok=True)
        temp = f"{os.fspath(local)}.tmp-{uuid.uuid4().hex}"
        try:
            with self.fs.open_input_stream(self.path(rel)) as stream, open(temp, "wb") as out:
                shutil.copyfileobj(stream, out, 1 << 20)
            os.replace(temp, local)
        finally:
            if os.path.exists(temp):
                os.remove(temp)

    def upload(self, local: str | os.PathLike, rel: str) -> None:
        """Copy a local file to `rel`; readers see the old object or the whole new one."""
        if not self.is_s3:
            with open(local, "rb") as source:
                self.write_bytes(rel, source.read())
            return
        # An S3 (multipart) upload becomes visible only when it completes.
        with open(local, "rb") as source, self.fs.open_output_stream(self.path(rel)) as out:
            shutil.copyfileobj(source, out, 1 << 20)

    def delete(self, rel: str) -> None:
        info = self.fs.get_file_info(self.path(rel))
        if info.type == pafs.FileType.Directory:
            self.fs.delete_dir(self.path(rel))
        elif info.type == pafs.FileType.File:
            self.fs.delete_file(self.path(rel))


def s3_client():
    """A boto3 S3 client for the configured endpoint (for what pyarrow's filesystem cannot do)."""
    import boto3

    return boto3.client("s3", endpoint_url=s3_endpoint(), region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))


@dataclass
class DatedStorage(Storage):
    """A dataset root whose DATED_PATHS resolve into `snapshots/date=<day>/`; other paths are shared."""

    day: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.day:
            raise ValueError("a dated view needs a day (YYYY-MM-DD)")

    def path(self, *parts: str) -> str:
        rel = posixpath.join(*parts) if parts else ""
        if any(rel == dated or rel.startswith(dated + "/") for dated in DATED_PATHS):
            rel = posixpath.join(SNAPSHOTS_DIR, f"date={self.day}", rel)
        return super().path(rel) if rel else self.base

    def undated(self) -> Storage:
        return Storage(self.root)
