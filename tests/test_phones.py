"""Phone-number normalisation: one key from every spelling, plus dial and display forms."""

from __future__ import annotations

import pickle

import pytest

from app.protocol.phones import (
    DIAL_FORMATS,
    MAX_INTERNAL_DIGITS,
    Phone,
    PhoneError,
    PhoneNormalizer,
)

MOSCOW = "74951343060"
MOSCOW_DIAL = "84951343060"
MOSCOW_SHOWN = "+7 495 134-30-60"

# (input, key, dial string in the default "auto" format, display) -- region RU.
CASES = [
    # Every spelling of one Moscow number.
    ("+7 (495) 134-30-60", MOSCOW, MOSCOW_DIAL, MOSCOW_SHOWN),
    ("8 495 134 30 60", MOSCOW, MOSCOW_DIAL, MOSCOW_SHOWN),
    ("84951343060", MOSCOW, MOSCOW_DIAL, MOSCOW_SHOWN),
    ("74951343060", MOSCOW, MOSCOW_DIAL, MOSCOW_SHOWN),
    ("4951343060", MOSCOW, MOSCOW_DIAL, MOSCOW_SHOWN),  # what the PBX sends as `phone`
    ("+74951343060", MOSCOW, MOSCOW_DIAL, MOSCOW_SHOWN),
    (" 8 (495) 134-30-60 ", MOSCOW, MOSCOW_DIAL, MOSCOW_SHOWN),
    ("\t+7 495 134 30 60\n", MOSCOW, MOSCOW_DIAL, MOSCOW_SHOWN),
    # Links from the OS.
    ("tel:+74951343060", MOSCOW, MOSCOW_DIAL, MOSCOW_SHOWN),
    ("TEL:+74951343060", MOSCOW, MOSCOW_DIAL, MOSCOW_SHOWN),
    ("tel:+7%20495%20134-30-60", MOSCOW, MOSCOW_DIAL, MOSCOW_SHOWN),  # as xdg-open passes it
    ("tel:%2B74951343060", MOSCOW, MOSCOW_DIAL, MOSCOW_SHOWN),
    ("tel:+7-495-134-30-60;ext=123", MOSCOW, MOSCOW_DIAL, MOSCOW_SHOWN + " доб. 123"),
    ("tel:134-30-60;phone-context=+7495", MOSCOW, MOSCOW_DIAL, MOSCOW_SHOWN),
    ("tel:134-30-60;phone-context=+7-495", MOSCOW, MOSCOW_DIAL, MOSCOW_SHOWN),
    ("callto:+74951343060", MOSCOW, MOSCOW_DIAL, MOSCOW_SHOWN),
    ("callto://+74951343060", MOSCOW, MOSCOW_DIAL, MOSCOW_SHOWN),
    ("callto:84951343060", MOSCOW, MOSCOW_DIAL, MOSCOW_SHOWN),
    ("sip:74951343060@pbx.example.com", MOSCOW, MOSCOW_DIAL, MOSCOW_SHOWN),
    ("sip:+74951343060@pbx.example.com;user=phone", MOSCOW, MOSCOW_DIAL, MOSCOW_SHOWN),
    ("sips:+74951343060@pbx.example.com;user=phone", MOSCOW, MOSCOW_DIAL, MOSCOW_SHOWN),
    ("SIP:74951343060@PBX.EXAMPLE.COM", MOSCOW, MOSCOW_DIAL, MOSCOW_SHOWN),
    ("sip:%2B74951343060@pbx.example.com?subject=call", MOSCOW, MOSCOW_DIAL, MOSCOW_SHOWN),
    # Extensions: kept for display, never dialled, never in the key.
    ("+7 495 134-30-60 доб. 123", MOSCOW, MOSCOW_DIAL, MOSCOW_SHOWN + " доб. 123"),
    ("+7 495 134-30-60 ext. 123", MOSCOW, MOSCOW_DIAL, MOSCOW_SHOWN + " доб. 123"),
    ("+7 495 134-30-60 x123", MOSCOW, MOSCOW_DIAL, MOSCOW_SHOWN + " доб. 123"),
    # Russian numbers whose area code starts with 8, and mobiles.
    ("8123456789", "78123456789", "88123456789", "+7 812 345-67-89"),
    ("88123456789", "78123456789", "88123456789", "+7 812 345-67-89"),
    ("8 800 555 35 35", "78005553535", "88005553535", "+7 800 555-35-35"),
    ("89066800404", "79066800404", "89066800404", "+7 906 680-04-04"),
    ("Mobile: 8 906 680 04 04", "79066800404", "89066800404", "+7 906 680-04-04"),
    # Possible but not valid (no such area code): still a key, so typos match typos.
    ("+7 123 456-78-90", "71234567890", "81234567890", "+7 1234567890"),
    ("81234567890", "71234567890", "81234567890", "+7 1234567890"),
    ("71234567890", "71234567890", "81234567890", "+7 1234567890"),
    # Kazakhstan shares +7 and the Russian trunk prefix.
    ("+7 701 234 5678", "77012345678", "87012345678", "+7 701 234 5678"),
    # Foreign numbers dial as +E164 in "auto".
    ("+1 415 555 0100", "14155550100", "+14155550100", "+1 415-555-0100"),
    ("+44 20 7946 0958", "442079460958", "+442079460958", "+44 20 7946 0958"),
    ("+49 30 901820", "4930901820", "+4930901820", "+49 30 901820"),
    ("tel:+1-415-555-0100", "14155550100", "+14155550100", "+1 415-555-0100"),
    # Foreign numbers as PBXs and CSV exports write them: E.164 digits without '+'.
    ("14155550100", "14155550100", "+14155550100", "+1 415-555-0100"),
    ("442079460958", "442079460958", "+442079460958", "+44 20 7946 0958"),
    ("81014155550100", "14155550100", "+14155550100", "+1 415-555-0100"),  # Russian IDD 810
    # Internal PBX extensions.
    ("9022", "9022", "9022", "9022"),
    ("90-22", "9022", "9022", "9022"),
    ("123456", "123456", "123456", "123456"),
    ("sip:9022@pbx.example.com", "9022", "9022", "9022"),
    ("tel:9022", "9022", "9022", "9022"),
    ("callto:9022", "9022", "9022", "9022"),
    ("tel:9022;phone-context=pbx.example.com", "9022", "9022", "9022"),
]

ERRORS = [
    "",
    "   ",
    "abc",
    "tel:",
    "callto://",
    "sip:@host",
    "sip:@pbx.example.com;user=phone",
    "sip:pbx.example.com",
    "12345678901234567890",
    "1234567890123456",
    "+7 123",
    "+9022",
    "+999 123 4567",
    "mailto:x@y",
    "http://example.com/84951343060",
    "https://example.com/",
    # 7 to 9 digits: longer than an extension, not a Russian number with its area code.
    "1343060",  # a local number without its area code: no honest E.164 key exists
    "1234567",
    "12345678",
    "123456789",
    "tel:1343060;phone-context=example.com",  # a domain context supplies no area code
    "8495134306012",
    "+7 495 134-30-60 доб. 12a",
]


@pytest.fixture
def ru() -> PhoneNormalizer:
    return PhoneNormalizer()


@pytest.mark.parametrize(("text", "key", "dial", "shown"), CASES)
def test_case_table(ru: PhoneNormalizer, text: str, key: str, dial: str, shown: str) -> None:
    phone = ru.parse(text)
    assert phone.key == key
    assert ru.key(text) == key
    assert ru.try_key(text) == key
    assert ru.dial_string(phone) == dial
    assert ru.display(phone) == shown


@pytest.mark.parametrize(("text", "key", "dial", "shown"), CASES)
@pytest.mark.parametrize("dial_format", DIAL_FORMATS)
def test_output_forms_parse_back_to_the_same_key(
    text: str, key: str, dial: str, shown: str, dial_format: str
) -> None:
    normalizer = PhoneNormalizer("RU", dial_format)
    phone = normalizer.parse(text)
    if dial_format != "e164_digits" or phone.internal or phone.country_code in (1, 7, 44):
        # Foreign digits without '+' are ambiguous: "4930901820" is also a possible
        # Russian number, so only some of them read back (see the PBX-digits cases).
        assert normalizer.key(normalizer.dial_string(phone)) == key
    assert normalizer.key(normalizer.display(phone)) == key
    assert normalizer.parse(normalizer.display(phone)).extension == phone.extension
    if phone.internal or phone.country_code == 7:
        # The PBX's form has no country code: it only reads back for home-region numbers.
        assert normalizer.key(normalizer.search_form(phone)) == key


def test_phone_fields(ru: PhoneNormalizer) -> None:
    assert ru.parse("+7 495 134-30-60 доб. 123") == Phone(
        key=MOSCOW, internal=False, extension="123", country_code=7, national_number="4951343060"
    )
    assert ru.parse("tel:+7-495-134-30-60;ext=123").extension == "123"
    assert ru.parse("9022") == Phone(key="9022", internal=True)
    assert ru.parse("+44 20 7946 0958").country_code == 44
    with pytest.raises(AttributeError):
        ru.parse("9022").key = "1"  # type: ignore[misc]


def test_max_internal_digits(ru: PhoneNormalizer) -> None:
    assert ru.parse("1" * MAX_INTERNAL_DIGITS).internal
    with pytest.raises(PhoneError):
        ru.parse("1" * (MAX_INTERNAL_DIGITS + 1))


@pytest.mark.parametrize("text", ERRORS)
def test_errors(ru: PhoneNormalizer, text: str) -> None:
    with pytest.raises(PhoneError) as info:
        ru.parse(text)
    message = str(info.value)
    assert repr(text) in message
    assert message.endswith(".") and "\n" not in message
    assert info.value.text == text
    assert isinstance(info.value, ValueError)
    assert ru.try_key(text) is None
    with pytest.raises(PhoneError):
        ru.key(text)


def test_error_message_is_readable_and_truncates_huge_input(ru: PhoneNormalizer) -> None:
    with pytest.raises(PhoneError, match=r"^'\+7 123' is not a phone number we can dial or match: .*short"):
        ru.parse("+7 123")
    with pytest.raises(PhoneError) as info:
        ru.parse("x" * 10_000)
    assert len(str(info.value)) < 200


def test_phone_error_pickles() -> None:
    error = pickle.loads(pickle.dumps(PhoneError("abc", "it contains no phone number")))
    assert str(error) == "'abc' is not a phone number we can dial or match: it contains no phone number."
    assert error.text == "abc"


def test_non_string_is_a_type_error(ru: PhoneNormalizer) -> None:
    with pytest.raises(TypeError):
        ru.parse(74951343060)  # type: ignore[arg-type]


MOSCOW_EXT = "+7 495 134-30-60 доб. 123"

# (dial format, input, dial string) -- region RU unless the format test says otherwise.
DIAL_CASES = [
    ("auto", MOSCOW_EXT, "84951343060"),
    ("auto", "89066800404", "89066800404"),
    ("auto", "+1 415 555 0100", "+14155550100"),
    ("auto", "9022", "9022"),
    ("e164", MOSCOW_EXT, "+74951343060"),
    ("e164", "89066800404", "+79066800404"),
    ("e164", "+1 415 555 0100", "+14155550100"),
    ("e164", "9022", "9022"),
    ("e164_digits", MOSCOW_EXT, "74951343060"),
    ("e164_digits", "+44 20 7946 0958", "442079460958"),
    ("e164_digits", "9022", "9022"),
    ("national", MOSCOW_EXT, "84951343060"),
    ("national", "89066800404", "89066800404"),
    ("national", "8 800 555 35 35", "88005553535"),
    ("national", "+7 701 234 5678", "87012345678"),
    ("national", "+1 415 555 0100", "+14155550100"),
    ("national", "+49 30 901820", "+4930901820"),
    ("national", "9022", "9022"),
    # No national format for a number libphonenumber does not know: dial it in full.
    ("national", "+7 123 456-78-90", "+71234567890"),
]


@pytest.mark.parametrize(("dial_format", "text", "dial"), DIAL_CASES)
def test_dial_formats(dial_format: str, text: str, dial: str) -> None:
    normalizer = PhoneNormalizer("RU", dial_format)
    assert normalizer.dial_format == dial_format
    assert normalizer.dial_string(normalizer.parse(text)) == dial


def test_default_settings() -> None:
    normalizer = PhoneNormalizer()
    assert (normalizer.region, normalizer.dial_format) == ("RU", "auto")
    assert repr(normalizer) == "PhoneNormalizer(region='RU', dial_format='auto')"


@pytest.mark.parametrize(
    ("region", "text", "key"),
    [
        ("US", "415 555 0100", "14155550100"),
        ("US", "(415) 555-0100", "14155550100"),
        ("US", "1 415 555 0100", "14155550100"),
        ("US", "+7 495 134-30-60", MOSCOW),
        ("US", "9022", "9022"),
        ("GB", "020 7946 0958", "442079460958"),
        ("DE", "030 901820", "4930901820"),
        ("ru", "84951343060", MOSCOW),
    ],
)
def test_region(region: str, text: str, key: str) -> None:
    assert PhoneNormalizer(region).key(text) == key


def test_region_is_normalised_to_upper_case() -> None:
    assert PhoneNormalizer("ru").region == "RU"


def test_national_format_in_another_region() -> None:
    us = PhoneNormalizer("US", "national")
    assert us.dial_string(us.parse("415 555 0100")) == "4155550100"
    assert us.dial_string(us.parse("+7 495 134-30-60")) == "+74951343060"
    de = PhoneNormalizer("DE", "national")
    assert de.dial_string(de.parse("+49 30 901820")) == "030901820"


def test_auto_dials_russian_numbers_domestically_in_any_region() -> None:
    us = PhoneNormalizer("US")
    assert us.dial_string(us.parse("+7 906 680-04-04")) == "89066800404"
    assert us.dial_string(us.parse("415 555 0100")) == "+14155550100"


def test_cache_is_per_instance() -> None:
    ru, us = PhoneNormalizer("RU"), PhoneNormalizer("US")
    for _ in range(2):  # second round is served from the caches
        assert ru.key("4951343060") == MOSCOW
        assert us.key("4951343060") == "14951343060"


def test_cached_parse_returns_equal_phone(ru: PhoneNormalizer) -> None:
    assert ru.parse("84951343060") is ru.parse("84951343060")
    assert ru.parse("84951343060") == ru.parse("+7 (495) 134-30-60")


@pytest.mark.parametrize(
    ("text", "form"),
    [
        ("+7 (495) 134-30-60", "4951343060"),
        ("8 800 555 35 35", "8005553535"),
        ("+1 415 555 0100", "4155550100"),
        ("9022", "9022"),
    ],
)
def test_search_form(ru: PhoneNormalizer, text: str, form: str) -> None:
    assert ru.search_form(ru.parse(text)) == form


@pytest.mark.parametrize("region", ["", "XX", "Russia", "001", None])
def test_unknown_region(region: str) -> None:
    with pytest.raises(ValueError, match="region"):
        PhoneNormalizer(region)


@pytest.mark.parametrize("dial_format", ["", "E164", "international", "e.164", None])
def test_unknown_dial_format(dial_format: str) -> None:
    with pytest.raises(ValueError, match="dial format"):
        PhoneNormalizer("RU", dial_format)
