"""One canonical key for a phone number, plus the forms we dial and show.

Phone numbers reach us in many spellings: typed by an agent (``8 (495) 134-30-60``),
read from a CSV export (``84951343060``), handed over by the OS as a link
(``tel:+7%20495%20134-30-60``, ``callto://+7...``, ``sip:+7...@pbx;user=phone``) or sent
by the PBX without the country code (``4951343060``). To match a caller to a contact
all of them must collapse to one key: the E.164 digits without ``+`` (``74951343060``).
A short PBX extension (``9022``) is kept as its own digits and flagged ``internal``.

All number rules (trunk prefixes, area codes starting with 8, extensions written as
``доб.``/``ext.``/``x``, lengths per country) come from libphonenumber; this module only
unwraps URIs, recognises PBX extensions and decides what is good enough to be a key.

Acceptance policy: a number gets a key when libphonenumber calls it *possible* (the
digit count fits its country), not only when it is *valid* (a known, allocated range).
Keys are for matching, and agents store odd but real-looking numbers -- a typo in the
area code must still match the same typo when it calls back. Digit strings that cannot
be a number at all are rejected with :class:`PhoneError`, and so is a local number
without an area code (``134-30-60``, libphonenumber's "possible local only"): its
E.164 key would be a fiction that never matches what the PBX reports.

Pure functions: no I/O, no Qt.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from urllib.parse import unquote

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult

__all__ = [
    "DIAL_FORMATS",
    "MAX_INTERNAL_DIGITS",
    "Phone",
    "PhoneError",
    "PhoneNormalizer",
    "cdr_search_forms",
]

#: Longest PBX extension: digit-only text up to this length is an extension, not a public
#: number. No public number in the world is this short with its area code, so 7+ digits go
#: to libphonenumber (where 7-9 digits in Russia are a local number or too short: errors).
MAX_INTERNAL_DIGITS = 6

#: Accepted ``dial_format`` values of :class:`PhoneNormalizer`, ``"auto"`` first (default).
DIAL_FORMATS = ("auto", "e164", "e164_digits", "national")

#: Per-normaliser parse cache: big enough for a day of webhook look-ups and repeated CSV
#: numbers, small enough (~a few MB) to never matter.
_CACHE_SIZE = 16384

#: Links the OS hands over for "call this number". Other schemes (mailto:, http:) are
#: rejected rather than mined for digits.
#: URI schemes that carry a phone number (what the OS hands us for a clicked link).
PHONE_SCHEMES = frozenset({"tel", "callto", "sip", "sips"})
_LINK_PREFIXES = tuple(f"{scheme}:" for scheme in sorted(PHONE_SCHEMES))
_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):(.*)\Z", re.DOTALL)

#: Visual separators dropped before deciding whether text is a bare extension ("90-22").
_SEPARATORS_RE = re.compile(r"[\s\-./()\u00ad\u2010-\u2015\u2212]+")
_INTERNAL_RE = re.compile(rf"\d{{1,{MAX_INTERNAL_DIGITS}}}")

#: Longest input quoted verbatim in an error message; longer text is cut with "...".
_MAX_QUOTED = 80

_PARSE_ERROR_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "it has no valid country code",
    NumberParseException.NOT_A_NUMBER: "it contains no phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "it is too short",
    NumberParseException.TOO_SHORT_NSN: "it is too short",
    NumberParseException.TOO_LONG: "it is too long",
}


class PhoneError(ValueError):
    """Text that is not a phone number we can dial or match; str(e) is one readable sentence naming the input.

    A ``ValueError`` so that callers validating user input (settings, CSV import, the
    dial box) can treat it like any other bad value. ``text`` is the input as given and
    ``reason`` the clause explaining what is wrong with it.
    """

    def __init__(self, text: str, reason: str) -> None:
        self.text = text
        self.reason = reason
        shown = text if len(text) <= _MAX_QUOTED else text[: _MAX_QUOTED - 3] + "..."
        super().__init__(f"{shown!r} is not a phone number we can dial or match: {reason}.")

    # keep pickling (multiprocessing CSV import) working with two args
    def __reduce__(self) -> tuple[type[PhoneError], tuple[str, str]]:
        return (type(self), (self.text, self.reason))


@dataclass(frozen=True, slots=True)
class Phone:
    """A parsed phone number; immutable so that it can be cached and shared.

    ``key`` is what contacts are matched on. ``extension`` (``доб.``) is kept for display
    only: it is never part of the key (the same office line with two extensions is one
    caller for the PBX) nor of the dial string (the PBX cannot dial it).
    """

    key: str
    """E.164 digits without '+' ("74951343060"); for an internal extension its digits ("9022")."""
    internal: bool
    """True for a short PBX extension (digits only, up to MAX_INTERNAL_DIGITS digits)."""
    extension: str | None = None
    """"123" from "доб. 123" / "ext. 123" / ";ext=123"."""
    country_code: int | None = None
    national_number: str | None = None
    """National significant number ("4951343060"), None for internal."""

    @classmethod
    def from_key(cls, key: str) -> Phone:
        """The number a stored key stands for ("74951343060" or the extension "9022").

        Keys are canonical already, so no region or parsing rules apply: the one way back
        from the store to a number that can be shown or dialed (:attr:`text`).
        Raises :class:`PhoneError` for text that is not a key.
        """
        if not key.isdigit():
            raise PhoneError(key, "it is not a stored number key")
        if len(key) <= MAX_INTERNAL_DIGITS:
            return cls(key, True)
        try:
            numobj = _numobj(key)
        except NumberParseException as exc:
            raise PhoneError(key, _PARSE_ERROR_REASONS.get(exc.error_type, "it is not a phone number")) from None
        return cls(key, False, None, numobj.country_code, phonenumbers.national_significant_number(numobj))

    @property
    def text(self) -> str:
        """Text that parses back to this number in any region ("+74951343060", "9022")."""
        return self.key if self.internal else "+" + self.key


class PhoneNormalizer:
    """Turns text into :class:`Phone` and a :class:`Phone` into the forms we send and show.

    ``region`` is the country assumed for numbers written without a country code (what
    "8 495 ..." or "415 555 0100" mean). ``dial_format`` chooses what ``make_call`` gets,
    see :meth:`dial_string`. Both are fixed at construction because :meth:`parse` results
    are cached per instance; make a new normaliser when the settings change.
    """

    __slots__ = ("__weakref__", "_dial_format", "_parse_cached", "_region", "_region_cc")

    def __init__(self, region: str = "RU", dial_format: str = "auto") -> None:
        if not isinstance(region, str) or region.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown phone region {region!r}: expected an ISO 3166 code such as 'RU'")
        if dial_format not in DIAL_FORMATS:
            raise ValueError(f"unknown dial format {dial_format!r}: expected one of {', '.join(DIAL_FORMATS)}")
        self._region = region.upper()
        self._region_cc = phonenumbers.country_code_for_region(self._region)
        self._dial_format = dial_format
        # A cache per instance: the same text means different numbers in different regions.
        self._parse_cached = functools.lru_cache(maxsize=_CACHE_SIZE)(self._parse_uncached)

    @property
    def region(self) -> str:
        """Default region (upper-case ISO code) for numbers without a country code."""
        return self._region

    @property
    def dial_format(self) -> str:
        """One of :data:`DIAL_FORMATS`."""
        return self._dial_format

    def __repr__(self) -> str:
        return f"PhoneNormalizer(region={self._region!r}, dial_format={self._dial_format!r})"

    # -- parsing ---------------------------------------------------------------------

    def parse(self, text: str) -> Phone:
        """Parse anything that denotes a phone number; raises :class:`PhoneError` if it doesn't.

        Accepts free text ("+7 (495) 134-30-60 доб. 123"), bare digits in any of the
        domestic forms, the PBX's national form ("4951343060"), ``tel:``/``callto:``/
        ``sip:``/``sips:`` links (percent-encoded or not) and short extensions ("9022").
        Results are cached (bounded LRU) because the webhook and CSV import call this
        for the same numbers over and over; errors are not cached.
        """
        if not isinstance(text, str):
            raise TypeError(f"a phone number must be given as str, not {type(text).__name__}")
        return self._parse_cached(text)

    def key(self, text: str) -> str:
        """The matching key of ``text``: ``parse(text).key``."""
        return self.parse(text).key

    def try_key(self, text: str) -> str | None:
        """Like :meth:`key` but None for text that is not a phone number (CSV cells, notes)."""
        try:
            return self.key(text)
        except PhoneError:
            return None

    def _parse_uncached(self, text: str) -> Phone:
        stripped = text.strip()
        if not stripped:
            raise PhoneError(text, "it is empty")
        number = stripped
        params: dict[str, str] = {}
        # Only text starting with a letter can be a link; skip the regex for "8...", "+7...".
        match = _SCHEME_RE.match(stripped) if stripped[0].isalpha() else None
        if match is not None:
            scheme, rest = match[1].lower(), match[2]
            if scheme in PHONE_SCHEMES:
                number, params = _split_uri(text, scheme, rest)
            elif not rest[:1].isspace():
                # "mailto:x@y", "http://host/8495...": a link to something else. A label
                # followed by a space ("Mobile: 8 906 ...") is left to libphonenumber.
                raise PhoneError(text, f"{scheme}: links are not phone numbers")
        return self._parse_number(text, number, params)

    def _parse_number(self, text: str, number: str, params: dict[str, str]) -> Phone:
        extension = _digits_or_none(params.get("ext"))
        context = params.get("phone-context", "")
        global_context = context.startswith("+") and not number.startswith("+")
        if not global_context and _INTERNAL_RE.fullmatch(_SEPARATORS_RE.sub("", number)):
            # RFC 3966 makes local numbers carry a phone-context; a domain context (the
            # PBX's) still means an extension, a "+..." context makes it a public number.
            return Phone(key=phonenumbers.normalize_digits_only(number), internal=True, extension=extension)
        if global_context:
            # libphonenumber's own phone-context support differs between releases, so
            # resolve the RFC 3966 rule here: the context is the number's leading digits.
            number = context + number
        numobj = self._parse_possible(text, number)
        nsn = phonenumbers.national_significant_number(numobj)
        return Phone(
            key=f"{numobj.country_code}{nsn}",
            internal=False,
            extension=numobj.extension or extension,
            country_code=numobj.country_code,
            national_number=nsn,
        )

    def _parse_possible(self, text: str, number: str) -> phonenumbers.PhoneNumber:
        """libphonenumber parse plus the possibility check that decides key or error."""
        try:
            numobj = phonenumbers.parse(number, self._region)
        except NumberParseException as exc:
            raise PhoneError(text, _PARSE_ERROR_REASONS.get(exc.error_type, "it is not a phone number")) from exc
        result = phonenumbers.is_possible_number_with_reason(numobj)
        if result == ValidationResult.IS_POSSIBLE:
            return numobj
        # Too many digits for the default region and no '+': read them as international
        # digits without the '+'. That is how PBXs and CSV exports write foreign numbers
        # ("14155550100"), and what our own "e164_digits" dial format produces. It also
        # keeps "71234567890" consistent with "81234567890" and "+7 123 456-78-90":
        # libphonenumber strips a '+'-less country code only when the rest is a known
        # range, but strips the trunk prefix 8 regardless. Too-short and local-only
        # numbers are not retried: fewer digits than a home number is not a foreign one.
        if result in (ValidationResult.TOO_LONG, ValidationResult.INVALID_LENGTH) and not number.lstrip().startswith(
            "+"
        ):
            try:
                retry = phonenumbers.parse("+" + number.lstrip(), self._region)
            except NumberParseException:
                pass
            else:
                if phonenumbers.is_possible_number_with_reason(retry) == ValidationResult.IS_POSSIBLE:
                    return retry
        raise PhoneError(text, _possibility_reason(result, numobj.country_code))

    # -- output forms ------------------------------------------------------------------

    def dial_string(self, phone: Phone) -> str:
        """What ``make_call`` gets as ``dst``; never includes the extension (not dialable).

        ``auto``: Russian (+7) numbers in the domestic trunk form "8" + national number,
        as in the vendor's make_call example ("89066800404"), every other country as
        "+E164" (the trunk decides the route). ``e164``: "+74951343060".
        ``e164_digits``: "74951343060". ``national``: numbers of the default region's
        country code in libphonenumber's NATIONAL format, digits only (trunk prefix
        included where the country uses one); others, and numbers libphonenumber has no
        national format for (possible but not valid), as "+E164" -- a bare national
        significant number would be dialled as a local number. Extensions: their digits.
        """
        if phone.internal:
            return phone.key
        fmt = self._dial_format
        if fmt == "e164_digits":
            return phone.key
        if fmt == "auto" and phone.country_code == 7:
            return "8" + (phone.national_number or "")
        if fmt == "national" and phone.country_code == self._region_cc:
            numobj = _numobj(phone.key)
            if phonenumbers.is_valid_number(numobj):
                return phonenumbers.normalize_digits_only(
                    phonenumbers.format_number(numobj, PhoneNumberFormat.NATIONAL)
                )
        return "+" + phone.key

    def display(self, phone: Phone) -> str:
        """For humans: international format ("+7 495 134-30-60", "+1 415-555-0100").

        International even for home numbers so that an agent sees the country at a
        glance; the extension is appended as " доб. 123" (the agents' language) instead
        of libphonenumber's " ext. 123". Internal extensions show as their digits.
        """
        if phone.internal:
            text = phone.key
        else:
            text = phonenumbers.format_number(_numobj(phone.key), PhoneNumberFormat.INTERNATIONAL)
        if phone.extension:
            text += f" доб. {phone.extension}"
        return text

    def search_form(self, phone: Phone) -> str:
        """The form the PBX's get_contact sends as ``phone``: national significant number, no country code.

        Internal extensions are sent as their digits. The form drops the country code
        (the PBX's convention), so it identifies a number only within the PBX's country:
        "+1 415 555 0100" becomes "4155550100", which reads back as a Russian number.
        """
        if phone.internal or phone.national_number is None:
            return phone.key
        return phone.national_number


def cdr_search_forms(normalizer: PhoneNormalizer, phones: list[Phone]) -> list[str]:
    """The spellings ``get_cdr`` is asked for, sorted: the PBX matches its CDRs' numbers as
    text, so a public number goes as "+E164", E.164 digits and the dial form; an extension as itself."""
    forms: set[str] = set()
    for phone in phones:
        if phone.internal:
            forms.add(phone.key)
        else:
            forms.update({"+" + phone.key, phone.key, normalizer.dial_string(phone)})
    return sorted(forms)


def is_phone_link(text: str) -> bool:
    """``tel:``, ``callto:``, ``sip:`` or ``sips:`` (any case): a phone link rather than a plain number."""
    return text.lower().startswith(_LINK_PREFIXES)


def _split_uri(text: str, scheme: str, rest: str) -> tuple[str, dict[str, str]]:
    """Split a tel:/callto:/sip: link into the (decoded) number and its lower-cased parameters."""
    rest = rest.strip()
    if rest.startswith("//"):  # callto://+7..., and the occasional tel://
        rest = rest[2:]
    rest = rest.partition("?")[0]  # SIP headers / query: never part of the number
    if scheme in ("sip", "sips"):
        if "@" in rest:
            user = rest.partition("@")[0]
            if not user.strip():
                raise PhoneError(text, "the SIP address has no user part")
        else:  # "sip:9022" without a host: the number itself
            user = rest
        rest = user  # URI parameters after the host (;user=phone) say nothing about the number
    number, *raw_params = rest.split(";")
    number = unquote(number).strip()
    if not number:
        raise PhoneError(text, "the link has no number in it")
    params: dict[str, str] = {}
    for raw in raw_params:
        name, _, value = raw.partition("=")
        params[unquote(name).strip().lower()] = unquote(value).strip()
    return number, params


def _digits_or_none(value: str | None) -> str | None:
    digits = phonenumbers.normalize_digits_only(value) if value else ""
    return digits or None


def _possibility_reason(result: int, country_code: int | None) -> str:
    if result == ValidationResult.IS_POSSIBLE_LOCAL_ONLY:
        return "it is a local number without an area code"
    if result == ValidationResult.INVALID_COUNTRY_CODE:
        return "it has no valid country code"
    if result == ValidationResult.TOO_SHORT:
        return f"it is too short for a +{country_code} number"
    if result == ValidationResult.TOO_LONG:
        return f"it is too long for a +{country_code} number"
    return f"it has the wrong number of digits for a +{country_code} number"


@functools.lru_cache(maxsize=4096)
def _numobj(key: str) -> phonenumbers.PhoneNumber:
    """libphonenumber's object for an E.164 key, for formatting; region-independent (hence global).

    Callers only read it: the cached object is shared.
    """
    return phonenumbers.parse("+" + key, None)
