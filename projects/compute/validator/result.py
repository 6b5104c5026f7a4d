"""The statuses an object can get, and what validating one object found."""

from dataclasses import dataclass, field

from .settings import MAX_REASON_CHARS, MAX_REASONS

VALID = "VALID"
INVALID = "INVALID"
# Recorded without reading the content, by design: an archived storage class, or above the
# size limits. Neither VALID nor INVALID, since nobody looked; ``reasons`` says why.
UNREADABLE = "UNREADABLE"
# Not recorded at all (logged only): not an object creation, or the object is gone.
SKIPPED = "SKIPPED"


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class ValidationResult:
    """What validating one object found. ``record_count`` is None when the body was not read."""

    file_type: str
    record_count: int | None = None
    columns: list[str] | None = None
    reasons: list[str] = field(default_factory=list)
    error_count: int = 0
    unreadable: bool = False
    _reason_lines: list[float] = field(default_factory=list, repr=False)

    @property
    def status(self) -> str:
        if self.error_count:
            return INVALID
        return UNREADABLE if self.unreadable else VALID

    @classmethod
    def not_read(cls, file_type: str, reason: str) -> "ValidationResult":
        """An UNREADABLE result: the content was not read, for ``reason``."""
        result = cls(file_type, unreadable=True)
        result.reasons.append(truncate(reason, MAX_REASON_CHARS))
        result._reason_lines.append(float("inf"))
        return result

    def add_error(self, line: int | None, message: str) -> None:
        self.error_count += 1
        if len(self.reasons) < MAX_REASONS:
            reason = message if line is None else f"line {line}: {message}"
            self.reasons.append(truncate(reason, MAX_REASON_CHARS))
            self._reason_lines.append(float("inf") if line is None else line)

    def sort_reasons(self) -> None:
        """Put the kept reasons in line order (whole-object reasons last).

        Invalid UTF-8 is found when a chunk is decoded, before the lines in it are parsed.
        """
        order = sorted(range(len(self.reasons)), key=self._reason_lines.__getitem__)
        self.reasons = [self.reasons[index] for index in order]
        self._reason_lines = [self._reason_lines[index] for index in order]
