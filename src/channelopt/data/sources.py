"""Read tables from a DataFrame, an iterable of DataFrames, or Parquet/CSV paths and globs, in chunks."""

from __future__ import annotations

import csv
import glob as _glob
import gzip
import os
from pathlib import Path
from typing import Any, Iterable, Iterator

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

__all__ = ["iter_frames", "resolve_paths", "read_table"]

DEFAULT_CHUNK_ROWS = 1_000_000


def resolve_paths(source: str | os.PathLike[str], name: str = "logs") -> list[Path]:
    """Files named by a path, a directory (its ``*.parquet``/``*.csv``) or a glob, sorted."""
    text = os.fspath(source)
    p = Path(text)
    if p.is_dir():
        files = sorted(f for f in [*p.glob("*.parquet"), *p.glob("*.csv"), *p.glob("*.csv.gz")] if f.is_file())
    elif any(ch in text for ch in "*?["):
        files = sorted(Path(f) for f in _glob.glob(text) if Path(f).is_file())
    else:
        files = [p] if p.is_file() else []
    if not files:
        raise ValueError(f"{name}: no Parquet or CSV file at {text!r}")
    for f in files:
        if not _kind(f):
            raise ValueError(f"{name}: {str(f)!r} is neither Parquet (.parquet) nor CSV (.csv, .csv.gz)")
    return files


def _kind(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    return None


def _rebatched(batches: Iterator[pa.RecordBatch], chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Frames of ``chunk_rows`` to ``2 * chunk_rows`` rows (the last one fewer) from Arrow record
    batches: small batches (a Parquet row group's tail) are joined, so every chunk pays its fixed
    costs once, and large ones (a CSV block) are cut.
    A reader whose only batches are empty gives one empty frame (as it did batch by batch), so
    the caller can say the source is empty; a reader with no batches gives none."""
    buf: list[pa.RecordBatch] = []
    rows = total = 0
    empty = None
    for batch in batches:
        if batch.num_rows == 0:
            empty = batch
            continue
        for start in range(0, batch.num_rows, chunk_rows):  # a CSV block can be far larger than a chunk
            piece = batch.slice(start, chunk_rows)
            buf.append(piece)
            rows += piece.num_rows
            total += piece.num_rows
            if rows >= chunk_rows:
                yield pa.Table.from_batches(buf).to_pandas()
                buf, rows = [], 0
    if buf:
        yield pa.Table.from_batches(buf).to_pandas()
    elif empty is not None and total == 0:
        yield empty.to_pandas()


def _iter_file(path: Path, chunk_rows: int, name: str) -> Iterator[pd.DataFrame]:
    if _kind(path) == "parquet":
        try:
            pf = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise ValueError(f"{name}: cannot read Parquet file {str(path)!r} ({exc})") from None
        try:
            yield from _rebatched(pf.iter_batches(batch_size=chunk_rows), chunk_rows)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
            raise ValueError(f"{name}: cannot read Parquet file {str(path)!r} ({' '.join(str(exc).split())[:200]})") from None
    else:
        # every column is read as text (CSV has no types): ids keep leading zeros, a column that is
        # empty in the first block cannot change type later; the schema layer parses the values
        header = csv_header(path, name)
        opts = pacsv.ConvertOptions(strings_can_be_null=True, column_types={c: pa.string() for c in header})
        read = pacsv.ReadOptions(block_size=1 << 24)
        seen = False
        try:
            reader = pacsv.open_csv(path, read_options=read, convert_options=opts)
            for frame in _rebatched(reader, chunk_rows):
                seen = True
                yield frame
        except (pa.ArrowInvalid, OSError) as exc:
            raise csv_error(path, name, exc) from None
        if not seen and header:  # a header-only file: an empty frame, so the caller can say so
            yield pd.DataFrame({c: pd.Series([], dtype=object) for c in header})


def csv_error(path: Path, name: str, exc: BaseException) -> ValueError:
    """One ValueError for a CSV file pyarrow could not read: names the file, and for text that is
    not UTF-8 the line and byte of the first bad byte."""
    bad = _first_non_utf8(path)
    if bad is not None:
        line, byte, value = bad
        return ValueError(f"{name}: cannot read CSV file {str(path)!r}: line {line} (byte {byte}) is not UTF-8 text "
                          f"(byte 0x{value:02x}); save the file as UTF-8")
    text = " ".join(str(exc).split())
    return ValueError(f"{name}: cannot read CSV file {str(path)!r} ({text[:200]})")


def _open_binary(path: Path) -> Any:
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")


def _first_non_utf8(path: Path) -> tuple[int, int, int] | None:
    """``(line, byte offset, byte)`` of the first byte of ``path`` that is not UTF-8 (1-based line), or None."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    lines, offset = 1, 0
    try:
        with _open_binary(path) as fh:
            while True:
                block = fh.read(1 << 20)
                try:
                    decoder.decode(block, final=not block)
                except UnicodeDecodeError as exc:
                    # the bytes before the error decode; a sequence cut at the block's start counts from there
                    at = max(exc.start, 0)
                    return lines + block[:at].count(b"\n"), offset + at, block[at] if at < len(block) else 0
                if not block:
                    return None
                lines += block.count(b"\n")
                offset += len(block)
    except OSError:
        return None


def csv_header(path: Path, name: str = "logs") -> list[str]:
    """Column names of a CSV file (plain or gzipped), from its first line; a ValueError naming the
    file when it cannot be read (not gzip despite its name, not UTF-8, a directory...)."""
    try:
        with _open_binary(path) as fh:
            first = fh.readline(1 << 24)
    except (OSError, EOFError) as exc:  # BadGzipFile is an OSError
        kind = "not a gzip file" if isinstance(exc, gzip.BadGzipFile) else " ".join(str(exc).split())
        raise ValueError(f"{name}: cannot read CSV file {str(path)!r} ({kind})") from None
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{name}: cannot read CSV file {str(path)!r}: line 1 (byte {exc.start}) is not UTF-8 text "
                         f"(byte 0x{first[exc.start]:02x}); save the file as UTF-8") from None
    return next(csv.reader([text]), [])


def iter_frames(source: Any, *, chunk_rows: int = DEFAULT_CHUNK_ROWS, name: str = "logs") -> Iterator[pd.DataFrame]:
    """Yield DataFrame chunks from any supported source.

    Parameters
    ----------
    source : DataFrame, iterable of DataFrames, or path / glob (str or PathLike)
        Parquet files (by record batch) and CSV files (by block) are read with
        pyarrow and yielded in chunks of about ``chunk_rows`` rows (at most
        twice that), so memory stays bounded.

    Examples
    --------
    >>> frames = list(iter_frames(pd.DataFrame({"a": [1, 2]})))
    >>> len(frames), len(frames[0])
    (1, 2)
    """
    if isinstance(source, pd.DataFrame):
        yield source
        return
    if isinstance(source, (str, os.PathLike)):
        for path in resolve_paths(source, name):
            yield from _iter_file(path, chunk_rows, name)
        return
    if isinstance(source, Iterable):
        for k, frame in enumerate(source):
            if not isinstance(frame, pd.DataFrame):
                raise ValueError(f"{name}: item {k} of the iterable is a {type(frame).__name__}, not a DataFrame")
            yield frame
        return
    raise ValueError(f"{name}: expected a DataFrame, an iterable of DataFrames or a path, got {type(source).__name__}")


def read_table(source: Any, *, name: str = "customers") -> pd.DataFrame:
    """Read a whole (smaller) table, e.g. the customers to rank, from any supported source."""
    frames = list(iter_frames(source, name=name))
    if not frames:
        raise ValueError(f"{name}: no rows")
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
