"""Atomic, checksummed directories of ``.npy`` arrays plus ``manifest.json``. Never pickle."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["write_directory", "read_directory", "sha256_file"]

MANIFEST = "manifest.json"


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fresh_sibling(target: Path, kind: str) -> Path:
    """An unused hidden name beside ``target`` (``.NAME.tmp-PID-RANDOM``)."""
    return target.parent / f".{target.name}.{kind}-{os.getpid()}-{secrets.token_hex(6)}"


def write_directory(path: str | os.PathLike[str], arrays: dict[str, np.ndarray], manifest: dict[str, Any]) -> Path:
    """Write ``arrays`` and ``manifest`` to directory ``path`` atomically.

    Everything goes to a temporary sibling first (each file fsynced), which is
    then renamed into place; an existing directory at ``path`` is replaced only
    after the new one is complete, so a crash leaves either the old or the new
    model, never a half-written one. (Replacing takes two renames: the old model
    is moved to a hidden ``.<name>.old-*`` sibling, then the new one into place;
    if the second fails the old one is moved back.)

    Examples
    --------
    >>> import tempfile, os
    >>> d = os.path.join(tempfile.mkdtemp(), "m")
    >>> _ = write_directory(d, {"x": np.arange(3)}, {"format_version": 1})
    >>> read_directory(d)[1]["x"].tolist()
    [0, 1, 2]
    """
    target = Path(path)
    if target.exists() and not (target.is_dir() and ((target / MANIFEST).is_file() or not any(target.iterdir()))):
        raise ValueError(f"{target}: exists and is not a saved model (no {MANIFEST}); refusing to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _fresh_sibling(target, "tmp")
    os.mkdir(tmp)  # honours the umask (mkdtemp would force 0700 and lock out other readers)
    try:
        entries: dict[str, Any] = {}
        for name, arr in arrays.items():
            arr = np.ascontiguousarray(arr)
            if arr.dtype == object:
                raise TypeError(f"refusing to save object array {name!r} (no pickle)")
            file = tmp / f"{name}.npy"
            with open(file, "wb") as fh:
                np.save(fh, arr, allow_pickle=False)
                fh.flush()
                os.fsync(fh.fileno())
            entries[name] = {"file": file.name, "dtype": arr.dtype.str, "shape": list(arr.shape),
                             "sha256": sha256_file(file)}
        full = dict(manifest)
        full["arrays"] = entries
        with open(tmp / MANIFEST, "w", encoding="utf-8") as fh:
            json.dump(full, fh, indent=2, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        _fsync_dir(tmp)
        old = None
        if target.exists():
            old = _fresh_sibling(target, "old")
            os.rename(target, old)
        try:
            os.rename(tmp, target)
        except BaseException:
            if old is not None:
                os.rename(old, target)  # put the previous model back
            raise
        _fsync_dir(target.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def read_directory(path: str | os.PathLike[str], *, verify: bool = True,
                   mmap: bool = True) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read a directory written by :func:`write_directory`.

    Arrays are memory-mapped read-only (``mmap=True``); with ``verify`` each
    file's SHA-256 is checked against the manifest. Any mismatch, missing file
    or shape/dtype difference raises a ValueError naming the file.
    """
    root = Path(path)
    mpath = root / MANIFEST
    if not mpath.is_file():
        raise ValueError(f"{root}: not a saved model (no {MANIFEST})")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{mpath}: corrupt manifest ({exc})") from None
    entries = manifest.get("arrays")
    if not isinstance(entries, dict):
        raise ValueError(f"{mpath}: manifest lists no arrays")
    arrays: dict[str, np.ndarray] = {}
    for entry in entries.values():
        if not (root / entry["file"]).is_file():
            raise ValueError(f"{root}: array file {entry['file']!r} is missing")
    digests: dict[str, str] = {}
    if verify:  # hashlib releases the GIL: the files are hashed on every core at once
        with ThreadPoolExecutor(max_workers=max(1, min(len(entries), os.cpu_count() or 1))) as pool:
            digests = dict(zip(entries, pool.map(lambda e: sha256_file(root / e["file"]), entries.values())))
    for name, entry in entries.items():
        file = root / entry["file"]
        if verify and digests[name] != entry["sha256"]:
            raise ValueError(f"{file}: checksum mismatch (the file was changed or corrupted)")
        try:
            use_mmap = mmap and int(np.prod(entry["shape"])) > 0  # an empty array cannot be mapped
            arr = np.load(file, mmap_mode="r" if use_mmap else None, allow_pickle=False)
        except ValueError as exc:
            raise ValueError(f"{file}: unreadable array ({exc})") from None
        if arr.dtype.str != entry["dtype"] or list(arr.shape) != list(entry["shape"]):
            raise ValueError(f"{file}: expected {entry['dtype']} {entry['shape']}, found {arr.dtype.str} {list(arr.shape)}")
        arrays[name] = arr
    return manifest, arrays
