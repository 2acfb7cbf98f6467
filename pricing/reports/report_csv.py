"""CSV for what-if grids: fast, lean, and byte for byte what `DataFrame.to_csv(index=False)` writes.

A million-row grid through `to_csv` took ~25 s and ~750 MB (every cell went through Python's csv writer, and
the whole text was built in memory). Here the grid is encoded in chunks of rows, column by column, with numpy:

- each cell is a few byte "pieces" (an n x w uint8 matrix and a per-row length); a row is its pieces side by
  side and the CSV bytes of a chunk are the matrix of all pieces masked by the lengths (`matrix[mask]`);
- floats are formatted like pandas (numpy's shortest round-trip repr): a value that is exactly a decimal with
  at most 6 decimals, 0 or 1e-4 <= |v| < 1e9, is written from its integer and fraction parts (at most 15
  significant digits, so that decimal is the value's shortest repr); any other value is formatted once per
  distinct value with numpy, as pandas does; NaN is empty;
- integers (numpy or nullable Int64, <NA> empty) digit by digit in integer arithmetic; anything else once per
  distinct value with `str()`, quoted by the csv module itself (QUOTE_MINIMAL), missing values empty.

Frames this does not model (dates, a single column) go through `to_csv` chunk by chunk, still streamed.
tests/pricing/test_report_csv.py checks the bytes against `to_csv` on grids, tricky frames and random values.
"""

from __future__ import annotations

import csv
import io
from typing import BinaryIO, Iterator

import numpy as np
import pandas as pd

__all__ = ["csv_chunks", "write_csv", "csv_text", "CHUNK_ROWS"]

CHUNK_ROWS = 50_000
SCALE = 10**6  # the fast path's decimals
POW10 = 10 ** np.arange(19, dtype=np.int64)
_Piece = tuple[np.ndarray, np.ndarray]  # (n x w uint8 matrix, per-row byte length)


def _quote(text: str) -> str:
    """One field as pandas' csv writer quotes it (QUOTE_MINIMAL, "\\n" line ends; the rule varies by Python)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_MINIMAL).writerow([text, ""])
    return buffer.getvalue()[:-2]  # without the ",\n" of the empty second field (a lone empty field is quoted)


def _matrix(strings: np.ndarray) -> np.ndarray:
    """A bytes (S) array as an n x itemsize uint8 matrix."""
    strings = np.ascontiguousarray(strings)
    return strings.view(np.uint8).reshape(len(strings), strings.dtype.itemsize)


def _constant(text: bytes, n: int, lengths: np.ndarray | None = None) -> _Piece:
    """The same bytes on every row (where `lengths` is not given), e.g. a separator."""
    matrix = np.broadcast_to(np.frombuffer(text, dtype=np.uint8), (n, len(text)))
    return matrix, np.full(n, len(text), dtype=np.int64) if lengths is None else lengths


def _digits(values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Non-negative integers as left-aligned ASCII digits (n x the longest length), arithmetic only."""
    width = int(lengths.max()) if len(lengths) else 1
    matrix = np.empty((len(values), width), dtype=np.uint8)
    for j in range(width):
        matrix[:, j] = values // POW10[np.maximum(lengths - 1 - j, 0)] % 10 + 48
    return matrix


def _n_digits(values: np.ndarray) -> np.ndarray:
    """Decimal digits of non-negative integers (0 has one)."""
    return np.maximum(np.searchsorted(POW10, values, side="right"), 1)


def _int_pieces(values: np.ndarray, missing: np.ndarray | None = None) -> list[_Piece]:
    """Integers as numpy and str() write them; missing rows empty."""
    n = len(values)
    shown = np.ones(n, dtype=bool) if missing is None else ~missing
    magnitude = np.abs(values.astype(np.int64))
    lengths = _n_digits(magnitude)
    pieces = []
    negative = shown & (values < 0)
    if negative.any():
        pieces.append(_constant(b"-", n, negative.astype(np.int64)))
    pieces.append((_digits(magnitude, lengths), np.where(shown, lengths, 0)))
    return pieces


def _float_pieces(values: np.ndarray) -> list[_Piece]:
    """Floats exactly as pandas writes them (numpy's shortest repr, NaN empty), vectorised."""
    n = len(values)
    magnitude = np.abs(values)
    fast = np.isfinite(values) & (magnitude < 1e9) & ((magnitude >= 1e-4) | (magnitude == 0))
    scaled = np.rint(np.where(fast, magnitude, 0.0) * SCALE)
    fast &= scaled / SCALE == np.where(fast, magnitude, 0.0)
    whole, frac = np.divmod(np.where(fast, scaled, 0).astype(np.int64), SCALE)
    pieces: list[_Piece] = []
    if fast.any():
        zero = np.zeros(n, dtype=np.int64)
        negative = fast & np.signbit(values)
        if negative.any():
            pieces.append(_constant(b"-", n, negative.astype(np.int64)))
        lengths = np.where(fast, _n_digits(whole), zero)
        pieces.append((_digits(whole, np.maximum(lengths, 1)), lengths))
        pieces.append(_constant(b".", n, fast.astype(np.int64)))
        trailing = sum((frac % POW10[power] == 0).astype(np.int64) for power in range(1, 7))
        kept = np.where(fast, np.maximum(6 - trailing, 1), zero)  # 0.5 -> "5", 0 -> "0"
        width = int(kept.max())
        digits = np.empty((n, width), dtype=np.uint8)
        for j in range(width):
            digits[:, j] = frac // POW10[5 - j] % 10 + 48
        pieces.append((digits, kept))
    slow = ~fast & ~np.isnan(values)
    if slow.any():
        distinct, inverse = np.unique(values[slow], return_inverse=True)
        text = distinct.astype(str)  # numpy's formatting, as DataFrame.to_csv uses
        text = text.astype(f"S{max(1, int(np.strings.str_len(text).max()))}")
        strings = np.zeros(n, dtype=text.dtype)
        strings[slow] = text[inverse.ravel()]
        lengths = np.zeros(n, dtype=np.int64)
        lengths[slow] = np.strings.str_len(strings[slow])
        pieces.append((_matrix(strings), lengths))
    return pieces or [_constant(b"", n, np.zeros(n, dtype=np.int64))]


HOMOGENEOUS = {"string", "integer", "floating", "boolean", "empty", "decimal", "bytes", "categorical"}


def _generic_pieces(column: pd.Series) -> list[_Piece]:
    """Any other column: str() once per distinct value, quoted like csv, missing values empty.

    Equal values of different types (True, 1, 1.0) print differently, so a mixed object column is keyed by
    (value, type); the type of each cell is read by pandas' C loop, never Python code per row.
    """
    values = column.to_numpy()
    codes, _ = pd.factorize(column, use_na_sentinel=True)
    if values.dtype == object and pd.api.types.infer_dtype(column, skipna=True) not in HOMOGENEOUS:
        type_codes, types = pd.factorize(column.map(type, na_action="ignore"), use_na_sentinel=True)
        codes = np.where(codes < 0, -1, codes.astype(np.int64) * max(len(types), 1) + type_codes)
    keys, first, codes = np.unique(codes, return_index=True, return_inverse=True)
    table = [b"" if key < 0 else _quote(str(values[row])).encode("utf-8") for key, row in zip(keys, first)]
    strings = np.array(table, dtype=f"S{max(1, max(len(t) for t in table))}")
    lengths = np.array([len(t) for t in table], dtype=np.int64)
    codes = codes.ravel()
    return [(_matrix(strings[codes]), lengths[codes])]


def _column_pieces(column: pd.Series) -> list[_Piece]:
    """The byte pieces of one column."""
    dtype = column.dtype
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        return _float_pieces(column.to_numpy())
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        return _int_pieces(column.to_numpy())
    if isinstance(dtype, pd.api.extensions.ExtensionDtype) and dtype.kind in "iu":  # nullable Int64
        return _int_pieces(column.to_numpy(dtype=np.int64, na_value=0), column.isna().to_numpy())
    return _generic_pieces(column)


def _encode(frame: pd.DataFrame) -> bytes:
    """The rows of a frame as CSV bytes (no header)."""
    n = len(frame)
    if n == 0:
        return b""
    pieces: list[_Piece] = []
    for position in range(frame.shape[1]):
        if position:
            pieces.append(_constant(b",", n))
        pieces.extend(_column_pieces(frame.iloc[:, position]))
    pieces.append(_constant(b"\n", n))
    width = sum(m.shape[1] for m, _ in pieces)
    columns = np.empty((width, n), dtype=np.uint8)  # built transposed: each piece is a contiguous block
    keep = np.empty((width, n), dtype=bool)
    offset = 0
    for matrix, lengths in pieces:
        w = matrix.shape[1]
        columns[offset:offset + w] = matrix.T
        keep[offset:offset + w] = np.arange(w)[:, None] < lengths[None, :]
        offset += w
    return np.ascontiguousarray(columns.T)[np.ascontiguousarray(keep.T)].tobytes()


def _modelled(grid: pd.DataFrame) -> bool:
    """Whether the fast encoder reproduces to_csv for this frame (else to_csv, chunk by chunk)."""
    if grid.shape[1] < 2:  # the csv module quotes a lone empty field
        return False
    for dtype in grid.dtypes:
        if dtype.kind in "mMc" or isinstance(dtype, (pd.PeriodDtype, pd.IntervalDtype, pd.DatetimeTZDtype)):
            return False
    return True


def csv_chunks(grid: pd.DataFrame, chunk_rows: int = CHUNK_ROWS) -> Iterator[bytes]:
    """The grid as CSV (header first, then chunks of rows), UTF-8, like `to_csv(index=False)`."""
    fast = _modelled(grid)
    if fast:
        yield (",".join(_quote(str(name)) for name in grid.columns) + "\n").encode("utf-8")
    else:
        yield grid.iloc[:0].to_csv(index=False).encode("utf-8")
    for start in range(0, len(grid), chunk_rows):
        part = grid.iloc[start:start + chunk_rows]
        if fast:
            yield _encode(part)
        else:
            yield part.to_csv(index=False, header=False).encode("utf-8")


def write_csv(grid: pd.DataFrame, stream: BinaryIO, chunk_rows: int = CHUNK_ROWS) -> None:
    """Stream the grid as CSV into a binary file, one chunk of rows at a time."""
    for data in csv_chunks(grid, chunk_rows):
        stream.write(data)


def csv_text(grid: pd.DataFrame) -> str:
    """The whole grid as one CSV string (HTTP answers; files should use `write_csv`)."""
    buffer = io.BytesIO()
    write_csv(grid, buffer)
    return buffer.getvalue().decode("utf-8")
