"""The format validators on their own, reading from in-memory streams."""

import io
from types import ModuleType

import pytest


class TrickleReader:
    """A binary stream that returns at most ``step`` bytes per read, like a slow socket."""

    def __init__(self, data: bytes, step: int) -> None:
        self._stream = io.BytesIO(data)
        self._step = step

    def read(self, size: int = -1) -> bytes:
        return self._stream.read(self._step if size < 0 else min(size, self._step))


@pytest.mark.parametrize("read_size", [1, 2, 3, 5, 64, 1024**2])
def test_csv_result_does_not_depend_on_read_boundaries(
    formats: ModuleType, monkeypatch: pytest.MonkeyPatch, read_size: int
) -> None:
    # Multi-byte characters and quoted newlines land on every possible read boundary.
    monkeypatch.setattr(formats, "READ_CHUNK_BYTES", read_size)
    rows = ["名前,città,note"]
    rows += [f'行{n},Zürich {n},"a ""quoted""\nvalue ✓"' for n in range(200)]
    rows.insert(120, "short,row")
    data = ("\n".join(rows) + "\n").encode()

    for body in (io.BytesIO(data), TrickleReader(data, step=7)):
        result = formats.validate_csv(body)
        assert result.columns == ["名前", "città", "note"]
        assert result.record_count == 201
        assert result.reasons == ["line 240: expected 3 fields as in the header, found 2"]


def test_csv_line_above_limit_is_reported_without_holding_it(
    formats: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(formats, "MAX_CSV_LINE_BYTES", 100)
    monkeypatch.setattr(formats, "READ_CHUNK_BYTES", 16)
    data = b"a,b\n" + b"1," + b"x" * 1000 + b"\n2,3\n4\n"

    result = formats.validate_csv(io.BytesIO(data))

    assert result.reasons == [
        "line 2: line is longer than 100 bytes",
        "line 4: expected 2 fields as in the header, found 1",
    ]
    assert result.record_count == 2


def test_reasons_are_bounded(formats: ModuleType) -> None:
    data = b"a,b\n" + b"1\n" * 5000

    result = formats.validate_csv(io.BytesIO(data))

    assert result.error_count == 5000
    assert len(result.reasons) == 10
    assert result.reasons[-1] == "line 11: expected 2 fields as in the header, found 1"


def test_csv_without_header(formats: ModuleType) -> None:
    result = formats.validate_csv(io.BytesIO(b"\n\r\n\n"))

    assert (result.status, result.record_count, result.columns) == ("INVALID", 0, None)
    assert result.reasons == ["no header row: the file has no non-blank line"]
