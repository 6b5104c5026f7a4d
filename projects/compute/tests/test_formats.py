"""The format validators on their own, reading from in-memory streams.

The JSON verdicts are checked against the reference the docs define: ``json.loads`` on the UTF-8
text (one leading byte-order mark removed), with NaN/Infinity refused. Hypothesis generates the
documents and mutates them so most are malformed in some way, and cuts the input at random
places, since the validators read the body a chunk at a time.
"""

import io
import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

COMPUTE_DIR = Path(__file__).resolve().parents[1]


class TrickleReader:
    """A binary stream that returns at most ``step`` bytes per read, like a slow socket."""

    def __init__(self, data: bytes, step: int) -> None:
        self._stream = io.BytesIO(data)
        self._step = step

    def read(self, size: int = -1) -> bytes:
        return self._stream.read(self._step if size < 0 else min(size, self._step))


def _refuse_constant(name: str) -> None:
    raise ValueError(name)


def reference_accepts(data: bytes) -> bool:
    """The documented definition of a well-formed .json object."""
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
        json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        return False
    return True


def reference_bad_lines(data: bytes) -> tuple[set[int], int]:
    """The documented JSON Lines rule: (numbers of the lines json.loads refuses, records)."""
    text = data.decode("utf-8").removeprefix("\ufeff")
    bad, records = set(), 0
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip(" \t\r") == "":
            continue
        records += 1
        try:
            json.loads(line, parse_constant=_refuse_constant)
        except (ValueError, RecursionError):
            bad.add(number)
    return bad, records


def syntax_reasons(reasons: list[str]) -> list[str]:
    return [reason for reason in reasons if "no records" not in reason]


# --- JSON: agreement with json.loads ------------------------------------------------------------

TRICKY_JSON = [
    b' {"a": [1, 2.5e-3, -0, "x"]} \r\n\t',
    b"\xef\xbb\xbf[1]",  # one BOM is allowed
    b"\xef\xbb\xbf\xef\xbb\xbf[1]",  # a second one is not whitespace
    b"\xc2\xa01",  # U+00A0 is not JSON whitespace
    b"\x0c1",  # nor form feed
    b"1\x0b",  # nor vertical tab
    b'"\\ud800"',  # a lone surrogate escape: json.loads accepts it
    b'["\\udc00\\ud800x"]',
    b"1" * 4300,  # Python's int-string limit: 4300 digits is fine...
    b"1" * 4301,  # ...4301 is refused by int(), so by json.loads
    b"-" + b"1" * 4301,
    b"1." + b"1" * 5000,  # floats have no such limit
    b"1e400",  # overflows to inf, which json.loads accepts
    b"[" * 400 + b"]" * 400,
    b"[" * 100_000,
    b'{"a": 1, "a": 2}',  # duplicate keys are allowed
    b"[1,]",
    b'{"a": 1,}',
    b"",
    b" \n\t\r ",
    b"NaN",
    b"[Infinity]",
    b'{"a": -Infinity}',
    b"01",
    b"1.",
    b"-",
    b".5",
    b'"tab\there"',  # a raw control character inside a string
    b'"\\x"',
    b'"\\u12G4"',
    b"tru",
    b"nulls",
    b'{"a" 1}',
    b"[1 2]",
    b'"unterminated',
    b"\xff[1]",
    b'["caf\xc3\xa9", "\xe2\x9c\x93"]',
    b"[]",
    b"{}",
]


@pytest.mark.parametrize("data", TRICKY_JSON, ids=range(len(TRICKY_JSON)))
def test_json_verdict_agrees_with_json_loads_on_tricky_input(
    formats: ModuleType, data: bytes
) -> None:
    for body in (io.BytesIO(data), TrickleReader(data, step=3)):
        result = formats.validate_json(body)
        if data.strip() in (b"[]",):
            # Well-formed, but no records: the one rule every format shares.
            assert result.reasons == ["no records: the top-level array is empty"]
            continue
        assert (result.status == "VALID") == reference_accepts(data), (data[:60], result.reasons)


def test_json_limits_and_messages(formats: ModuleType) -> None:
    deep = formats.validate_json(io.BytesIO(b"[" * 513 + b"]" * 513))
    assert deep.reasons == [
        "line 1: invalid JSON: nested deeper than MAX_JSON_DEPTH (512 levels) (column 513)"
    ]
    assert formats.validate_json(io.BytesIO(b"[" * 512 + b"]" * 512)).status == "VALID"
    huge = formats.validate_json(io.BytesIO(b"[" + b"7" * 4301 + b"]"))
    assert huge.reasons == [
        "line 1: invalid JSON: integer with 4301 digits is longer than Python's int limit "
        "(4300 digits) (column 2)"
    ]
    assert formats.validate_json(io.BytesIO(b"\xc2\xa0[1]")).reasons == [
        "line 1: invalid JSON: Expecting value (column 1)"
    ]


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=20,
)
# What an edit may insert: JSON's own punctuation and whitespace, the whitespace it does not
# allow, escapes, constants, bytes that are not UTF-8.
MUTATIONS = st.sampled_from(
    [
        "[", "]", "{", "}", '"', ",", ":", "-", "+", ".", "e", "0", "7", " ", "\t", "\n", "\r",
        "\\", "\\u", "\\ud800", "u00e9", "\x0b", "\x0c", "\x00", "\u00a0", "\ufeff", "é",
        "true", "nul", "NaN", "Infinity", "-Infinity", "1e999",
    ]
)  # fmt: skip


# Long runs of flat members (scalars, or containers of scalars) take the checker's batch path.
FLAT_VALUES = (
    JSON_SCALARS
    | st.lists(JSON_SCALARS, max_size=3)
    | st.dictionaries(st.text(max_size=3), JSON_SCALARS, max_size=3)
)
MANY_FLAT_MEMBERS = st.lists(FLAT_VALUES, min_size=10, max_size=60) | st.dictionaries(
    st.text(max_size=5), FLAT_VALUES, min_size=10, max_size=40
)


@st.composite
def json_like_bytes(draw: st.DrawFn) -> bytes:
    text = json.dumps(
        draw(JSON_VALUES | MANY_FLAT_MEMBERS | st.lists(MANY_FLAT_MEMBERS, max_size=2)),
        ensure_ascii=draw(st.booleans()),
        indent=draw(st.sampled_from([None, 0, 2])),
    )
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        at = draw(st.integers(min_value=0, max_value=len(text)))
        kind = draw(st.sampled_from(["insert", "delete", "replace"]))
        insert = "" if kind == "delete" else draw(MUTATIONS)
        text = text[:at] + insert + text[at + (kind != "insert") :]
    data = text.encode("utf-8", "surrogatepass")
    if draw(st.booleans()) and data:
        at = draw(st.integers(min_value=0, max_value=len(data) - 1))
        data = data[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xef\xbb\xbf"])) + data[at:]
    return data


PROPERTY_SETTINGS = settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@PROPERTY_SETTINGS
@given(data=json_like_bytes(), step=st.integers(min_value=1, max_value=90))
def test_json_verdict_agrees_with_json_loads_on_generated_input(
    formats: ModuleType, data: bytes, step: int
) -> None:
    result = formats.validate_json(TrickleReader(data, step))
    assert (not syntax_reasons(result.reasons)) == reference_accepts(data), result.reasons
    if result.status == "VALID":
        document = json.loads(data.decode().removeprefix("\ufeff"))
        assert result.record_count == (len(document) if isinstance(document, list) else 1)
    if result.reasons == ["no records: the top-level array is empty"]:
        assert json.loads(data.decode().removeprefix("\ufeff")) == []


@PROPERTY_SETTINGS
@given(data=json_like_bytes(), step=st.integers(min_value=1, max_value=9))
def test_jsonl_verdict_per_line_agrees_with_json_loads(
    formats: ModuleType, data: bytes, step: int
) -> None:
    result = formats.validate_json_lines(TrickleReader(data, step), max_line_bytes=10**6)
    try:
        bad_lines, records = reference_bad_lines(data)
    except UnicodeDecodeError:
        assert result.status == "INVALID"
        return
    reported = {
        int(reason.split(":")[0].removeprefix("line "))
        for reason in result.reasons
        if reason.startswith("line ")
    }
    assert result.record_count == records
    assert reported == bad_lines or result.error_count > 10, result.reasons
    assert ("no records: the object has only blank lines" in result.reasons) == (records == 0)


# --- JSON Lines ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line", [b"\x0b", b"\x0c", b"\xc2\xa0", b"\x1c", b"\xe2\x80\xa8"], ids=repr
)
def test_jsonl_line_of_non_json_whitespace_is_a_malformed_record_not_a_blank(
    formats: ModuleType, line: bytes
) -> None:
    data = b'{"a": 1}\n' + line + b"\n \t\r\n\n[2]\n"

    result = formats.validate_json_lines(io.BytesIO(data), max_line_bytes=1000)

    assert result.reasons == ["line 2: invalid JSON: Expecting value (column 1)"]
    assert result.record_count == 3  # blank means only space, tab and CR


def test_jsonl_counts_every_non_blank_line_including_malformed_and_overlong(
    formats: ModuleType,
) -> None:
    data = b'{"a": 1}\n{"a": \n\n' + b'"' + b"x" * 200 + b'"\n[1 2]\n'

    result = formats.validate_json_lines(io.BytesIO(data), max_line_bytes=100)

    assert result.reasons == [
        "line 2: invalid JSON: Expecting value (column 7)",
        "line 4: line is longer than MAX_JSON_DOCUMENT_BYTES (100 bytes)",
        "line 5: invalid JSON: Expecting ',' delimiter (column 4)",
    ]
    assert result.record_count == 4


def test_jsonl_line_limit_counts_utf8_bytes(formats: ModuleType) -> None:
    at_limit = '"' + "é" * 9 + '"'  # 20 bytes, 11 characters
    assert len(at_limit.encode()) == 20
    data = (at_limit + "\n" + at_limit[:-1] + 'é"\n').encode()

    result = formats.validate_json_lines(io.BytesIO(data), max_line_bytes=20)

    assert result.reasons == ["line 2: line is longer than MAX_JSON_DOCUMENT_BYTES (20 bytes)"]


# --- the same rule for "no records" in every format ---------------------------------------------


@pytest.mark.parametrize(
    "content",
    [b"", b"\xef\xbb\xbf", b"\n", b"\r\n\r\n", b"\n\n\n", b" \n\t\n"],
    ids=["empty", "bom-only", "lf", "crlf", "blank-lines", "whitespace"],
)
def test_content_without_records_is_invalid_in_every_format(
    formats: ModuleType, content: bytes
) -> None:
    results = {
        "csv": formats.validate_csv(io.BytesIO(content)),
        "json": formats.validate_json(io.BytesIO(content)),
        "jsonl": formats.validate_json_lines(io.BytesIO(content), max_line_bytes=100),
    }

    assert {name: result.status for name, result in results.items()} == dict.fromkeys(
        results, "INVALID"
    )
    assert results["jsonl"].reasons == ["no records: the object has only blank lines"]
    assert results["jsonl"].record_count == 0


def test_a_header_or_an_empty_array_alone_has_no_records(formats: ModuleType) -> None:
    csv_result = formats.validate_csv(io.BytesIO(b"id,name\r\n\r\n"))
    json_result = formats.validate_json(io.BytesIO(b" [ ] "))

    assert (csv_result.status, csv_result.record_count, csv_result.reasons) == (
        "INVALID",
        0,
        ["no records: the object has a header row only"],
    )
    assert (json_result.status, json_result.record_count, json_result.reasons) == (
        "INVALID",
        0,
        ["no records: the top-level array is empty"],
    )


# --- CSV ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("read_size", [1, 2, 3, 5, 64, 1024**2])
def test_csv_result_does_not_depend_on_read_boundaries(
    import_validator: Callable[[str], ModuleType],
    monkeypatch: pytest.MonkeyPatch,
    read_size: int,
) -> None:
    # Multi-byte characters and quoted newlines land on every possible read boundary.
    limits = import_validator("settings")
    monkeypatch.setattr(limits, "READ_CHUNK_BYTES", read_size)
    monkeypatch.setattr(limits, "CSV_PIECE_BYTES", 100)
    formats = import_validator("formats")
    rows = ["名前,città,note"]
    rows += [f'行{n},Zürich {n},"a ""quoted""\nvalue ✓"' for n in range(200)]
    rows.insert(120, "short,row")
    data = ("\n".join(rows) + "\n").encode()

    for body in (io.BytesIO(data), TrickleReader(data, step=7)):
        result = formats.validate_csv(body)
        assert result.columns == ["名前", "città", "note"]
        assert result.record_count == 201
        assert result.reasons == ["line 240: expected 3 fields as in the header, found 2"]


CSV_LINES = [
    "id,comment",
    '1,"first line',
    'second line"',
    "",
    '2,"say ""hi"""',
    "3",
    '4,"\xff inside a quoted field',  # \xff: invalid UTF-8 mid-record
    'still the same record"',
    "5,plain,extra",
]


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
def test_csv_verdict_and_lines_are_the_same_whatever_the_line_endings(
    formats: ModuleType, ending: str
) -> None:
    data = ending.join(CSV_LINES).encode("utf-8", "surrogateescape").replace(b"\xc3\xbf", b"\xff")

    result = formats.validate_csv(io.BytesIO(b"\xef\xbb\xbf" + data + ending.encode()))

    assert result.columns == ["id", "comment"]
    assert result.record_count == 5
    assert result.reasons == [
        "line 6: expected 2 fields as in the header, found 1",
        "line 7: not valid UTF-8 (byte 0xff at byte 4)",
        "line 9: expected 2 fields as in the header, found 3",
    ]


def test_csv_nul_bytes_are_reported_per_line(formats: ModuleType) -> None:
    utf16 = "a,b\n1,2\n".encode("utf-16-le")

    result = formats.validate_csv(io.BytesIO(b"id,name\n1,ok\n" + utf16))

    assert result.status == "INVALID"
    assert result.reasons[0] == (
        "line 3: contains a NUL byte (at byte 2); is the file UTF-16 rather than UTF-8?"
    )


def test_malformed_csv_rows_are_counted_as_records(formats: ModuleType) -> None:
    data = b'id,name\n1,"a"b\n2,ok\n3,"x"y\n'

    result = formats.validate_csv(io.BytesIO(data))

    assert result.reasons == [
        "line 2: malformed CSV: ',' expected after '\"'",
        "line 4: malformed CSV: ',' expected after '\"'",
    ]
    assert result.record_count == 3


def test_csv_line_above_the_record_limit_stops_the_check(formats: ModuleType) -> None:
    at_limit = b"1," + b"x" * 97 + b"\n"  # 100 bytes with its line end
    data = b"a,b\n" + at_limit + b"2," + b"x" * 1000 + b"\n3,4\n5\n"

    result = formats.validate_csv(io.BytesIO(data), max_record_bytes=100)

    assert result.reasons == [
        "line 3: record is longer than MAX_CSV_RECORD_BYTES (100 bytes); "
        "the rest of the object was not checked",
    ]
    assert result.record_count == 2


def test_csv_record_spanning_many_lines_is_stopped_at_the_limit(
    import_validator: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(import_validator("settings"), "CSV_PIECE_BYTES", 64)
    formats = import_validator("formats")
    # One record whose quoted fields hold newlines: each physical line is short.
    record = b'9,"' + b"x\n" * 5000 + b'"\n'
    data = b"a,b\n1,2\n" + record + b"3,4\n"

    result = formats.validate_csv(io.BytesIO(data), max_record_bytes=1000)

    assert result.reasons == [
        "line 3: record is longer than MAX_CSV_RECORD_BYTES (1000 bytes); "
        "the rest of the object was not checked",
    ]
    assert result.record_count == 2
    within = formats.validate_csv(io.BytesIO(b"a,b\n" + b'9,"' + b"x\n" * 400 + b'"\n'), 1000)
    assert (within.status, within.record_count) == ("VALID", 1)


def test_reasons_are_bounded(formats: ModuleType) -> None:
    data = b"a,b\n" + b"1\n" * 5000

    result = formats.validate_csv(io.BytesIO(data))

    assert result.error_count == 5000
    assert len(result.reasons) == 10
    assert result.reasons[-1] == "line 11: expected 2 fields as in the header, found 1"


# --- memory: bounded whatever the shape ---------------------------------------------------------

# Each shape is 4 MiB; building it as Python objects (json.loads, or csv.reader holding one
# record) takes 50 to 110 MiB. The child reports its peak RSS growth while validating (Linux:
# it reads /proc/self/status).
MEMORY_CHILD = textwrap.dedent(
    """
    import io, json, sys
    sys.path.insert(0, sys.argv[1])
    from validator import formats
    size = 4 * 1024 * 1024
    # Built by repetition, without a list of parts, so that making the input does not raise the
    # peak RSS above what validating it takes.
    small_arrays = b"[" + b"[1]," * (size // 4) + b"[1]]"
    deep = b"[" + (b"[" * 500 + b"]" * 500 + b",") * (size // 1001) + b"1]"
    jsonl = lambda body: formats.validate_json_lines(body, 2 * size)
    shapes = {
        "json-small-arrays": (small_arrays, formats.validate_json),
        "json-deep": (deep, formats.validate_json),
        "jsonl-small-arrays": (b"[[1],[2],[3],[4]]\\n" * (size // 18), jsonl),
        "jsonl-one-long-line": (small_arrays + b"\\n", jsonl),
        "csv-record-over-many-lines": (b"a,b\\n" + b'"x\\n",' * (size // 5), formats.validate_csv),
        "csv-one-long-line": (b"a,b\\n" + b"ab," * (size // 3) + b"\\n", formats.validate_csv),
        # What the validators avoid: json.loads builds a list per array.
        "json.loads": (small_arrays, lambda body: (json.loads(body.read()), "VALID")[1]),
    }
    data, validate = shapes[sys.argv[2]]
    def peak_rss_kib():
        # VmHWM: this process's own high-water mark. ru_maxrss would not do: Linux carries
        # it over from the parent across fork and exec, so a large pytest hides the child's.
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise RuntimeError("no VmHWM in /proc/self/status")
    before = peak_rss_kib()
    result = validate(io.BytesIO(data))
    after = peak_rss_kib()
    print((after - before) // 1024, getattr(result, "status", result))
    """
)


@pytest.mark.parametrize(
    "shape",
    [
        "json-small-arrays",
        "json-deep",
        "jsonl-small-arrays",
        "jsonl-one-long-line",
        "csv-record-over-many-lines",
        "csv-one-long-line",
    ],
)
def test_peak_memory_does_not_grow_with_the_input_shape(shape: str) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD, str(COMPUTE_DIR), shape],
        check=True,
        capture_output=True,
        text=True,
    )
    growth_mib, status = completed.stdout.split()

    assert int(growth_mib) < 40, f"{shape}: peak RSS grew {growth_mib} MiB validating 4 MiB"
    assert status == ("INVALID" if shape.startswith("csv") else "VALID")


def test_the_memory_probe_sees_a_document_built_as_objects() -> None:
    # The bound above is meaningful: json.loads on the same 4 MiB goes far past it.
    completed = subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD, str(COMPUTE_DIR), "json.loads"],
        check=True,
        capture_output=True,
        text=True,
    )
    assert int(completed.stdout.split()[0]) >= 40
