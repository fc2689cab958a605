"""Saved directories of ``.npy`` arrays plus ``manifest.json``: atomic, versioned, checked. Never pickle.

Layout
------
::

    PATH/
      CURRENT                 the name of the live version ("v-000000000007"), replaced atomically
      v-000000000007/
        manifest.json         format, fields, one entry per array, integrity (SHA-256, optional HMAC)
        sends.npy ...

A save writes a new version beside the live one (``.tmp-<pid>-<random>/``,
every file fsynced), renames it to the next ``v-<n>`` and then replaces
``CURRENT`` with :func:`os.replace`, the one atomic step: at every instant
``PATH`` holds a complete model, the old one or the new one. Older versions and
the temporaries of saves that died (their process is gone) are removed by the
next save, and the temporaries also by the next load. Directories written by
channelopt before versions existed (``manifest.json`` at ``PATH`` itself) still
load, and the next save turns them into this layout, again without a gap.

Reading checks everything before an array reaches a kernel: the manifest's own
checksum (and HMAC with a key), entry names that are bare file names inside the
version (no path, no symlink), every ``.npy`` header against the manifest and
the file's size (so no declared size is trusted before it is read), and, with
``verify``, each file's SHA-256. Every problem is one ValueError naming the
file and the field.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import re
import secrets
import shutil
import stat
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib import format as npy

from channelopt.core.values import short

__all__ = ["write_directory", "read_directory", "sha256_file", "version_directory", "is_saved", "sealed",
           "MANIFEST"]

MANIFEST = "manifest.json"
CURRENT = "CURRENT"
_VERSION = re.compile(r"v-(\d{12})")
_ENTRY = re.compile(r"[A-Za-z0-9_]{1,64}")
_FILE = re.compile(r"[A-Za-z0-9_]{1,64}\.npy")
_DTYPE = re.compile(r"[<|][biuf][1248]")
_SHA = re.compile(r"[0-9a-f]{64}")
_TEMP = re.compile(r"\.(?:tmp|CURRENT\.tmp)-(\d+)-[0-9a-f]+")
_MAX_MANIFEST = 16 << 20  # bytes: a manifest is a few kB; more is not a manifest
_MAX_DIMS = 4
_RETRIES = 20  # reads that met a version removed by a concurrent save try the new one


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


def _canonical(body: dict[str, Any]) -> bytes:
    """The bytes the manifest's checksum covers: the manifest without ``integrity``, canonical JSON."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def _key_bytes(key: Any) -> bytes | None:
    if key is None:
        return None
    if isinstance(key, str):
        key = key.encode("utf-8")
    if not isinstance(key, (bytes, bytearray)):
        raise TypeError(f"key: must be bytes or str, got {type(key).__name__}")
    if not key:
        raise ValueError("key: must not be empty")
    return bytes(key)


def _integrity(body: dict[str, Any], key: bytes | None) -> dict[str, str]:
    blob = _canonical(body)
    out = {"sha256": hashlib.sha256(blob).hexdigest()}
    if key is not None:
        out["hmac_sha256"] = hmac.new(key, blob, "sha256").hexdigest()
    return out


def sealed(manifest: dict[str, Any], key: Any = None) -> dict[str, Any]:
    """``manifest`` with its ``integrity`` entry recomputed (SHA-256, and the HMAC with ``key``)."""
    body = {k: v for k, v in manifest.items() if k != "integrity"}
    return dict(body, integrity=_integrity(body, _key_bytes(key)))


# -- layout ------------------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid() or os.name == "nt":  # on Windows os.kill(pid, 0) would end the process
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process, or no permission to ask: assume it lives
        return True
    return True


def _remove(path: Path) -> None:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink()
    except OSError:
        pass


def clean_stale(target: Path) -> None:
    """Remove what saves that died left behind: their temporaries inside ``target`` and (from
    the layout before versions) the hidden ``.NAME.tmp-*`` / ``.NAME.old-*`` siblings. A
    ``.NAME.old-*`` sibling of a missing model is the model: it is put back. Best effort."""
    try:
        inside = list(target.iterdir()) if target.is_dir() else []
        beside = list(target.parent.iterdir()) if target.parent.is_dir() else []
    except OSError:
        return
    for entry in inside:
        m = _TEMP.fullmatch(entry.name)
        if m and not _pid_alive(int(m.group(1))):
            _remove(entry)
    sibling = re.compile(rf"\.{re.escape(target.name)}\.(tmp|old)-(\d+)-[0-9a-f]+")
    for entry in beside:
        m = sibling.fullmatch(entry.name)
        if not m or _pid_alive(int(m.group(2))):
            continue
        if m.group(1) == "old" and not is_saved(target):
            if (entry / MANIFEST).is_file():  # killed between the two renames: this is the model
                try:
                    if target.is_dir():
                        target.rmdir()  # only when empty
                    os.rename(entry, target)
                except OSError:
                    pass
            continue  # never delete the only copy
        _remove(entry)


def _versions(target: Path) -> list[tuple[int, Path]]:
    try:
        found = [(int(m.group(1)), e) for e in target.iterdir() if (m := _VERSION.fullmatch(e.name))]
    except OSError:
        return []
    return sorted(found)


def _current_name(target: Path) -> str | None:
    """The live version's name from ``CURRENT`` (None: no pointer, the layout before versions)."""
    pointer = target / CURRENT
    try:
        with open(pointer, "rb") as fh:
            raw = fh.read(64)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise ValueError(f"{pointer}: unreadable ({exc.strerror})") from None
    try:
        name = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        name = ""
    if not _VERSION.fullmatch(name):
        raise ValueError(f"{pointer}: does not name a version (expected v-<12 digits>, found {short(raw)})")
    return name


def version_directory(path: str | os.PathLike[str]) -> Path:
    """The directory holding the live version's files (``PATH/v-<n>``, or ``PATH`` itself for a
    directory saved before versions existed).

    Examples
    --------
    >>> import tempfile, os
    >>> d = os.path.join(tempfile.mkdtemp(), "m")
    >>> _ = write_directory(d, {"x": np.arange(3)}, {"format_version": 1})
    >>> version_directory(d).name
    'v-000000000001'
    """
    root = Path(path)
    name = _current_name(root)
    return root if name is None else root / name


def is_saved(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` holds a saved directory (either layout)."""
    root = Path(path)
    return (root / CURRENT).is_file() or (root / MANIFEST).is_file()


# -- writing -----------------------------------------------------------------------------


def _write_version(tmp: Path, arrays: dict[str, np.ndarray], manifest: dict[str, Any], key: bytes | None) -> None:
    entries: dict[str, Any] = {}
    for name, arr in arrays.items():
        if not _ENTRY.fullmatch(name):
            raise ValueError(f"array name {short(name)}: must be 1-64 letters, digits or underscores")
        arr = np.ascontiguousarray(arr)
        if not _DTYPE.fullmatch(arr.dtype.str):
            raise TypeError(f"refusing to save array {name!r} of dtype {arr.dtype} (plain numbers only; no pickle)")
        file = tmp / f"{name}.npy"
        with open(file, "wb") as fh:
            np.save(fh, arr, allow_pickle=False)
            fh.flush()
            os.fsync(fh.fileno())
        entries[name] = {"file": file.name, "dtype": arr.dtype.str, "shape": list(arr.shape),
                         "sha256": sha256_file(file)}
    body = sealed(dict(manifest, arrays=entries), key)
    with open(tmp / MANIFEST, "w", encoding="utf-8") as fh:
        json.dump(body, fh, indent=2, sort_keys=True, allow_nan=False)
        fh.flush()
        os.fsync(fh.fileno())
    _fsync_dir(tmp)


def _drop_if_empty(target: Path, created: bool) -> None:
    """After a failed first save: remove the directory it created (only if still empty)."""
    if created:
        try:
            target.rmdir()
        except OSError:
            pass


def _point(target: Path, name: str) -> None:
    """Make ``name`` the live version: write a new ``CURRENT`` aside, then rename it over the old."""
    tmp = target / f".CURRENT.tmp-{os.getpid()}-{secrets.token_hex(6)}"
    try:
        with open(tmp, "w", encoding="ascii") as fh:
            fh.write(name + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target / CURRENT)
    except BaseException:
        _remove(tmp)
        raise
    _fsync_dir(target)


def write_directory(path: str | os.PathLike[str], arrays: dict[str, np.ndarray], manifest: dict[str, Any],
                    *, key: Any = None) -> Path:
    """Write ``arrays`` and ``manifest`` as a new version of directory ``path``, atomically.

    The previous version stays live until the new one is complete and fsynced;
    then one rename of the ``CURRENT`` pointer switches readers over (see the
    module docstring). ``key`` (bytes or str) adds an HMAC-SHA256 of the
    manifest, which :func:`read_directory` with the same key requires.

    Examples
    --------
    >>> import tempfile, os
    >>> d = os.path.join(tempfile.mkdtemp(), "m")
    >>> _ = write_directory(d, {"x": np.arange(3)}, {"format_version": 1})
    >>> read_directory(d)[1]["x"].tolist()
    [0, 1, 2]
    """
    secret = _key_bytes(key)
    target = Path(path)
    clean_stale(target)
    if target.exists() and not (target.is_dir() and (is_saved(target) or not any(target.iterdir()))):
        raise ValueError(f"{target}: exists and is not a saved model (no {MANIFEST}); refusing to replace it")
    created = not target.exists()
    target.mkdir(parents=True, exist_ok=True)
    tmp = target / f".tmp-{os.getpid()}-{secrets.token_hex(6)}"
    try:
        os.mkdir(tmp)  # honours the umask (mkdtemp would force 0700 and lock out other readers)
    except BaseException:
        _drop_if_empty(target, created)
        raise
    try:
        _write_version(tmp, arrays, manifest, secret)
        number = max([n for n, _ in _versions(target)], default=0) + 1
        for _ in range(1000):  # another process may take the same number first
            try:
                os.rename(tmp, target / f"v-{number:012d}")
                break
            except OSError:
                if not (target / f"v-{number:012d}").exists():
                    raise
                number += 1
        else:
            raise OSError(f"{target}: no free version number")
    except BaseException:
        _remove(tmp)
        _drop_if_empty(target, created)
        raise
    name = f"v-{number:012d}"
    try:
        _point(target, name)
    except BaseException:
        _remove(target / name)
        raise
    for n, old in _versions(target):  # older versions, and the files of the layout before versions
        if n < number:
            _remove(old)
    if (target / MANIFEST).is_file():
        for entry in target.iterdir():
            if entry.name == MANIFEST or (entry.suffix == ".npy" and entry.is_file()):
                _remove(entry)
    _fsync_dir(target)
    return target


# -- reading -----------------------------------------------------------------------------


def _field(mpath: Path, name: str, problem: str) -> ValueError:
    return ValueError(f"{mpath}: field '{name}' {problem}")


def _read_manifest(mpath: Path) -> dict[str, Any]:
    try:
        st = os.stat(mpath)
        if st.st_size > _MAX_MANIFEST:
            raise ValueError(f"{mpath}: {st.st_size:,} bytes is too large for a manifest")
        text = mpath.read_bytes().decode("utf-8")
        manifest = json.loads(text, parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise ValueError(f"{mpath}: corrupt manifest (not UTF-8 text)") from None
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"{mpath}: corrupt manifest ({short(str(exc))})") from None
    if not isinstance(manifest, dict):
        raise ValueError(f"{mpath}: corrupt manifest (a JSON object expected, found {type(manifest).__name__})")
    return manifest


def _no_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not a number", name, 0)


def _check_integrity(mpath: Path, manifest: dict[str, Any], key: bytes | None, unchecked_ok: bool) -> None:
    seal = manifest.get("integrity")
    if seal is None:
        if key is not None:
            raise _field(mpath, "integrity", "is missing: the model is not signed (save it with key=)")
        if unchecked_ok:  # written before manifests carried a checksum
            return
        raise _field(mpath, "integrity", "is missing")
    if not isinstance(seal, dict) or not isinstance(seal.get("sha256"), str):
        raise _field(mpath, "integrity", f"must be an object with a 'sha256', got {short(seal)}")
    body = {k: v for k, v in manifest.items() if k != "integrity"}
    try:
        blob = _canonical(body)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{mpath}: corrupt manifest ({exc})") from None
    if not hmac.compare_digest(hashlib.sha256(blob).hexdigest(), seal["sha256"]):
        raise ValueError(f"{mpath}: checksum mismatch (the manifest was changed or corrupted)")
    if key is not None:
        mac = seal.get("hmac_sha256")
        if not isinstance(mac, str):
            raise _field(mpath, "integrity.hmac_sha256", "is missing: the model is not signed (save it with key=)")
        if not hmac.compare_digest(hmac.new(key, blob, "sha256").hexdigest(), mac):
            raise ValueError(f"{mpath}: signature mismatch (not saved with this key, or changed since)")


def _entries(mpath: Path, manifest: dict[str, Any]) -> dict[str, tuple[str, str, tuple[int, ...], str | None]]:
    """The manifest's ``arrays`` checked: ``name -> (file, dtype, shape, sha256)``."""
    entries = manifest.get("arrays")
    if not isinstance(entries, dict) or not entries:
        raise _field(mpath, "arrays", "must be an object listing the arrays")
    out = {}
    for name, entry in entries.items():
        if not isinstance(name, str) or not _ENTRY.fullmatch(name):
            raise _field(mpath, f"arrays.{short(name, 40)}", "is not an array name (letters, digits, underscores)")
        where = f"arrays.{name}"
        if not isinstance(entry, dict):
            raise _field(mpath, where, f"must be an object, got {type(entry).__name__}")
        file, dtype, shape, digest = (entry.get(k) for k in ("file", "dtype", "shape", "sha256"))
        if not isinstance(file, str) or not _FILE.fullmatch(file):
            raise _field(mpath, f"{where}.file", f"must be a bare file name NAME.npy inside the directory, "
                                                 f"got {short(file)}")
        if not isinstance(dtype, str) or not _DTYPE.fullmatch(dtype):
            raise _field(mpath, f"{where}.dtype", f"must be a plain numeric dtype such as '<f4', got {short(dtype)}")
        if (not isinstance(shape, list) or len(shape) > _MAX_DIMS
                or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2**40 for d in shape)):
            raise _field(mpath, f"{where}.shape", f"must be a list of at most {_MAX_DIMS} sizes >= 0, "
                                                  f"got {short(shape)}")
        if not isinstance(digest, str) or not _SHA.fullmatch(digest):
            raise _field(mpath, f"{where}.sha256", f"must be 64 hex digits, got {short(digest)}")
        out[name] = (file, dtype, tuple(shape), digest)
    return out


def _check_file(file: Path, dtype: str, shape: tuple[int, ...]) -> None:
    """A regular file (not a link) whose ``.npy`` header says ``dtype``/``shape`` and whose size
    is exactly the header plus that many bytes: checked before numpy maps it."""
    try:
        st = os.lstat(file)
    except FileNotFoundError:
        raise ValueError(f"{file.parent}: array file {file.name!r} is missing") from None
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"{file}: not a regular file (links are not followed)")
    try:
        with open(file, "rb") as fh:
            version = npy.read_magic(fh)
            if version == (1, 0):
                h_shape, fortran, h_dtype = npy.read_array_header_1_0(fh)
            elif version == (2, 0):
                h_shape, fortran, h_dtype = npy.read_array_header_2_0(fh)
            else:
                raise ValueError(f"unsupported .npy version {version}")
            start = fh.tell()
    except Exception as exc:  # numpy's header parser raises ValueError, SyntaxError, tokenize errors...
        raise ValueError(f"{file}: unreadable array header ({short(str(exc))})") from None
    if fortran or h_dtype.hasobject or h_dtype.str != dtype or tuple(h_shape) != shape:
        raise ValueError(f"{file}: header declares {h_dtype.str if not h_dtype.hasobject else 'object'} "
                         f"{list(h_shape)}{' (Fortran order)' if fortran else ''}, manifest says {dtype} {list(shape)}")
    want = start + math.prod(shape) * np.dtype(dtype).itemsize
    if st.st_size != want:
        raise ValueError(f"{file}: {st.st_size:,} bytes, its header declares {want:,}")


def read_directory(path: str | os.PathLike[str], *, verify: bool = True, mmap: bool = True, key: Any = None,
                   unchecked_ok: Any = None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read the live version of a directory written by :func:`write_directory`.

    Arrays are memory-mapped read-only (``mmap=True``). The manifest, entry
    names and every array header are always checked; with ``verify`` each
    file's SHA-256 too; with ``key`` the manifest's HMAC. ``unchecked_ok(manifest)``
    says whether a manifest without a checksum (written by an older version)
    is accepted. Any problem raises a ValueError naming the file and the field.
    """
    secret = _key_bytes(key)
    root = Path(path)
    clean_stale_temporaries(root)
    for attempt in range(_RETRIES):
        vdir = version_directory(root)
        mpath = vdir / MANIFEST
        if mpath.is_file():
            break
        if vdir == root or attempt == _RETRIES - 1:
            if vdir == root:
                raise ValueError(f"{root}: not a saved model (no {MANIFEST})")
            raise ValueError(f"{vdir}: the live version is missing")
        time.sleep(0.005)  # a concurrent save replaced the version between the two reads
    manifest = _read_manifest(mpath)
    _check_integrity(mpath, manifest, secret, bool(unchecked_ok and unchecked_ok(manifest)))
    entries = _entries(mpath, manifest)
    for file, dtype, shape, _ in entries.values():
        _check_file(vdir / file, dtype, shape)
    if verify:  # hashlib releases the GIL: the files are hashed on every core at once
        with ThreadPoolExecutor(max_workers=max(1, min(len(entries), os.cpu_count() or 1))) as pool:
            digests = dict(zip(entries, pool.map(lambda e: sha256_file(vdir / e[0]), entries.values())))
        for name, (file, _, _, digest) in entries.items():
            if not hmac.compare_digest(digests[name], digest):
                raise ValueError(f"{vdir / file}: checksum mismatch (the file was changed or corrupted)")
    arrays: dict[str, np.ndarray] = {}
    for name, (file, dtype, shape, _) in entries.items():
        use_mmap = mmap and math.prod(shape) > 0  # an empty array cannot be mapped
        try:
            arr = np.load(vdir / file, mmap_mode="r" if use_mmap else None, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise ValueError(f"{vdir / file}: unreadable array ({short(str(exc))})") from None
        if arr.dtype.str != dtype or arr.shape != shape:  # the file changed since its header was read
            raise ValueError(f"{vdir / file}: expected {dtype} {list(shape)}, found {arr.dtype.str} {list(arr.shape)}")
        arrays[name] = arr
    return manifest, arrays


def clean_stale_temporaries(root: Path) -> None:
    """On load: remove the temporaries of dead saves (best effort; read-only directories are left alone)."""
    writable = os.access(root, os.W_OK) if root.is_dir() else (not root.exists() and os.access(root.parent, os.W_OK))
    if writable:
        clean_stale(root)
