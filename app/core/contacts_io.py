"""Importing and exporting the contact directory: CSV and vCard files (no Qt).

What ``pbx-companion contacts import FILE`` and ``contacts export`` call.

Formats
-------
*CSV* with a header row. Known columns (header names are trimmed and case-insensitive,
order is free, English or Russian): ``name``/``имя``/``фио``, ``phone``/``телефон``,
``company``/``компания``/``организация``, ``owner``/``ответственный``, ``email``/``почта``,
``note``/``примечание``/``заметка`` (see :data:`HEADER_ALIASES`). Every other column goes
into the contact's ``extra`` dict under its header text. The delimiter (``,`` ``;`` or tab)
is sniffed, and the choice is checked against the header (the one that recognises the most
known columns wins; Excel's ``sep=;`` first line is honoured). The file may be UTF-8 with or
without a BOM, UTF-16 with a BOM (Excel's "Unicode text"), or cp1251 (Excel on Russian
Windows) when its bytes are not valid UTF-8.

A phone cell holds one or more numbers separated by ``;``, ``,`` or line breaks, each
optionally prefixed by a label: ``mobile: +7 906 680-04-04; work: 8 495 134-30-60``. A
piece that continues a number (``доб. 12``, ``ext. 12``, ``x12``, ``ext=12``) is glued
back to it, and ``tel:``/``sip:`` links are not mistaken for labels. Several phone columns
are merged.

*vCard* 3.0 and 4.0 (2.1 works too), parsed with ``vobject``: FN (else N), every TEL with
its TYPEs as the label (``work/cell``; ``voice`` and ``pref`` dropped), the first ORG unit
as the company, the first EMAIL, NOTE, ``X-PBX-OWNER`` as the owner and ``X-PBX-EXTRA``
(a JSON object, what our export writes) as ``extra``. A file is a vCard when it starts with
``BEGIN:VCARD`` (after a BOM and whitespace).

Rules
-----
* A row is *matched* to an existing contact when one of its phone keys already belongs to
  one (in the database, or to a row earlier in the same file): non-empty fields overwrite,
  ``extra`` is merged, new phones are added; counted as ``updated``. Otherwise it is a new
  contact (``imported``). When a row's numbers belong to several contacts, the first of its
  numbers that is known decides.
* Completely empty rows (all cells blank, e.g. Excel's trailing ``;;;;``) are skipped
  *silently*: they are layout, not data.
* A row with no name and no valid number is skipped, with its line and the reason (which
  names the invalid numbers, if any). Rows without a number never match anything, so
  importing the same such row twice makes two contacts.
* A row with a name but no number is imported. A row without a name but with a number is
  imported under the display form of its first valid number (``+7 495 134-30-60``) -- only
  when it makes a *new* contact; an update never blanks or replaces the name with that.
* Invalid numbers are dropped with one warning each; the row keeps its valid ones.
* ``owner`` is resolved against the team: a CRM user id, else a PBX extension, else a user
  name (case-insensitive, exactly one match) -> that user's CRM id goes into ``owner_id``.
  Unresolved digits are kept as they are (the PBX accepts an extension as owner_id). Any
  other text gives a warning, an empty ``owner_id`` and the text in ``extra["owner"]``
  (removed again when a later import resolves the owner).
* An import keeps at most :data:`ROW_VALUES` values (non-empty cells; each number of a phone
  cell counts as one) and :data:`ROW_CHARS` characters of a CSV row, the known columns first,
  then the others left to right; a row that holds more is cut, with a warning that says so.
  Batches are written early when their rows hold many characters. The CSV reader still holds
  one whole row while splitting it, so a single line of a million cells costs ~90 MB for that
  moment (see tests/test_contacts_io.py's memory tests).
* A cell our export marked as text (``'`` before ``=``, ``+``, ``-``, ``@``, tab or CR; see
  :func:`app.protocol.text.spreadsheet_cell`) is read without that mark, in every column.
* Line numbers are 1-based *physical* lines, so a quoted cell with line breaks counts all
  of its lines; a vCard's line is that of its ``BEGIN:VCARD``.
* Each batch of ``batch_size`` rows is written in one transaction; an error (disk full...)
  aborts the import with the earlier batches committed. A CSV that becomes unreadable half
  way (an unclosed quote swallowing the rest) ends the import with a skipped entry for it.

Speed: number parsing dominates (~20-30 µs a number in libphonenumber), so big files have
their numbers parsed by worker processes while this process reads the CSV and writes to
SQLite (see :data:`PARALLEL_MIN_BYTES`). The workers are started with ``spawn``, so a script
that calls this must guard its entry point with ``if __name__ == "__main__"`` (console
scripts and ``python -m app`` are fine); when they cannot start, this process parses alone.
Cyclic garbage collection is paused during an import (see :func:`_gc_paused`).

Known limit: vobject ends a text value (NOTE, FN) at an unescaped comma, which vCard 3/4
forbid but vCard 2.1 allows, so the rest of such a value is lost.

Export writes the import header (``name,phone,company,owner,email,note``, then one column
per ``extra`` key) with the numbers as ``label:raw`` joined by ``; ``, or vCard 4.0 cards;
both with CRLF line ends (RFC 4180 / RFC 6350): open the output with ``newline=""``. A CSV
cell that a spreadsheet would run as a formula (``=HYPERLINK(…)``, but also ``+7 495 …``) is
written with ``'`` before it, the spreadsheets' mark for text (see
:func:`app.protocol.text.spreadsheet_cell`). Exporting and importing into an empty database
gives the same contacts back.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gc
import io
import json
import multiprocessing
import operator
import os
import re
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from app.protocol.phones import PHONE_SCHEMES, PhoneError, PhoneNormalizer
from app.protocol.text import from_spreadsheet_cell, spreadsheet_cell

if TYPE_CHECKING:
    from app.storage import ContactRecord, CrmUser, PhoneRecord, Session, Store

# app.storage (pydantic, via the CDR model) and vobject are imported where they are used:
# the number-parsing worker processes import this module and should start in a blink.

__all__ = [
    "EXPORT_FORMATS",
    "FIELDS",
    "HEADER_ALIASES",
    "ImportFormatError",
    "ImportSummary",
    "RowIssue",
    "export_contacts",
    "import_contacts",
]

#: The known CSV columns, in the order the export writes them.
FIELDS = ("name", "phone", "company", "owner", "email", "note")
_SCALAR_FIELDS = ("name", "company", "owner", "email", "note")

#: Header spellings per field (compared trimmed, case-insensitive, inner spaces collapsed).
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("name", "full name", "имя", "фио", "контакт"),
    "phone": ("phone", "phones", "tel", "telephone", "phone number", "телефон", "телефоны", "номер телефона"),
    "company": ("company", "organization", "organisation", "компания", "организация"),
    "owner": ("owner", "owner_id", "ответственный"),
    "email": ("email", "e-mail", "mail", "почта", "эл. почта", "электронная почта"),
    "note": ("note", "notes", "comment", "примечание", "заметка", "комментарий"),
}

#: ``fmt`` values of :func:`export_contacts`.
EXPORT_FORMATS = ("csv", "vcard")

#: Files at least this big get their numbers parsed by worker processes (when the machine
#: has more than one CPU): starting the workers costs ~0.2 s, parsing ~25 µs a number.
PARALLEL_MIN_BYTES = 1 << 20

#: What an import keeps of one CSV row at most: values (non-empty cells, each number of a phone
#: cell counting as one) and characters; the rest is left out with a warning (see :func:`_cut`).
ROW_VALUES = 256
ROW_CHARS = 64 * 1024
#: A batch is written once it holds this many characters, even before ``batch_size`` rows: with
#: ROW_CHARS this bounds the memory an import of long rows holds.
_BATCH_CHARS = 8 * 1024 * 1024

_PROGRESS_EVERY = 500  # rows or cards between progress() calls
_PARSE_CHUNK = 500  # numbers a worker parses at a time
_SNIFF_CHARS = 1 << 16
_DELIMITERS = (",", ";", "\t")
#: TEL types that say nothing to an agent, and vCard 2.1 encoding flags among the bare params.
_IGNORED_TEL_TYPES = frozenset({"voice", "pref", "quoted-printable", "base64", "8bit", "7bit"})
_LABEL_SEPARATORS = str.maketrans({c: " " for c in ":;,\r\n"})

_HEADER_FIELDS = {alias: name for name, aliases in HEADER_ALIASES.items() for alias in aliases}
_PHONE_SEPARATORS_RE = re.compile(r"([;,\r\n]+)")
_PHONE_SPECIALS_RE = re.compile(r"[;,\r\n:]")
#: A piece after a separator that belongs to the number before it: "..., доб. 12", ";ext=12".
_CONTINUATION_RE = re.compile(r"\s*(?:ext|доб|x\s*\d|#\s*\d|phone-context=|isub=|postd=)", re.IGNORECASE)
_LABEL_RE = re.compile(r"([^\d+:;,]{1,40}):(.*)\Z", re.DOTALL)
_LINE_BREAK_RE = re.compile(r"\r\n|\r|\n")
_SEP_LINE_RE = re.compile(r"sep=(.)\s*\Z", re.IGNORECASE)


@dataclass(slots=True)
class RowIssue:
    line: int
    """1-based line number in the file (for vCard: the line of its BEGIN:VCARD)."""
    reason: str
    """One readable sentence, e.g. "no name and no valid phone number"."""


@dataclass(slots=True)
class ImportSummary:
    imported: int = 0
    """New contacts."""
    updated: int = 0
    """Rows matched to an existing contact (or an earlier row) by a phone number and merged into it."""
    skipped: list[RowIssue] = field(default_factory=list)
    """Rows not imported, each with its line and reason (in line order)."""
    warnings: list[RowIssue] = field(default_factory=list)
    """Rows imported with something dropped: an invalid number, an unknown owner (in line order)."""


class ImportFormatError(ValueError):
    """The file is not a CSV with the expected header nor a vCard; the message says what was found."""


# -- reading -----------------------------------------------------------------------------


@dataclass(slots=True)
class _Row:
    """One CSV row or vCard as text, before any number is parsed."""

    line: int
    name: str
    phones: list[tuple[str, str | None]]  # (raw number, label)
    company: str = ""
    owner: str = ""
    email: str = ""
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    size: int = 0
    """Characters the row holds, when it was measured (a CSV row); batches are bounded by it."""


class _Source:
    total: int
    fatal: RowIssue | None = None

    def rows(self) -> Iterator[_Row | RowIssue]:
        raise NotImplementedError

    def position(self) -> int:
        raise NotImplementedError


def _header_key(text: str) -> str:
    return " ".join(text.replace("\ufeff", "").strip().strip('"').split()).casefold()


def _detect_encoding(path: Path) -> tuple[str, str]:
    """(encoding, errors) to open ``path`` with; raises ImportFormatError for binary files."""
    with path.open("rb") as f:
        head = f.read(_SNIFF_CHARS)
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16", "replace"
        if head.startswith(b"PK\x03\x04"):
            raise ImportFormatError(
                f"{path.name} is a ZIP archive (an Excel .xlsx workbook?), not a contacts file:"
                " save it as CSV or vCard first"
            )
        if head.startswith(b"\xd0\xcf\x11\xe0"):
            raise ImportFormatError(
                f"{path.name} is an Excel .xls workbook, not a contacts file: save it as CSV or vCard first"
            )
        if b"\0" in head:
            raise ImportFormatError(f"{path.name} is a binary file, not a CSV or vCard contacts file")
        decoder = codecs.getincrementaldecoder("utf-8")()
        chunk = head
        try:
            while chunk:
                decoder.decode(chunk)
                chunk = f.read(1 << 20)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            if head.startswith(codecs.BOM_UTF8):
                return "utf-8-sig", "replace"
            return "cp1251", "replace"
    return "utf-8-sig", "strict"


def _open_source(path: Path) -> _Source:
    encoding, errors = _detect_encoding(path)
    with path.open(encoding=encoding, errors=errors, newline="") as f:
        head = f.read(_SNIFF_CHARS)
    start = head.lstrip("\ufeff \t\r\n")
    if not start:
        raise ImportFormatError(f"{path.name} is empty")
    if start[:11].upper() == "BEGIN:VCARD":
        return _VCardSource(path, encoding, errors)
    return _CsvSource(path, encoding, errors, head)


class _CsvSource(_Source):
    def __init__(self, path: Path, encoding: str, errors: str, head: str) -> None:
        self.path = path
        self.encoding = encoding
        self.errors = errors
        self.total = path.stat().st_size
        self._file: TextIO | None = None
        self._done = 0
        # Excel's "sep=;" hint line.
        first, _, rest = head.partition("\n")
        match = _SEP_LINE_RE.match(first.lstrip("\ufeff").strip())
        self.skip_lines = 1 if match else 0
        if match:
            head = rest
        if len(head) >= _SNIFF_CHARS - 1 and "\n" in head:  # do not sniff a cut last line
            head = head[: head.rindex("\n") + 1]
        self.delimiter, header = self._choose_delimiter(head, match[1] if match else None)
        self._layout(header)

    def _choose_delimiter(self, sample: str, hinted: str | None) -> tuple[str, list[str]]:
        candidates: list[str] = []
        if hinted is not None:
            candidates.append(hinted)
        with contextlib.suppress(csv.Error):
            candidates.append(csv.Sniffer().sniff(sample[:16384], delimiters="".join(_DELIMITERS)).delimiter)
        candidates += [d for d in _DELIMITERS if d not in candidates]
        best: tuple[int, str, list[str]] | None = None
        widest: list[str] = []
        for delimiter in candidates:
            header = _first_record(sample, delimiter)
            known = {_HEADER_FIELDS.get(_header_key(cell)) for cell in header}
            score = len(known - {None}) if known & {"name", "phone"} else 0
            if best is None or score > best[0]:
                best = (score, delimiter, header)
            if len(header) > len(widest):
                widest = header
        assert best is not None
        if best[0] == 0:
            found = ", ".join(repr(cell.strip()) for cell in widest[:20]) or "none"
            if len(widest) > 20:
                found += f" and {len(widest) - 20} more"
            raise ImportFormatError(
                f"{self.path.name} is not a contacts file: expected a vCard or a CSV header with a 'name' or"
                f" 'phone' column, found columns: {found}"
            )
        return best[1], best[2]

    def _layout(self, header: list[str]) -> None:
        self.width = len(header)
        self.field_columns: dict[str, list[int]] = {name: [] for name in FIELDS}
        self.extra_columns: list[tuple[int, str]] = []
        used: set[str] = set()
        for index, cell in enumerate(header):
            known = _HEADER_FIELDS.get(_header_key(cell))
            if known is not None:
                self.field_columns[known].append(index)
                continue
            title = from_spreadsheet_cell(cell.replace("\ufeff", "").strip()) or f"column {index + 1}"
            if title in used:
                title = f"{title} (column {index + 1})"
            used.add(title)
            self.extra_columns.append((index, title))

    def position(self) -> int:
        if self._file is not None:
            with contextlib.suppress(OSError, ValueError):
                self._done = self._file.buffer.tell()
        return min(self._done, self.total)

    def rows(self) -> Iterator[_Row | RowIssue]:
        with self.path.open(encoding=self.encoding, errors=self.errors, newline="") as f:
            self._file = f
            try:
                yield from self._read(f)
            finally:
                self._done = self.total
                self._file = None

    def _read(self, f: TextIO) -> Iterator[_Row | RowIssue]:
        offset = self.skip_lines
        for _ in range(offset):
            f.readline()
        reader = csv.reader(f, delimiter=self.delimiter)
        width = self.width
        pad = [""] * (width + 1)  # rows are cut or padded to width + 1 cells; the last one is always ""
        cols = self.field_columns
        # Where each field is read from: its (first) column, or the empty padding cell.
        getter = operator.itemgetter(*(cols[name][0] if cols[name] else width for name in _SCALAR_FIELDS))
        duplicated = any(len(cols[name]) > 1 for name in _SCALAR_FIELDS)
        phone_cols = cols["phone"]
        extra_cols = self.extra_columns
        header_seen = False
        previous = 0
        while True:
            cells = pad  # let go of the last row before the reader builds the next (a row can be huge)
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                self.fatal = RowIssue(
                    previous + 1 + offset, f"the CSV is unreadable from here on (an unclosed quote?): {exc}"
                )
                return
            line = previous + 1 + offset
            previous = reader.line_num
            if not any(map(str.strip, cells)):
                continue  # an empty row (or blank lines before the header): layout, not data
            if not header_seen:
                header_seen = True
                continue
            count = len(cells)
            fields = count
            # What a row may hold is bounded (ROW_VALUES, ROW_CHARS); most rows are far inside.
            size = sum(map(len, cells))
            oversized = count > ROW_VALUES or size > ROW_CHARS
            spilled: list[tuple[int, str]] = []
            left_out = 0
            if count > width:
                found = ((i, v) for i in range(width, count) if (v := cells[i].strip()))
                spilled = list(islice(found, ROW_VALUES)) if oversized else list(found)
                left_out = sum(1 for _ in found)  # not kept: counted, never held
                del cells[width:]
                count = width
            cells += pad[count:]
            if duplicated:
                name, company, owner, email, note = (_cell(cells, cols[n]) for n in _SCALAR_FIELDS)
            else:
                name, company, owner, email, note = getter(cells)
                name, company, owner, email, note = (
                    name.strip(), company.strip(), owner.strip(), email.strip(), note.strip())
            if "'" in (name[:1], company[:1], owner[:1], email[:1], note[:1]):  # our export's text mark
                name, company, owner, email, note = map(from_spreadsheet_cell, (name, company, owner, email, note))
            phones: list[tuple[str, str | None]] = []
            for i in phone_cols:
                if cell := cells[i]:
                    if cell[0] == "'" or (cell[0].isspace() and cell.lstrip()[:1] == "'"):
                        cell = from_spreadsheet_cell(cell.strip())
                    phones += _split_phones(cell)
            row = _Row(line, name, phones, company, owner, email, note, size=size)
            extra = row.extra
            for i, title in extra_cols:
                if value := cells[i].strip():
                    extra[title] = from_spreadsheet_cell(value) if value[0] == "'" else value
                    if oversized and len(extra) > ROW_VALUES:
                        left_out += 1
                        del extra[title]
            if spilled:
                for i, value in spilled:
                    extra[f"column {i + 1}"] = from_spreadsheet_cell(value) if value[0] == "'" else value
                names = [repr(f"column {i + 1}") for i, _ in spilled]
                listed = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
                row.warnings.append(
                    f"the row has {fields} fields but the header only {width}; the extra values"
                    f" were kept in extra as {listed}"
                )
            if oversized or len(phones) + len(extra) > ROW_VALUES - len(_SCALAR_FIELDS):
                _cut(row, left_out)
            yield row


def _cut(row: _Row, left_out: int) -> None:
    """Bound what the import keeps of one row: at most :data:`ROW_VALUES` values and
    :data:`ROW_CHARS` characters, taken in column-kind order (name, numbers, company, owner,
    email, note, then the extra columns left to right).

    A file of a million columns, or of cells as long as the CSV reader allows, otherwise costs
    tens of bytes of memory for every byte read (560 MB and 897 MB for files of 14 and 24 MB),
    because a whole batch of rows is held until it is written. Texts are cut short at the limit;
    a number, owner or e-mail that does not fit whole is left out (half of it would be wrong).
    ``left_out`` values were dropped already while reading. Adds one warning when anything was cut.
    """
    values, chars = ROW_VALUES, ROW_CHARS
    shortened = 0

    def text(value: str) -> str:
        nonlocal values, chars, left_out, shortened
        if not value:
            return value
        if values <= 0 or chars <= 0:
            left_out += 1
            return ""
        values -= 1
        if len(value) > chars:
            shortened += 1
            value = value[:chars]
        chars -= len(value)
        return value

    def whole(value: str) -> bool:
        nonlocal values, chars, left_out
        if values <= 0 or len(value) > chars:
            left_out += 1
            return False
        values -= 1
        chars -= len(value)
        return True

    row.name = text(row.name)
    row.phones = [(raw, label) for raw, label in row.phones if whole(raw)]
    row.company = text(row.company)
    row.owner = row.owner if row.owner and whole(row.owner) else ""
    row.email = row.email if row.email and whole(row.email) else ""
    row.note = text(row.note)
    kept: dict[str, Any] = {}
    for key, value in row.extra.items():
        if value := text(value):
            kept[key] = value
    row.extra = kept
    row.size = ROW_CHARS - chars
    if left_out or shortened:
        cuts = [f"{left_out:,} values left out"] if left_out else []
        if shortened:
            cuts.append(f"{shortened} cut short")
        row.warnings.append(
            f"the row holds more than an import keeps of one row ({ROW_VALUES} values, {ROW_CHARS:,} characters),"
            f" so it was cut: {' and '.join(cuts)}"
        )


def _cell(cells: list[str], columns: list[int]) -> str:
    for i in columns:
        if value := cells[i].strip():
            return value
    return ""


def _first_record(sample: str, delimiter: str) -> list[str]:
    try:
        for record in csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter):
            if any(cell.strip() for cell in record):
                return record
    except csv.Error:
        pass
    return []


def _split_phones(cell: str) -> list[tuple[str, str | None]]:
    """"mobile: 8 906 680-04-04; 8 495 134-30-60, доб. 5" -> [(number, label), ...]."""
    if not _PHONE_SPECIALS_RE.search(cell):  # the common case: one number, no label
        cell = cell.strip()
        return [(cell, None)] if cell else []
    if ";" in cell or "," in cell or "\n" in cell or "\r" in cell:
        parts = _PHONE_SEPARATORS_RE.split(cell)
        pieces = [parts[0]]
        for i in range(2, len(parts), 2):
            if _CONTINUATION_RE.match(parts[i]) and pieces[-1].strip():
                pieces[-1] += parts[i - 1] + parts[i]
            else:
                pieces.append(parts[i])
    else:
        pieces = [cell]
    found: list[tuple[str, str | None]] = []
    for piece in pieces:
        label = None
        if ":" in piece:
            match = _LABEL_RE.match(piece)
            if match is not None and match[1].strip().lower() not in PHONE_SCHEMES:
                label, piece = match[1].strip() or None, match[2]
        piece = piece.strip()
        if piece:
            found.append((piece, label))
    return found


class _VCardSource(_Source):
    def __init__(self, path: Path, encoding: str, errors: str) -> None:
        self.path = path
        self.total = path.stat().st_size
        self.text = path.read_text(encoding=encoding, errors=errors)
        self._chars = max(len(self.text), 1)
        self._done = 0

    def position(self) -> int:
        return min(self.total, self._done * self.total // self._chars)

    def rows(self) -> Iterator[_Row | RowIssue]:
        from vobject import readOne

        for line, chunk, end in self._cards():
            self._done = end
            try:
                row = _card_row(line, readOne(chunk, allowQP=True))
            except Exception as exc:  # vobject raises ParseError, ValueError, AttributeError... on bad input
                yield RowIssue(line, f"unreadable vCard: {_vobject_error(exc, line)}")
                continue
            yield row
        self._done = self._chars

    def _cards(self) -> Iterator[tuple[int, str, int]]:
        """(line of BEGIN:VCARD, the card's text, char offset of its end) for each top-level card."""
        depth = 0
        start = 0
        lines: list[str] = []
        offset = 0
        for number, physical in enumerate(_LINE_BREAK_RE.split(self.text), start=1):
            offset += len(physical) + 1
            tag = physical.strip().upper()
            if tag == "BEGIN:VCARD":
                if depth == 0:
                    start, lines = number, []
                depth += 1
            if depth:
                lines.append(physical)
                if tag == "END:VCARD":
                    depth -= 1
                    if depth == 0:
                        yield start, "\r\n".join(lines) + "\r\n", offset
        if depth:
            yield start, "\r\n".join(lines) + "\r\n", offset


def _vobject_error(exc: Exception, card_line: int) -> str:
    relative = getattr(exc, "lineNumber", None)
    message = getattr(exc, "msg", None)
    if isinstance(message, str):
        if isinstance(relative, int):
            return f"{message} (line {card_line + relative - 1})"
        return message
    return str(exc) or type(exc).__name__


def _card_row(line: int, card: Any) -> _Row:
    from vobject.vcard import Name

    contents: dict[str, list[Any]] = card.contents
    name = _first_text(contents.get("fn"))
    if not name:
        for prop in contents.get("n", ()):
            value = prop.value
            if isinstance(value, Name):
                parts = (value.prefix, value.given, value.additional, value.family, value.suffix)
                name = " ".join(_flat(part) for part in parts if _flat(part))
            else:
                name = _flat(value)
            if name:
                break
    phones: list[tuple[str, str | None]] = []
    for prop in contents.get("tel", ()):
        number = _flat(prop.value)
        if number:
            phones.append((number, _tel_label(prop)))
    company = ""
    for prop in contents.get("org", ()):
        value = prop.value
        company = next((_flat(unit) for unit in value if _flat(unit)), "") if isinstance(value, list) else _flat(value)
        if company:
            break
    row = _Row(
        line,
        name,
        phones,
        company,
        _first_text(contents.get("x-pbx-owner")),
        _first_text(contents.get("email")),
        "\n".join(t for prop in contents.get("note", ()) if (t := _flat(prop.value))),
    )
    for prop in contents.get("x-pbx-extra", ()):
        text = _flat(prop.value)
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, dict):
            row.extra.update(value)
        elif text:
            row.extra["X-PBX-EXTRA"] = text
    return row


def _flat(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return " ".join(t for v in value if (t := _flat(v)))
    return str(value).strip()


def _first_text(props: list[Any] | None) -> str:
    for prop in props or ():
        if text := _flat(prop.value):
            return text
    return ""


def _tel_label(prop: Any) -> str | None:
    types: list[str] = []
    raw = list(prop.params.get("TYPE", ())) + list(getattr(prop, "singletonparams", ()))
    for value in raw:
        for item in str(value).split(","):
            item = item.strip().strip('"').lower()
            if item and item not in _IGNORED_TEL_TYPES and item not in types:
                types.append(item)
    return "/".join(types) or None


# -- phone parsing (in this process or in workers) ---------------------------------------

_ParseResult = tuple[str, str | None] | str  # (key, extension) or the reason it is not a number
_worker_normalizer: PhoneNormalizer | None = None


def _parse_one(normalizer: PhoneNormalizer, text: str) -> _ParseResult:
    try:
        phone = normalizer.parse(text)
    except PhoneError as exc:
        return exc.reason
    return phone.key, phone.extension


def _init_worker(region: str, dial_format: str) -> None:
    global _worker_normalizer
    _worker_normalizer = PhoneNormalizer(region, dial_format)
    gc.disable()  # a short-lived process that makes no reference cycles: skip the collector's passes


def _parse_in_worker(texts: list[str]) -> list[_ParseResult]:
    normalizer = _worker_normalizer
    assert normalizer is not None
    return [_parse_one(normalizer, text) for text in texts]


class _PhoneParser:
    """Parses each batch's numbers: in worker processes for big files, pipelined with the writes.

    A batch's numbers go to the workers in small chunks. When this process needs a batch's
    results it parses the chunks no worker has started yet itself, and while it waits for
    the started ones it takes the newest queued chunks of later batches (work stealing): the
    CPUs stay busy whichever side is slower, and small imports never wait for a worker.
    """

    def __init__(self, normalizer: PhoneNormalizer, workers: int) -> None:
        self.normalizer = normalizer
        self.pool: ProcessPoolExecutor | None = None
        self._queued: deque[tuple[list[str], Future[list[_ParseResult]]]] = deque()  # oldest first
        self._stolen: dict[Future[list[_ParseResult]], list[_ParseResult]] = {}
        if workers > 0:
            try:
                self.pool = ProcessPoolExecutor(
                    max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                    initializer=_init_worker, initargs=(normalizer.region, normalizer.dial_format),
                )
            except (OSError, ValueError, NotImplementedError):
                self.pool = None

    def submit(self, texts: list[str]) -> list[tuple[list[str], Future[list[_ParseResult]] | None]]:
        chunks = [texts[i:i + _PARSE_CHUNK] for i in range(0, len(texts), _PARSE_CHUNK)]
        if self.pool is None:
            return [(chunk, None) for chunk in chunks]
        try:
            handle: list[tuple[list[str], Future[list[_ParseResult]] | None]] = [
                (chunk, self.pool.submit(_parse_in_worker, chunk)) for chunk in chunks]
        except (BrokenProcessPool, RuntimeError):  # RuntimeError: a process cannot be started here
            self._drop_pool()
            return [(chunk, None) for chunk in chunks]
        self._queued.extend((chunk, future) for chunk, future in handle if future is not None)
        return handle

    def result(self, handle: list[tuple[list[str], Future[list[_ParseResult]] | None]]) -> dict[str, _ParseResult]:
        parsed: dict[str, _ParseResult] = {}
        for chunk, future in handle:
            if future is not None:
                if self._queued and self._queued[0][1] is future:
                    self._queued.popleft()
                results = self._stolen.pop(future, None)
                if results is None and not future.cancel():
                    while not future.done() and self._steal():
                        pass
                    try:
                        results = future.result()
                    except (BrokenProcessPool, OSError):
                        self._drop_pool()
                if results is not None:
                    parsed.update(zip(chunk, results, strict=True))
                    continue
            parsed.update(zip(chunk, self._local(chunk), strict=True))
        return parsed

    def _steal(self) -> bool:
        """Parse the newest chunk no worker has started; False when there is none."""
        while self._queued:
            chunk, future = self._queued.pop()
            if future.cancel():
                self._stolen[future] = self._local(chunk)
                return True
            if not future.done():
                return False  # the workers take the oldest first: everything older has started too
        return False

    def _local(self, chunk: list[str]) -> list[_ParseResult]:
        normalizer = self.normalizer
        return [_parse_one(normalizer, text) for text in chunk]

    def _drop_pool(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None


# -- importing -----------------------------------------------------------------------------


class _Team:
    """Resolves the ``owner`` column against the team (CRM users)."""

    def __init__(self, users: list[CrmUser]) -> None:
        self.by_id = {u.id: u.id for u in users}
        self.by_extension = {u.extension: u.id for u in users if u.extension}
        self.by_name: dict[str, list[str]] = {}
        for u in users:
            self.by_name.setdefault(u.name.strip().casefold(), []).append(u.id)
        self._cache: dict[str, tuple[str | None, str | None]] = {}

    def resolve(self, text: str) -> tuple[str | None, str | None]:
        """(owner_id, warning): owner_id None means unresolved (keep the text in extra)."""
        cached = self._cache.get(text)
        if cached is None:
            cached = self._cache[text] = self._resolve(text)
        return cached

    def _resolve(self, text: str) -> tuple[str | None, str | None]:
        if text in self.by_id:
            return text, None
        if text in self.by_extension:
            return self.by_extension[text], None
        named = self.by_name.get(text.casefold(), [])
        if len(named) == 1:
            return named[0], None
        if text.isascii() and text.isdigit():
            return text, None  # an extension the team list does not know (yet): the PBX accepts it
        if named:
            return None, (f"owner {text!r} is ambiguous: {len(named)} team members have that name;"
                          " kept in extra['owner'], owner left empty")
        return None, (f"unknown owner {text!r}: no team member has that id, extension or name;"
                      " kept in extra['owner'], owner left empty")


@dataclass(slots=True)
class _Batch:
    rows: list[_Row]
    handle: Any


class _Importer:
    def __init__(self, store: Store, normalizer: PhoneNormalizer, parser: _PhoneParser) -> None:
        from app.storage import ContactRecord, PhoneRecord

        self._new_contact = ContactRecord
        self._new_phone = PhoneRecord
        self.store = store
        self.normalizer = normalizer
        self.parser = parser
        self.summary = ImportSummary()
        self.team = _Team(store.read_sync(lambda s: s.users.list()))
        self.known: dict[str, int] = {}  # phone key -> contact id, for keys met in this import
        self.companies: dict[str, int] = {}

    def submit(self, rows: list[_Row]) -> _Batch:
        texts = list({raw: None for row in rows for raw, _ in row.phones})
        return _Batch(rows, self.parser.submit(texts))

    def finish(self, batch: _Batch) -> None:
        parsed = self.parser.result(batch.handle)
        ready: list[tuple[ContactRecord, str]] = []
        for row in batch.rows:
            prepared = self._prepare(row, parsed)
            if prepared is not None:
                ready.append(prepared)
        if ready:
            imported, updated = self.store.write_sync(lambda s: self._write(s, ready))
            self.summary.imported += imported
            self.summary.updated += updated

    def _prepare(self, row: _Row, parsed: dict[str, _ParseResult]) -> tuple[ContactRecord, str] | None:
        """The row as a record to insert or merge (plus a fallback name), or None when it is skipped."""
        new_phone = self._new_phone
        phones: list[PhoneRecord] = []
        invalid: list[str] = []
        for raw, label in row.phones:
            result = parsed[raw]
            if result.__class__ is str:
                invalid.append(f"invalid phone {raw!r} ({result})")
            else:
                phones.append(new_phone(result[0], raw, label, result[1]))
        if len(phones) > 1:  # one number written twice in a row
            unique = {p.key: p for p in reversed(phones)}
            if len(unique) < len(phones):
                phones = [p for p in phones if unique.get(p.key) is p]
        line = row.line
        if not row.name and not phones:
            reason = "no name and no valid phone number"
            if invalid:
                reason += ": " + "; ".join(invalid)
            self.summary.skipped.append(RowIssue(line, reason))
            return None
        warnings = self.summary.warnings
        for text in row.warnings:
            warnings.append(RowIssue(line, text))
        for text in invalid:
            warnings.append(RowIssue(line, f"{text} was not imported"))
        record = self._new_contact(None, row.name, None, row.company or None, None, row.email or None,
                               row.note or None, row.extra, phones)
        if row.owner:
            owner_id, warning = self.team.resolve(row.owner)
            if owner_id is not None:
                record.owner_id = owner_id
            else:
                record.extra["owner"] = row.owner
                warnings.append(RowIssue(line, warning or f"unknown owner {row.owner!r}"))
        fallback = ""
        if not row.name:
            fallback = self.normalizer.display(self.normalizer.parse(phones[0].raw))
        return record, fallback

    def _write(self, s: Session, ready: list[tuple[ContactRecord, str]]) -> tuple[int, int]:
        """Match each record by its numbers, then insert the new contacts and merge the rest (one transaction)."""
        contacts = s.contacts
        known = self.known
        fresh = list({p.key: None for record, _ in ready for p in record.phones if p.key not in known})
        existing = contacts.ids_by_keys(fresh) if fresh else {}
        local: dict[str, ContactRecord] = {}  # key -> the record that owns it in this batch
        patches: dict[int, ContactRecord] = {}  # contact id -> what to merge into that stored contact
        new: list[ContactRecord] = []
        updated = 0
        for record, fallback in ready:
            target: ContactRecord | None = None
            for phone in record.phones:
                target = local.get(phone.key)
                if target is None:
                    contact_id = known.get(phone.key) or existing.get(phone.key)
                    if contact_id is not None:
                        target = patches.get(contact_id)
                        if target is None:
                            target = patches[contact_id] = self._new_contact(id=contact_id, name="")
                if target is not None:
                    break
            if record.company_name:
                record.company_id = self._company_id(s, record.company_name)
            if target is None:
                if not record.name:
                    record.name = fallback
                new.append(record)
                target = record
            else:
                _merge(target, record)
                updated += 1
            for phone in record.phones:
                key = phone.key
                if key not in local and key not in known and key not in existing:
                    local[key] = target
        contacts.insert_many(new)
        contacts.merge_many(list(patches.values()))
        # Only now: the new records got their ids in insert_many.
        known.update(existing)
        for key, record in local.items():
            assert record.id is not None
            known[key] = record.id
        return len(new), updated

    def _company_id(self, s: Session, name: str) -> int:
        company_id = self.companies.get(name)
        if company_id is None:
            company_id = self.companies[name] = s.contacts.company_id(name)
        return company_id


def _merge(target: ContactRecord, row: ContactRecord) -> None:
    """Non-empty fields of ``row`` overwrite ``target``; extra merged, new phones appended.

    ``target`` is a new record of this batch or a patch for a stored contact (id set).
    """
    if row.name:
        target.name = row.name
    if row.company_id is not None:
        target.company_id = row.company_id
        target.company_name = row.company_name
    if row.owner_id:
        target.owner_id = row.owner_id
        if target.id is not None:
            target.extra["owner"] = None  # JSON merge patch: drop an unresolved owner text stored earlier
        else:
            target.extra.pop("owner", None)
    if row.email:
        target.email = row.email
    if row.note:
        target.note = row.note
    target.extra.update(row.extra)
    have = {p.key for p in target.phones}
    for phone in row.phones:
        if phone.key not in have:
            have.add(phone.key)
            target.phones.append(phone)


def import_contacts(
    store: Store,
    path: Path,
    normalizer: PhoneNormalizer,
    *,
    progress: Callable[[int, int], None] | None = None,
    batch_size: int = 5000,
) -> ImportSummary:
    """Import a CSV or vCard file into the contact directory; see the module docstring for the rules.

    ``progress(done, total)`` is called every few hundred rows with the bytes read so far and
    the file size, and once more with ``(total, total)`` at the end. Each batch of
    ``batch_size`` rows is one write transaction. Raises :class:`ImportFormatError` when the
    file is neither a vCard nor a CSV with a ``name`` or ``phone`` column, ``OSError`` when
    it cannot be read and ``StorageError`` when the database cannot be written.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    path = Path(path)
    source = _open_source(path)
    total = source.total
    cpus = os.cpu_count() or 1
    # This process reads, matches and writes, and parses too when it would wait otherwise.
    workers = min(cpus - 1, 3) if total >= PARALLEL_MIN_BYTES else 0
    parser = _PhoneParser(normalizer, workers)
    try:
        with _gc_paused():
            importer = _Importer(store, normalizer, parser)
            _run(importer, source, progress, batch_size)
    finally:
        parser.close()
    summary = importer.summary
    if source.fatal is not None:
        summary.skipped.append(source.fatal)
    summary.skipped.sort(key=lambda issue: issue.line)
    summary.warnings.sort(key=lambda issue: issue.line)
    if progress is not None:
        progress(total, total)
    return summary


def _run(importer: _Importer, source: _Source, progress: Callable[[int, int], None] | None, batch_size: int) -> None:
    total = source.total
    skipped = importer.summary.skipped
    pending: deque[_Batch] = deque()
    rows: list[_Row] = []
    seen = 0
    held = 0  # characters in ``rows``
    if progress is not None:
        progress(0, total)
    for item in source.rows():
        if isinstance(item, RowIssue):
            skipped.append(item)
            continue
        rows.append(item)
        held += item.size
        seen += 1
        if progress is not None and seen % _PROGRESS_EVERY == 0:
            progress(source.position(), total)
        if len(rows) >= batch_size or held >= _BATCH_CHARS:
            pending.append(importer.submit(rows))
            rows = []
            held = 0
            # Keep one batch in flight: its numbers are parsed while the one before is written.
            while len(pending) > 1:
                importer.finish(pending.popleft())
    if rows:
        pending.append(importer.submit(rows))
    while pending:
        importer.finish(pending.popleft())


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection meanwhile: a bulk load allocates millions of objects that
    live until their batch is written, and the collector's passes over them cost ~20% of the
    import. Nothing here makes reference cycles; refcounting frees everything as usual."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# -- exporting -----------------------------------------------------------------------------


def export_contacts(store: Store, out: TextIO, fmt: str = "csv") -> int:
    """Write every contact to ``out`` as CSV or vCard 4.0 (``fmt``: "csv" or "vcard"); returns the count.

    Lines end in CRLF, as both formats specify: open a file with ``newline=""``.
    """
    kind = fmt.strip().lower()
    if kind in ("vcf", "vcard"):
        kind = "vcard"
    if kind not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}: expected one of {', '.join(EXPORT_FORMATS)}")
    records = store.read_sync(lambda s: list(s.contacts.iter_all()))
    if kind == "csv":
        _export_csv(records, out)
    else:
        _export_vcard(records, out)
    return len(records)


def _owner_text(record: ContactRecord) -> str:
    if record.owner_id:
        return record.owner_id
    owner = record.extra.get("owner")
    return owner if isinstance(owner, str) else ""


def _extra_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _phone_text(phone: PhoneRecord) -> str:
    label = (phone.label or "").translate(_LABEL_SEPARATORS).strip()
    return f"{label}:{phone.raw}" if label else phone.raw


def _export_csv(records: list[ContactRecord], out: TextIO) -> None:
    extra_keys: dict[str, None] = {}
    for record in records:
        for key in record.extra:
            if key != "owner" and _HEADER_FIELDS.get(_header_key(key)) is None:
                extra_keys.setdefault(key, None)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*FIELDS, *map(spreadsheet_cell, extra_keys)])
    for record in records:
        writer.writerow(map(spreadsheet_cell, [
            record.name,
            "; ".join(_phone_text(p) for p in record.phones),
            record.company_name or "",
            _owner_text(record),
            record.email or "",
            record.note or "",
            *(_extra_text(record.extra.get(key)) for key in extra_keys),
        ]))


def _export_vcard(records: list[ContactRecord], out: TextIO) -> None:
    from vobject import vCard

    for record in records:
        card = vCard()
        card.add("version").value = "4.0"
        card.add("fn").value = record.name
        for phone in record.phones:
            tel = card.add("tel")
            tel.value = phone.raw
            # vCard parameter values cannot hold double quotes or control characters.
            label = "".join(c for c in (phone.label or "") if c != '"' and c.isprintable())
            types = [t.strip() for t in label.translate(_LABEL_SEPARATORS).split("/") if t.strip()]
            if types:
                tel.type_param = types
        if record.company_name:
            card.add("org").value = [record.company_name]
        if record.email:
            card.add("email").value = record.email
        if record.note:
            card.add("note").value = record.note
        if owner := _owner_text(record):
            card.add("x-pbx-owner").value = owner
        extra = {k: v for k, v in record.extra.items() if k != "owner"}
        if extra:
            card.add("x-pbx-extra").value = json.dumps(extra, ensure_ascii=False)
        out.write(card.serialize())
