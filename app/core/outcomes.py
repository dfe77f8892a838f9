"""Call outcomes: stored as codes ("call_back"), worded in the agent's language by the windows.

Outcomes used to be stored as the text the card showed: an English "Call back" stayed English for
a colleague working in Russian. Now the five built-in outcomes are stored as codes, and the list
the card offers is the ``outcomes`` setting: built-in codes and the call center's own words, in the
order given (``pbx-companion config set outcomes "resolved, call_back, Demo booked"``). Text stored
before codes (either language) reads back as its code; anything else is kept as the agent typed it.

In team mode the team server's own ``outcomes`` setting, when set, is the list for every agent
(:func:`team_outcomes`, sent with the agent's identity): one list for the whole call center, so that
its reports count the same outcomes. The agent's setting is then only the fallback.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

#: The built-in outcomes, in the card's order (also the list when the setting is empty).
DEFAULT_OUTCOMES = ("resolved", "call_back", "sale", "not_interested", "wrong_number")

#: Display texts stored before outcomes were codes (the card's English and Russian words).
_LEGACY = {
    "resolved": "resolved", "вопрос решён": "resolved", "вопрос решен": "resolved",
    "call back": "call_back", "перезвонить": "call_back",
    "sale": "sale", "продажа": "sale",
    "not interested": "not_interested", "не заинтересован": "not_interested",
    "wrong number": "wrong_number", "ошиблись номером": "wrong_number",
}


def outcome_code(text: str | None) -> str:
    """The stored form of an outcome: a built-in code for a built-in outcome (its code, or the
    English or Russian words it was once stored as), else the text as typed (stripped)."""
    text = (text or "").strip()
    if text in DEFAULT_OUTCOMES:
        return text
    return _LEGACY.get(text.casefold(), text)


def outcome_list(setting: str) -> list[str]:
    """The outcomes the card offers: the ``outcomes`` setting (comma, semicolon or line separated;
    built-in ones by code or name), without repeats; the built-in list when it is empty."""
    found: list[str] = []
    for part in re.split(r"[,;\n]", setting or ""):
        code = outcome_code(part)
        if code and code not in found:
            found.append(code)
    return found or list(DEFAULT_OUTCOMES)


def team_outcomes(setting: str) -> tuple[str, ...]:
    """What a team server sends its agents: the list of its ``outcomes`` setting, or nothing when
    the setting is empty (each agent's app then offers its own)."""
    return tuple(outcome_list(setting)) if (setting or "").strip() else ()


def offered_outcomes(team: Sequence[str], setting: str) -> list[str]:
    """The outcomes the card offers: the team's list when the team server set one, else the
    agent's own ``outcomes`` setting (:func:`outcome_list`)."""
    return list(team) if team else outcome_list(setting)
