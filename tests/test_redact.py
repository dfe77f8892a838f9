"""What reaches a log, an error or Diagnostics has no recording-link token in any of its forms."""

from __future__ import annotations

import pytest

from app.protocol.redact import redact

TOKEN = "Zq81kLm04TrP9xWv"


@pytest.mark.parametrize("text", [
    f"https://pbx.example.com/get_file?file={TOKEN}",
    f"pbx.example.com/get_file?file={TOKEN}",                      # no scheme
    f"pbx.example.com:8443/rec/{TOKEN}/call.mp3",                  # the token in the path
    f"https://pbx.example.com/rec/call.mp3#{TOKEN}",               # in the fragment
    f"https://pbx.example.com/rec/call.mp3;token={TOKEN}",         # a ;parameter
    f"Authorization: Bearer {TOKEN}",
    f'"link": "https://pbx.example.com/get_file?file={TOKEN}", "next"',
])
def test_a_token_is_masked_wherever_the_link_carries_it(text: str):
    assert TOKEN not in redact(text)
    assert "***" in redact(text)


@pytest.mark.parametrize("text", [
    "https://pbx.example.com/webhook", "version 1.2.3 of file.txt, 3.14 s", "ivan@example.ru",
    "call 74951343060 from +7 495 134-30-60", "pbx.example.com/crmapi/v1/",
])
def test_ordinary_text_is_left_alone(text: str):
    assert redact(text) == text
