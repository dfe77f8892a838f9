"""Plain, translated sentences for what went wrong: one place that every window words errors from.

Why not ``str(exc)``: the core's messages are English only; these go through Qt's translation
and say what the agent can do.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication

from app.core.api import NotConfigured, SetupProblem
from app.pbx.errors import (
    PbxError,
    PbxKeyRefused,
    PbxOutcomeUnknown,
    PbxProtocolError,
    PbxRejected,
    PbxServerError,
    PbxUnreachable,
)
from app.protocol.phones import Phone, PhoneError, PhoneNormalizer

from .context import UiContext, user_message

__all__ = ["connection_test_error_text", "display_key", "missing_pbx_setting", "pbx_error_text",
           "phone_error_text", "setup_problem_text"]


def _lead(action: str) -> str:
    if action == "make_call":
        return QCoreApplication.translate("PbxErrors", "Could not place the call")
    if action == "get_domain_user_list":
        return QCoreApplication.translate("PbxErrors", "Could not load the PBX users")
    if action == "switch_call_hold":
        return QCoreApplication.translate("PbxErrors", "Could not switch hold")
    return QCoreApplication.translate("PbxErrors", "The PBX request failed")


def pbx_error_text(exc: BaseException, action: str = "make_call") -> str:
    """One translatable sentence for a failed PBX action (``exc`` from the engine or PbxClient).

    Why not ``str(exc)``: the core's messages are English only; these go through Qt's
    translation and say what the agent can do. ``action`` names what was attempted when the
    error does not say it (NotConfigured, unexpected errors).
    """
    action = getattr(exc, "action", None) or action
    lead = _lead(action)
    if type(exc).__module__ == "app.core.team_api":  # team mode: the server, not the PBX, said it
        return _team_error_text(exc, lead)
    if isinstance(exc, PbxOutcomeUnknown):
        if action == "make_call":
            return QCoreApplication.translate(
                "PbxErrors",
                "No reply came from the PBX, so it is not known whether the call was placed: your phone may "
                "ring. Do not call again until you have checked your phone and the call history.",
            )
        if exc.may_have_acted:
            return QCoreApplication.translate(
                "PbxErrors", "{0}: no reply came from the PBX, so it may have acted; check the call before trying again."
            ).format(lead)
        return QCoreApplication.translate("PbxErrors", "{0}: the PBX did not answer in time; try again later.").format(lead)
    if isinstance(exc, PbxKeyRefused):
        return QCoreApplication.translate(
            "PbxErrors", "{0}: the PBX refused the API key (HTTP {1}). Check the PBX API key in Settings."
        ).format(lead, exc.status)
    if isinstance(exc, PbxRejected):
        if exc.message:
            return QCoreApplication.translate("PbxErrors", "{0}: the PBX said no: \u201c{1}\u201d.").format(lead, exc.message)
        if exc.code is not None:
            return QCoreApplication.translate("PbxErrors", "{0}: the PBX said no (code {1}).").format(lead, exc.code)
        return QCoreApplication.translate("PbxErrors", "{0}: the PBX said no.").format(lead)
    if isinstance(exc, PbxUnreachable):
        where = exc.host or QCoreApplication.translate("PbxErrors", "the configured address")
        why = f" ({exc.reason})" if exc.reason else ""
        return QCoreApplication.translate(
            "PbxErrors", "{0}: the PBX at {1} could not be reached{2}. Check the PBX address and your network connection."
        ).format(lead, where, why)
    if isinstance(exc, PbxServerError):
        if exc.status == 429:
            return QCoreApplication.translate(
                "PbxErrors", "{0}: the PBX is receiving too many requests; wait a moment and try again."
            ).format(lead)
        return QCoreApplication.translate(
            "PbxErrors", "{0}: the PBX had a server error (HTTP {1}); try again later."
        ).format(lead, exc.status)
    if isinstance(exc, PbxProtocolError):
        return QCoreApplication.translate(
            "PbxErrors", "{0}: the PBX's reply was not understood. Check the PBX address in Settings."
        ).format(lead)
    if isinstance(exc, NotConfigured):
        return QCoreApplication.translate("PbxErrors", "{0}: {1}.").format(lead, user_message(exc).rstrip("."))
    if isinstance(exc, PbxError):
        return user_message(exc)
    if isinstance(exc, PhoneError):
        return phone_error_text(exc)
    return QCoreApplication.translate("PbxErrors", "{0}: {1}").format(lead, user_message(exc))


def _team_error_text(exc: BaseException, lead: str) -> str:
    """The team server could not be asked, refused the token, or refused the request."""
    from app.core.team_api import TeamAuthError, TeamPbxError, TeamRefused, TeamUnavailable

    if isinstance(exc, TeamUnavailable):
        return QCoreApplication.translate(
            "PbxErrors", "{0}: the team server cannot be reached ({1}). The app keeps trying; try again when it "
                         "says it is connected.").format(lead, user_message(exc))
    if isinstance(exc, TeamAuthError):
        return QCoreApplication.translate(
            "PbxErrors", "{0}: the team server refused this app's token. Enter the token the administrator gave you "
                         "in Settings.").format(lead)
    if isinstance(exc, TeamRefused):
        return QCoreApplication.translate("PbxErrors", "{0}: the team server said no: \u201c{1}\u201d.").format(
            lead, user_message(exc))
    if isinstance(exc, TeamPbxError):
        return QCoreApplication.translate("PbxErrors", "{0}: the PBX said, through the team server: \u201c{1}\u201d.").format(
            lead, user_message(exc))
    return QCoreApplication.translate("PbxErrors", "{0}: {1}").format(lead, user_message(exc))


def phone_error_text(exc: PhoneError) -> str:
    """Why the typed text cannot be dialed, in plain words."""
    return QCoreApplication.translate("PbxErrors", "Cannot dial this: {0}.").format(exc.reason)


def setup_problem_text(problem: SetupProblem) -> str:
    """The sentence saying which setting is missing before the PBX can be asked."""
    if problem is SetupProblem.PBX_URL:
        return QCoreApplication.translate("PbxErrors", "The PBX is not set up: enter the PBX address in Settings.")
    if problem is SetupProblem.PBX_KEY:
        return QCoreApplication.translate("PbxErrors", "The PBX is not set up: enter the PBX API key in Settings.")
    return QCoreApplication.translate(
        "PbxErrors", "Click-to-dial is not set up: enter this workstation's CRM user in Settings."
    )


def missing_pbx_setting(ctx: UiContext, *, need_crm_user: bool) -> str | None:
    """The sentence saying which setting is missing before the PBX can be asked, or None.

    Checked before starting a request so the agent reads what to set up (translatable),
    not the core's English NotConfigured text.
    """
    problem = ctx.api.calls.setup_problem(need_crm_user=need_crm_user)
    if problem is not None and ctx.settings.team_mode:  # the server's setting: not the agent's to fix
        return QCoreApplication.translate(
            "PbxErrors", "The team server is not set up for the PBX yet ({0}): tell the administrator.").format(
            problem.value)
    return None if problem is None else setup_problem_text(problem)


def display_key(normalizer: PhoneNormalizer, key: str | None) -> str:
    """A stored number key ("74951343060", "9022") in the human form ("+7 495 134-30-60")."""
    if not key:
        return ""
    try:
        return normalizer.display(Phone.from_key(key))
    except PhoneError:
        return key


def connection_test_error_text(exc: BaseException) -> str:
    """"Test connection" failed: a translated headline for the kind of failure, then the error's own sentence."""
    detail = user_message(exc)
    if isinstance(exc, PbxKeyRefused):
        head = QCoreApplication.translate("Settings", "The PBX refused the API key.")
    elif isinstance(exc, PbxUnreachable):
        head = QCoreApplication.translate("Settings", "The PBX could not be reached.")
    elif isinstance(exc, PbxError):
        head = QCoreApplication.translate("Settings", "The connection test failed.")
    else:
        head = QCoreApplication.translate("Settings", "Cannot test the connection:")
    return f"{head} {detail}"
