"""Parquet and CSV files of the front-ends: the distinct values of a few columns, and atomic table writes.

:func:`distinct_values` reads only the columns it needs (Parquet column
projection, CSV ``include_columns``) in batches, so finding the channels of a
log of hundreds of millions of rows costs one pass over one column.
:func:`write_table` writes a decisions table to ``.parquet`` or ``.csv``
(``.csv.gz``) through a temporary file in the target directory and a rename,
so a reader never sees half a file.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from channelopt.data.sources import csv_error, csv_header

__all__ = ["distinct_values", "output_kind", "write_table"]


def distinct_values(path: Path, columns: list[str]) -> dict[str, set[str]]:
    """Distinct non-null values of ``columns`` of one Parquet/CSV file (column projection only), as text.

    A missing ``channel`` column (when asked for) is an error; other missing columns have no values.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "logs.csv"
    >>> pd.DataFrame({"channel": ["sms", "email", "sms"]}).to_csv(path, index=False)
    >>> distinct_values(path, ["channel", "wording"]) == {"channel": {"email", "sms"}, "wording": set()}
    True
    """
    out: dict[str, set[str]] = {c: set() for c in columns}
    if path.name.lower().endswith((".parquet", ".pq")):
        try:
            pf = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise ValueError(f"logs: cannot read Parquet file {str(path)!r} ({exc})") from None
        present = [c for c in columns if c in pf.schema_arrow.names]
        batches = pf.iter_batches(columns=present, batch_size=1_000_000) if present else iter(())
    else:
        header = csv_header(path, "logs")
        present = [c for c in columns if c in header]
        if present:
            opts = pacsv.ConvertOptions(include_columns=present, column_types={c: pa.string() for c in present},
                                        strings_can_be_null=True)
            try:
                batches = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 24),
                                         convert_options=opts)
            except (pa.ArrowInvalid, OSError) as exc:
                raise csv_error(path, "logs", exc) from None
        else:
            batches = iter(())
    if "channel" in columns and "channel" not in present:
        raise ValueError(f"logs: missing required column 'channel' in {str(path)!r}")
    try:
        for batch in batches:
            for c in present:
                col = batch.column(batch.schema.get_field_index(c))
                if pa.types.is_dictionary(col.type):
                    col = col.dictionary_decode()
                for v in pc.unique(col.drop_null()).to_pylist():
                    out[c].add(str(v))
    except (pa.ArrowInvalid, OSError) as exc:  # pyarrow reads lazily: a bad block shows up here
        if path.name.lower().endswith((".parquet", ".pq")):
            raise ValueError(f"logs: cannot read Parquet file {str(path)!r} ({' '.join(str(exc).split())[:200]})") from None
        raise csv_error(path, "logs", exc) from None
    return out



def output_kind(out: Any) -> str:
    """``"parquet"`` or ``"csv"`` by the extension of ``out`` (``.parquet``/``.pq``, ``.csv``/``.csv.gz``).

    Examples
    --------
    >>> output_kind("out/decisions.csv.gz")
    'csv'
    """
    name = os.fspath(out).lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    raise ValueError(f"--out: {os.fspath(out)!r} must end in .parquet or .csv")


def write_table(frame: pd.DataFrame, out: Any) -> Path:
    """Write ``frame`` to Parquet or CSV (by extension) atomically: temporary file, then rename.

    Examples
    --------
    >>> import tempfile
    >>> target = write_table(pd.DataFrame({"a": [1, 2]}), Path(tempfile.mkdtemp()) / "t.csv")
    >>> target.read_text().split()
    ['a', '1', '2']
    """
    kind = output_kind(out)
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    # a fresh name created by the writer itself, so the file gets the usual (umask) permissions
    tmp = target.parent / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        if kind == "parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False, compression="gzip" if target.name.lower().endswith(".gz") else None)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
