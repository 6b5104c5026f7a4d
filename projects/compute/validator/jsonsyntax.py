"""A streaming JSON syntax checker that agrees with ``json.loads`` without building the document.

Why not ``json.loads``: it builds the whole object tree, and a 16 MiB document of small arrays
becomes several hundred MiB of lists. This checker reads text in pieces and keeps only a stack
of open containers, so its memory is bounded by the piece size whatever the document's shape.

Agreement with ``json.loads(text, parse_constant=<raise>)`` is the rule: the same whitespace
(space, tab, CR, LF), the same strict strings (``json.decoder.scanstring``), the same numbers
(``json.scanner.NUMBER_RE``'s grammar with ASCII digits, and integers refused past Python's
int-string digit limit, as ``int()`` refuses them), ``NaN``/``Infinity`` refused. The one
deliberate addition is a nesting limit (``max_depth``), so the verdict on deep documents does
not depend on the Python version's recursion limit.

Speed: the C scanner does the heavy lifting. At each container in the current piece,
``scan_once`` is tried first; its result is thrown away at once (objects are never built, and a
piece is at most ``MAX_PIECE_CHARS`` characters, so a tree from one attempt stays small). When
it cannot decide (the container runs past the piece, nests too deep, spans a JSON Lines line
break, or is malformed), the Python state machine below takes that container one level at a
time and tries C again on its children, so an error is always reported by the Python code with
its exact position.
"""

import json
import json.decoder
import re
import sys
from collections.abc import Callable

# Characters of text handed to the checker at once. It bounds what one C attempt may build:
# at worst about 30 bytes per character (a list of empty lists), so about 8 MiB.
MAX_PIECE_CHARS = 256 * 1024

# A C attempt that fails costs the scan up to where it failed; after this many piece lengths of
# failed attempts in one piece, the rest of the piece is checked in Python only. This bounds
# the cost of documents where every level straddles the end of a piece.
_MAX_WASTED_PIECES = 4

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_LINE_WHITESPACE = re.compile(r"[ \t\r]*")
# The longest run of valid string content, escapes included (possessive: no backtracking state,
# so a string of any length is matched in C with constant memory).
_STRING_RUN = re.compile(r'(?:[^"\\\x00-\x1f]++|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*+')
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")


def _flat_runs(space: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Patterns for a run of array members (``, value`` ...) and of object members
    (``, "key": value`` ...) whose values are scalars or containers of scalars: checked by one
    C regex match instead of a Python step per member (a document of many small arrays)."""
    ws = f"[{space}]*"
    string = r'"[^"\\\x00-\x1f]*+"'
    scalar = (
        rf"(?:{string}|-?(?:0|[1-9][0-9]*+)(?:\.[0-9]++)?+(?:[eE][-+]?+[0-9]++)?+"
        r"|true|false|null)"
    )
    flat = (
        rf"(?:{scalar}|\[{ws}(?:{scalar}(?:{ws},{ws}{scalar})*+)?+{ws}\]"
        rf"|\{{{ws}(?:{string}{ws}:{ws}{scalar}(?:{ws},{ws}{string}{ws}:{ws}{scalar})*+)?+{ws}\}})"
    )
    array_run = re.compile(rf"(?:{ws},{ws}{flat})*+")
    object_run = re.compile(rf"(?:{ws},{ws}{string}{ws}:{ws}{flat})*+")
    return array_run, object_run


_ARRAY_RUN, _OBJECT_RUN = _flat_runs(" \t\n\r")
_LINE_ARRAY_RUN, _LINE_OBJECT_RUN = _flat_runs(" \t\r")
_NUMBER = re.compile(r"(-?(?:0|[1-9][0-9]*))(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_DIGITS = re.compile(r"[0-9]*")
_SIMPLE_ESCAPES = frozenset('"\\/bfnrt')
_CONSTANTS = {"N": "NaN", "I": "Infinity", "-": "-Infinity"}
_LITERALS = {"t": "true", "f": "false", "n": "null"}

# What the checker expects next.
_VALUE = 0  # a value (document start, after ':' or after ',' in an array)
_VALUE_OR_CLOSE = 1  # after '['
_KEY_OR_CLOSE = 2  # after '{'
_KEY = 3  # after ',' in an object
_COLON = 4  # after a key
_COMMA_OR_CLOSE = 5  # after a value inside a container
_END = 6  # after the top-level value: only whitespace may follow

_EXPECTING = {
    _VALUE: "Expecting value",
    _VALUE_OR_CLOSE: "Expecting value",
    _KEY_OR_CLOSE: "Expecting property name enclosed in double quotes",
    _KEY: "Expecting property name enclosed in double quotes",
    _COLON: "Expecting ':' delimiter",
    _COMMA_OR_CLOSE: "Expecting ',' delimiter",
    _END: "Extra data",
}

# Number states while a number runs across pieces (only then: a number inside a piece is
# matched whole by _NUMBER).
_N_SIGN, _N_ZERO, _N_INT, _N_DOT, _N_FRAC, _N_E, _N_ESIGN, _N_EXP = range(8)
_N_COMPLETE = frozenset({_N_ZERO, _N_INT, _N_FRAC, _N_EXP})


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


# object_pairs_hook drops each object as soon as it is parsed; only arrays are built, within
# one piece.
_C_SCAN = json.JSONDecoder(
    object_pairs_hook=lambda pairs: None, parse_constant=_reject_constant
).scan_once


def _int_digit_limit() -> int:
    """Python's int/str conversion limit in digits (0: none), which ``json.loads`` inherits."""
    getter = getattr(sys, "get_int_max_str_digits", None)
    return getter() if getter else 0


def _utf8_length(text: str, start: int, end: int) -> int:
    if text.isascii():
        return end - start
    return len(text[start:end].encode("utf-8", "surrogatepass"))


class JsonSyntaxChecker:
    """Feed text with ``feed``, then call ``close``; errors go to ``on_error(line, message)``.

    ``lines=False``: the text is one JSON document (``.json``); checking stops at the first
    error, as the document's structure is unknown after it. ``record_count`` is the number of
    elements of a top-level array, otherwise 1, once the document is known to be well-formed.

    ``lines=True``: JSON Lines. Each line (ended by LF; a CR before it is whitespace) that holds
    anything but JSON whitespace is a record and must be exactly one JSON value; each line gets
    at most one error and checking goes on with the next line. ``record_count`` counts the
    records, well-formed or not. A line longer than ``max_line_bytes`` (UTF-8 bytes, its line
    ending excluded) is reported as such instead of its syntax.
    """

    def __init__(
        self,
        on_error: Callable[[int, str], None],
        *,
        lines: bool,
        max_depth: int,
        max_line_bytes: int | None = None,
    ) -> None:
        self._on_error = on_error
        self._lines = lines
        self._max_depth = max_depth
        self._max_line_bytes = max_line_bytes
        self._whitespace = _LINE_WHITESPACE if lines else _WHITESPACE
        self._int_limit = _int_digit_limit()
        self._buf = ""
        self._pos = 0
        self._final = False
        self._stack: list[str] = []
        self._state = _VALUE
        self._top_elements = 0
        self._top_is_array = False
        self._records = 0
        self.failed = False  # .json: an error was found and checking stopped
        # A token running across pieces: a string's content, or a number.
        self._in_string = False
        self._string_is_key = False
        self._string_start: tuple[int, int] = (0, 0)
        self._number_state: int | None = None
        self._number_int_digits = 0
        self._number_start: tuple[int, int] = (0, 0)
        # Position bookkeeping for line/column of errors and for line lengths.
        self._lines_before = 0  # newlines in text already discarded
        self._col_before = 0  # characters of the current line in text already discarded
        self._line_start = 0  # where the current line starts in _buf (JSON Lines)
        self._line_bytes_before = 0  # bytes of the current line in text already discarded
        self._line_error: tuple[int, str] | None = None  # JSON Lines: this line's syntax error
        self._skipping_line = False
        self._line_has_content = False
        self._wasted = 0
        self._records_line = 1  # JSON Lines: the number of the line being checked
        self._value_counted = False  # the value being waited for was counted already

    # --- public ---------------------------------------------------------------------------

    @property
    def record_count(self) -> int | None:
        if self._lines:
            return self._records
        if self.failed or self._state != _END:
            return None
        return self._top_elements if self._top_is_array else 1

    def feed(self, text: str) -> None:
        """Check more text. Pieces longer than MAX_PIECE_CHARS are checked in slices."""
        for start in range(0, len(text), MAX_PIECE_CHARS):
            if self.failed:
                return
            self._append(text[start : start + MAX_PIECE_CHARS])
            self._run()

    def close(self) -> None:
        """The text has ended: report what is left open."""
        if self.failed:
            return
        self._final = True
        self._run()
        if self.failed:
            return
        if self._lines:
            self._end_line(len(self._buf))
        elif self._in_string:
            self._fail_at(self._string_start, "Unterminated string")
        elif self._state != _END:
            self._fail(len(self._buf), _EXPECTING[self._state])

    # --- buffer and positions ------------------------------------------------------------

    def _append(self, text: str) -> None:
        buf, pos = self._buf, self._pos
        if pos:
            if self._lines:
                if self._line_start < pos:
                    self._line_bytes_before += _utf8_length(buf, self._line_start, pos)
                    self._col_before += pos - self._line_start
                    self._line_start = 0
                else:
                    self._line_start -= pos
            else:
                newlines = buf.count("\n", 0, pos)
                if newlines:
                    self._lines_before += newlines
                    self._col_before = pos - buf.rfind("\n", 0, pos) - 1
                else:
                    self._col_before += pos
        self._buf = buf[pos:] + text if pos < len(buf) else text
        self._pos = 0
        self._wasted = 0

    def _where(self, pos: int) -> tuple[int, int]:
        """(line, column) of a position in the buffer, both from 1; columns count characters."""
        buf = self._buf
        if self._lines:
            return self._records_line, self._col_before + pos - self._line_start + 1
        newlines = buf.count("\n", 0, pos)
        if newlines:
            return self._lines_before + newlines + 1, pos - buf.rfind("\n", 0, pos)
        return self._lines_before + 1, self._col_before + pos + 1

    def _fail(self, pos: int, message: str) -> None:
        self._fail_at(self._where(pos), message)

    def _fail_at(self, where: tuple[int, int], message: str) -> None:
        line, column = where
        if self._lines:
            if self._line_error is None:
                self._line_error = (line, f"invalid JSON: {message} (column {column})")
            self._skipping_line = True
            self._in_string = False
            self._number_state = None
        else:
            self._on_error(line, f"invalid JSON: {message} (column {column})")
            self.failed = True

    # --- JSON Lines: one document per line -------------------------------------------------

    def _end_line(self, newline: int) -> None:
        """The line ends at ``newline`` (its LF, or the end of the text): settle its verdict."""
        if self._in_string:
            self._fail_at(self._string_start, "Unterminated string")
        elif self._number_state is not None:
            self._finish_number(newline)
        if self._line_has_content and not self._skipping_line and self._state != _END:
            self._fail(newline, _EXPECTING[self._state])
        line_bytes = self._line_bytes_before + _utf8_length(self._buf, self._line_start, newline)
        if self._max_line_bytes is not None and line_bytes > self._max_line_bytes:
            self._on_error(
                self._records_line,
                f"line is longer than MAX_JSON_DOCUMENT_BYTES ({self._max_line_bytes} bytes)",
            )
        elif self._line_error is not None:
            self._on_error(*self._line_error)
        self._records_line += 1
        self._line_start = newline + 1
        self._line_bytes_before = 0
        self._col_before = 0
        self._line_error = None
        self._skipping_line = False
        self._line_has_content = False
        self._stack.clear()
        self._state = _VALUE

    # --- the state machine ---------------------------------------------------------------

    def _run(self) -> None:
        buf = self._buf
        end = len(buf)
        final = self._final
        whitespace = self._whitespace.match
        lines = self._lines
        while not self.failed:
            if lines and self._skipping_line:
                newline = buf.find("\n", self._pos)
                if newline < 0:
                    self._pos = end
                    return
                self._pos = newline
                self._end_line(newline)
                self._pos = newline + 1
                continue
            if self._in_string:
                if not self._continue_string():
                    return
                continue
            if self._number_state is not None:
                if not self._continue_number():
                    return
                continue
            pos = whitespace(buf, self._pos).end()
            self._pos = pos
            if pos >= end:
                return
            char = buf[pos]
            if lines and not self._line_has_content and self._fast_lines(pos):
                continue
            if lines and char == "\n":
                self._end_line(pos)
                self._pos = pos + 1
                continue
            if lines and not self._line_has_content:
                self._line_has_content = True
                self._records += 1
            state = self._state
            if state in (_VALUE, _VALUE_OR_CLOSE):
                if state == _VALUE_OR_CLOSE and char == "]":
                    self._close(pos)
                    continue
                if not self._value(pos, char, end, final):
                    return
            elif state == _COMMA_OR_CLOSE:
                if char == "," and self._fast_members(pos):
                    continue
                if char == ",":
                    self._pos = pos + 1
                    self._state = _VALUE if self._stack[-1] == "[" else _KEY
                elif char == ("]" if self._stack[-1] == "[" else "}"):
                    self._close(pos)
                else:
                    self._fail(pos, _EXPECTING[state])
            elif state in (_KEY_OR_CLOSE, _KEY):
                if char == '"':
                    if not self._string(pos, end, final, is_key=True):
                        return
                elif state == _KEY_OR_CLOSE and char == "}":
                    self._close(pos)
                else:
                    self._fail(pos, _EXPECTING[state])
            elif state == _COLON:
                if char == ":":
                    self._pos = pos + 1
                    self._state = _VALUE
                else:
                    self._fail(pos, _EXPECTING[state])
            else:  # _END
                self._fail(pos, _EXPECTING[state])

    def _fast_members(self, pos: int) -> bool:
        """Check a run of ``, value`` (array) or ``, "key": value`` (object) members in one tight
        loop, each value by the C scanner; stop at anything it cannot settle, which the general
        path then takes. True if it advanced."""
        buf = self._buf
        whitespace = self._whitespace.match
        scan = _C_SCAN
        scan_key = json.decoder.scanstring
        limit = len(buf) if self._final else len(buf) - 3
        in_array = self._stack[-1] == "["
        allowed = self._max_depth - len(self._stack)
        lines = self._lines
        if allowed > 0 and self._flat_run(pos, limit, in_array):
            return True
        resume = pos
        count = 0
        while True:
            value = whitespace(buf, pos + 1).end()
            if value >= limit:
                break
            if not in_array:
                if buf[value] != '"':
                    break
                try:
                    _, colon = scan_key(buf, value + 1, True)
                except ValueError:
                    break
                colon = whitespace(buf, colon).end()
                if colon >= limit or buf[colon] != ":":
                    break
                value = whitespace(buf, colon + 1).end()
                if value >= limit:
                    break
            try:
                _, stop = scan(buf, value)
            except (StopIteration, ValueError, RecursionError):
                break
            if stop > limit:
                break
            if buf[value] in "[{" and (
                (lines and buf.find("\n", value, stop) >= 0)
                or (
                    stop - value > 2 * allowed
                    and buf.count("[", value, stop) + buf.count("{", value, stop) > allowed
                )
            ):
                break
            count += 1
            resume = stop
            pos = whitespace(buf, stop).end()
            if pos >= limit or buf[pos] != ",":
                break
        if not count:
            return False
        if len(self._stack) == 1 and self._top_is_array:
            self._top_elements += count
        self._pos = resume
        self._state = _COMMA_OR_CLOSE
        return True

    def _flat_run(self, pos: int, limit: int, in_array: bool) -> bool:
        """Members with flat values, matched by one regex; the C scanner then checks the run
        as one container (the regex does not know Python's int digit limit) and, for the
        top-level array, counts its elements. True if it advanced."""
        buf = self._buf
        if in_array:
            pattern = _LINE_ARRAY_RUN if self._lines else _ARRAY_RUN
        else:
            pattern = _LINE_OBJECT_RUN if self._lines else _OBJECT_RUN
        stop = pattern.match(buf, pos).end()
        if stop > limit:
            # The last member may go on in the next piece: end the run before it. A member
            # cut at one of its own commas no longer matches, and numbers hold no comma.
            cut = buf.rfind(",", pos + 1, limit)
            if cut < 0:
                return False
            stop = pattern.match(buf, pos, cut).end()
        if stop - pos < 64:
            return False  # not worth the copy: the per-member loop is as fast
        opening, closing = ("[", "]") if in_array else ("{", "}")
        try:
            members, _ = _C_SCAN(opening + buf[pos + 1 : stop] + closing, 0)
        except (StopIteration, ValueError, RecursionError):
            return False
        if in_array and len(self._stack) == 1 and self._top_is_array:
            self._top_elements += len(members)
        self._pos = stop
        self._state = _COMMA_OR_CLOSE
        return True

    def _fast_lines(self, pos: int) -> bool:
        """JSON Lines: check a run of whole lines that each hold one value the C scanner settles
        (or nothing), in one tight loop. True if it advanced."""
        buf = self._buf
        whitespace = _LINE_WHITESPACE.match
        scan = _C_SCAN
        limit = len(buf) if self._final else len(buf) - 3
        # Lines this short cannot be over the byte limit whatever their characters.
        short = (self._max_line_bytes // 4) if self._max_line_bytes is not None else len(buf)
        max_depth = self._max_depth
        line_start = self._line_start
        if self._line_bytes_before or self._col_before:
            return False  # the line began in an earlier piece: the general path measures it
        records = 0
        lines = 0
        while True:
            value = whitespace(buf, pos).end()
            if value >= limit:
                break
            if buf[value] != "\n":
                try:
                    _, stop = scan(buf, value)
                except (StopIteration, ValueError, RecursionError):
                    break
                if stop > limit:
                    break
                if buf[value] in "[{" and (
                    buf.find("\n", value, stop) >= 0
                    or (
                        stop - value > 2 * max_depth
                        and buf.count("[", value, stop) + buf.count("{", value, stop) > max_depth
                    )
                ):
                    break
                newline = whitespace(buf, stop).end()
                if newline >= limit or buf[newline] != "\n" or newline - line_start > short:
                    break
                records += 1
            else:
                # A run of blank lines at once: a file of empty lines costs no Python per line.
                newline = buf.rfind("\n", value, _WHITESPACE.match(buf, value).end())
                lines += buf.count("\n", value, newline)
            lines += 1
            pos = line_start = newline + 1
        if not lines:
            return False
        self._records += records
        self._records_line += lines
        self._line_start = line_start
        self._pos = pos
        return True

    def _value_done(self) -> None:
        self._state = _COMMA_OR_CLOSE if self._stack else _END

    def _close(self, pos: int) -> None:
        self._stack.pop()
        self._pos = pos + 1
        self._value_done()

    def _value(self, pos: int, char: str, end: int, final: bool) -> bool:
        """Check the value starting at ``pos``. False: wait for more text."""
        buf = self._buf
        stack = self._stack
        if self._value_counted:
            self._value_counted = False
        elif len(stack) == 1 and self._top_is_array:
            self._top_elements += 1
        if char in "[{":
            depth = len(stack)
            if self._wasted <= _MAX_WASTED_PIECES * end and self._try_c(pos, depth):
                return True
            if depth >= self._max_depth:
                self._fail(pos, f"nested deeper than MAX_JSON_DEPTH ({self._max_depth} levels)")
                return True
            if not stack and char == "[":
                self._top_is_array = True
            stack.append(char)
            self._pos = pos + 1
            self._state = _VALUE_OR_CLOSE if char == "[" else _KEY_OR_CLOSE
            return True
        if char == '"':
            return self._string(pos, end, final, is_key=False)
        if char == "-" or "0" <= char <= "9":
            return self._number(pos, end, final)
        if char in _LITERALS:
            word = _LITERALS[char]
            if not final and end - pos < len(word):
                return self._wait()  # may be cut by the end of the piece
            if buf.startswith(word, pos):
                self._pos = pos + len(word)
                self._value_done()
            else:
                self._fail(pos, "Expecting value")
            return True
        if char in _CONSTANTS:
            return self._constant(pos, char, end, final)
        self._fail(pos, "Expecting value")
        return True

    def _wait(self) -> bool:
        """The value at the current position may be cut by the end of the piece."""
        self._value_counted = True
        return False

    def _constant(self, pos: int, char: str, end: int, final: bool) -> bool:
        word = _CONSTANTS[char]
        if not final and end - pos < len(word):
            return self._wait()
        if self._buf.startswith(word, pos):
            self._fail(pos, f"{word} is not valid JSON")
        else:
            self._fail(pos, "Expecting value")
        return True

    def _try_c(self, pos: int, depth: int) -> bool:
        """Let the C scanner check the container at ``pos`` whole, if it can."""
        buf = self._buf
        try:
            _, stop = _C_SCAN(buf, pos)
        except (StopIteration, ValueError, RecursionError):
            self._wasted += len(buf) - pos
            return False
        if self._lines and buf.find("\n", pos, stop) >= 0:
            self._wasted += stop - pos
            return False
        allowed = self._max_depth - depth
        if stop - pos > 2 * allowed and buf.count("[", pos, stop) + buf.count("{", pos, stop) > (
            allowed
        ):
            self._wasted += stop - pos
            return False
        if depth == 0 and buf[pos] == "[" and not self._lines:
            # The top-level array's elements are counted by the Python path only.
            self._wasted += stop - pos
            return False
        self._pos = stop
        self._value_done()
        return True

    # --- strings -------------------------------------------------------------------------

    def _string(self, pos: int, end: int, final: bool, *, is_key: bool) -> bool:
        buf = self._buf
        try:
            _, stop = json.decoder.scanstring(buf, pos + 1, True)
        except ValueError as exc:
            error_pos = getattr(exc, "pos", pos)
            truncated = "Unterminated" in str(exc) or error_pos >= end - 6
            if final or not truncated:
                message = getattr(exc, "msg", str(exc))
                if message.startswith("Unterminated string"):
                    self._fail(pos, "Unterminated string")
                else:
                    self._fail(error_pos, message.removesuffix(" at"))
                return True
            # Runs past the piece: follow it incrementally.
            self._in_string = True
            self._string_is_key = is_key
            self._string_start = self._where(pos)
            self._pos = pos + 1
            return True
        self._pos = stop
        self._string_done(is_key)
        return True

    def _string_done(self, is_key: bool) -> None:
        if is_key:
            self._state = _COLON
        else:
            self._value_done()

    def _continue_string(self) -> bool:
        """Follow a string across pieces. False: wait for more text."""
        buf = self._buf
        end = len(buf)
        pos = self._pos
        while True:
            pos = _STRING_RUN.match(buf, pos).end()
            if pos >= end:
                self._pos = pos
                if self._final:
                    self._fail_at(self._string_start, "Unterminated string")
                    return True
                return False
            char = buf[pos]
            if char == '"':
                self._pos = pos + 1
                self._in_string = False
                self._string_done(self._string_is_key)
                return True
            if char == "\\":
                if end - pos < 6 and not self._final:
                    self._pos = pos  # keep the escape for the next piece
                    return False
                escaped = buf[pos + 1 : pos + 2]
                if escaped in _SIMPLE_ESCAPES and escaped:
                    pos += 2
                    continue
                if escaped == "u" and _HEX4.match(buf, pos + 2):
                    pos += 6
                    continue
                self._pos = pos
                if not escaped or (escaped == "u" and end - pos < 6):
                    self._fail_at(self._string_start, "Unterminated string")
                elif escaped == "u":
                    self._fail(pos, "Invalid \\uXXXX escape")
                else:
                    self._fail(pos, "Invalid \\escape")
                return True
            self._pos = pos
            self._fail(pos, "Invalid control character")
            return True

    # --- numbers -------------------------------------------------------------------------

    def _number(self, pos: int, end: int, final: bool) -> bool:
        buf = self._buf
        if not final and end - pos < 2:
            return self._wait()  # "-" may be followed by a digit or "Infinity"
        if buf.startswith("-I", pos):
            return self._constant(pos, "-", end, final)
        match = _NUMBER.match(buf, pos)
        if match is None:  # "-" without a digit
            self._fail(pos, "Expecting value")
            return True
        stop = match.end()
        if not final and stop > end - 3:
            # ".5", "e+5" may still follow in the next piece: follow it incrementally.
            self._number_state = _N_SIGN
            self._number_int_digits = 0
            self._number_start = self._where(pos)
            self._pos = pos + 1 if buf[pos] == "-" else pos
            return True
        integer, fraction, exponent = match.groups()
        if fraction is None and exponent is None:
            self._check_int_digits(len(integer) - integer.startswith("-"), pos)
        if not self.failed and not (self._lines and self._skipping_line):
            self._pos = stop
            self._value_done()
        return True

    def _check_int_digits(self, digits: int, pos_or_where: int | tuple[int, int]) -> None:
        if self._int_limit and digits > self._int_limit:
            message = (
                f"integer with {digits} digits is longer than Python's int limit "
                f"({self._int_limit} digits)"
            )
            if isinstance(pos_or_where, tuple):
                self._fail_at(pos_or_where, message)
            else:
                self._fail(pos_or_where, message)

    def _continue_number(self) -> bool:
        """Follow a number across pieces. False: wait for more text."""
        buf = self._buf
        end = len(buf)
        pos = self._pos
        state = self._number_state
        while True:
            if pos >= end:
                self._pos = pos
                self._number_state = state
                if self._final:
                    self._finish_number(pos)
                    return True
                return False
            char = buf[pos]
            if state in (_N_INT, _N_FRAC, _N_EXP):
                run = _DIGITS.match(buf, pos).end()
                if state == _N_INT:
                    self._number_int_digits += run - pos
                pos = run
                if pos >= end:
                    continue
                char = buf[pos]
            if state == _N_SIGN:
                if char == "0":
                    state, pos = _N_ZERO, pos + 1
                    self._number_int_digits = 1
                elif "1" <= char <= "9":
                    state = _N_INT
                else:
                    break
            elif state in (_N_ZERO, _N_INT):
                if char == ".":
                    state, pos = _N_DOT, pos + 1
                elif char in "eE":
                    state, pos = _N_E, pos + 1
                else:
                    break
            elif state == _N_DOT:
                if "0" <= char <= "9":
                    state = _N_FRAC
                else:
                    break
            elif state == _N_FRAC:
                if char in "eE":
                    state, pos = _N_E, pos + 1
                else:
                    break
            elif state == _N_E:
                if char in "+-":
                    state, pos = _N_ESIGN, pos + 1
                elif "0" <= char <= "9":
                    state = _N_EXP
                else:
                    break
            elif state == _N_ESIGN:
                if "0" <= char <= "9":
                    state = _N_EXP
                else:
                    break
            else:  # _N_EXP: digits consumed above, anything else ends the number
                break
        self._number_state = state
        self._pos = pos
        self._finish_number(pos)
        return True

    def _finish_number(self, pos: int) -> None:
        state = self._number_state
        self._number_state = None
        if state not in _N_COMPLETE:
            message = "Expecting value" if state == _N_SIGN else "Expecting digits in a number"
            self._fail(pos, message)
            return
        if state in (_N_ZERO, _N_INT):
            self._check_int_digits(self._number_int_digits, self._number_start)
            if self.failed or (self._lines and self._skipping_line):
                return
        self._value_done()
