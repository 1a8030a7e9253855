"""File bundles for people and systems that take files: an outbox folder or any fsspec URL.

Each bundle is a folder of tables, each written twice -- CSV in UTF-8 *with* a BOM (so
Excel opens Chinese text correctly) and Parquet (typed, for systems) -- plus a
``manifest.json`` with each file's row count, byte size and SHA-256. The manifest is
written last (and a previous one removed first), so a reader that sees it sees complete
files, and it is written atomically (``write_atomically``), so a crash never leaves a
truncated one: locally a temporary file in the same folder, flushed and fsynced, renamed
over the name (``os.replace``), then the folder fsynced; on other filesystems a
temporary object moved into place (object stores publish an object whole anyway).
Writing the same frames again produces the same bytes: reruns overwrite, never
append, and files of the previous manifest that the new bundle lacks are removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

MANIFEST = "manifest.json"
CSV_ENCODING = "utf-8-sig"  # UTF-8 with BOM


@dataclass(frozen=True)
class ExportedFile:
    name: str
    rows: int
    bytes: int
    sha256: str


def _csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False, lineterminator="\r\n").encode(CSV_ENCODING)


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    sink = io.BytesIO()
    table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def join_url(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


def _fsync_folder(folder: Path) -> None:
    """Make a rename durable: fsync the folder entry (not possible on every OS)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_atomically(fs: fsspec.AbstractFileSystem, path: str, data: bytes) -> None:
    """``path`` holds either its previous content or all of ``data``, never a part."""
    tmp = f"{path}.tmp-{uuid.uuid4().hex}"
    if isinstance(fs, LocalFileSystem):
        local, local_tmp = Path(fs._strip_protocol(path)), Path(fs._strip_protocol(tmp))
        try:
            with local_tmp.open("wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            local_tmp.replace(local)  # atomic on POSIX and Windows
        except BaseException:
            local_tmp.unlink(missing_ok=True)
            raise
        _fsync_folder(local.parent)
        return
    try:
        fs.pipe_file(tmp, data)
        fs.mv(tmp, path)
    except BaseException:
        with contextlib.suppress(Exception):
            fs.rm(tmp)
        raise


def _previous_files(fs: fsspec.AbstractFileSystem, root: str) -> set[str]:
    """Names listed by an existing manifest (plain names only: never outside the folder)."""
    path = join_url(root, MANIFEST)
    if not fs.exists(path):
        return set()
    try:
        with fs.open(path, "r", encoding="utf-8") as handle:
            entries = json.load(handle).get("files", [])
    except (OSError, ValueError, AttributeError):
        return set()
    names = {e.get("name") for e in entries if isinstance(e, dict)}
    return {n for n in names if isinstance(n, str) and n and "/" not in n and n != MANIFEST}


def write_bundle(
    outbox: str,
    folder: str,
    tables: Mapping[str, pd.DataFrame],
    meta: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``tables`` (name -> frame) under ``<outbox>/<folder>/`` and return the manifest."""
    fs, root = fsspec.core.url_to_fs(join_url(outbox, folder))
    fs.makedirs(root, exist_ok=True)
    previous = _previous_files(fs, root)
    if fs.exists(join_url(root, MANIFEST)):  # no reader may pair it with half-new files
        fs.rm(join_url(root, MANIFEST))
    files: list[ExportedFile] = []
    for name, frame in tables.items():
        for suffix, payload in ((".csv", _csv_bytes(frame)), (".parquet", _parquet_bytes(frame))):
            path = join_url(root, name + suffix)
            with fs.open(path, "wb") as handle:
                handle.write(payload)
            files.append(
                ExportedFile(
                    name=name + suffix,
                    rows=len(frame),
                    bytes=len(payload),
                    sha256=hashlib.sha256(payload).hexdigest(),
                )
            )
    for stale in sorted(previous - {f.name for f in files}):
        if fs.exists(join_url(root, stale)):
            fs.rm(join_url(root, stale))
    manifest = {
        **dict(meta or {}),
        "files": [f.__dict__ for f in files],
        "total_rows": {name: len(frame) for name, frame in tables.items()},
    }
    text = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    write_atomically(fs, join_url(root, MANIFEST), text.encode("utf-8"))
    return manifest


def verify_bundle(outbox: str, folder: str) -> dict[str, Any]:
    """Re-read a bundle and check every file against its manifest (raises on mismatch)."""
    fs, root = fsspec.core.url_to_fs(join_url(outbox, folder))
    with fs.open(join_url(root, MANIFEST), "r", encoding="utf-8") as handle:
        manifest = json.load(handle)
    for entry in manifest["files"]:
        data = fs.cat_file(join_url(root, entry["name"]))
        digest = hashlib.sha256(data).hexdigest()
        if digest != entry["sha256"] or len(data) != entry["bytes"]:
            raise ValueError(f"{entry['name']} in {folder} does not match its manifest")
    return manifest
