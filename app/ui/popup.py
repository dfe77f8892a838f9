"""The incoming-call pop-up: who is calling, whose client it is, and the actions an agent needs.

An agent is typing into the CRM or a chat when the phone rings, so the pop-up must be there
at once and must never steal the keyboard: it is a frameless, always-on-top tool window that
does not accept focus and is shown without activation. Everything it shows comes from the
service API's local directory in one request (no PBX round trip), and it follows the call through the PBX's events
until the call ends or someone else answers it, then goes away by itself.

:class:`PopupManager` decides whether a call gets a pop-up (see :func:`app.core.agent.wants_popup`),
places pop-ups on the screen where the mouse cursor is, stacks them, and keeps a spare,
pre-polished pop-up so that even the first call of the day shows within a few milliseconds.
:class:`CallPopup` is the thin window itself.

Stacking: pop-ups grow upwards from the bottom-right corner of the available geometry of
their screen, the oldest at the bottom. A new call never moves the pop-up the agent may be
about to click; when one closes, those above it slide down. A column that would reach the top
of the screen continues in a new column to its left.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import OrderedDict

import shiboken6
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QCursor, QGuiApplication, QScreen
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QLayout, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from app.core.agent import is_outgoing, wants_popup
from app.core.api import CallerInfo
from app.core.calls import answered
from app.storage import CallRecord, CallState, PresenceRecord

from .context import UiContext, user_message
from .format import duration_text, phone_text, plain_text, plain_tooltip, when_text
from .labels import PlainLabel
from .ringsound import RingSound

log = logging.getLogger("app.ui.popup")

__all__ = ["CallPopup", "PopupManager"]

# Fixed width: pop-ups of one stack line up, and the layout never jumps as texts change.
POPUP_WIDTH = 400
# Distance from the screen's edges and between stacked pop-ups, in pixels.
SCREEN_MARGIN = 16
STACK_GAP = 8
# Calls whose missed flag we remember, to tell the tray when it changes.
MISSED_MEMORY = 2000
# After a pop-up is shown, build the next spare this much later (not during the first paint).
SPARE_DELAY_MS = 300


# -- the window ------------------------------------------------------------------------------


def _set_elided(label: QLabel, text: str, width: int) -> None:
    """Long names must not widen the pop-up: cut with "…" and keep the full text as tooltip."""
    text = plain_text(text)
    shown = label.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, width)
    label.setText(shown)
    label.setToolTip(plain_tooltip(text) if shown != text else "")


class CallPopup(QFrame):
    """One call's pop-up. Filled by :class:`PopupManager`; the widgets are public for tests.

    Hold/Resume sends ``switch_call_hold`` through the service API; what the button says follows the
    call's state as the PBX reports it (``call_held``/``call_active``), never the click, because
    the PBX may refuse or the agent may toggle hold on the phone itself.

    Signals:
        open_card_requested(int, str, str): the contact's id (0 when unknown), the number shown and the
            call id (the card opens on the live call, as "Create contact" does).
        create_contact_requested(str, str): the number shown and the call id.
        call_back_requested(str): Call back on a missed call's pop-up (the number shown).
        dismissed(str): the agent closed the pop-up (call id).
        resized(): the content changed the pop-up's height (the stack must be laid out again).
    """

    open_card_requested = Signal(int, str, str)
    create_contact_requested = Signal(str, str)
    call_back_requested = Signal(str)
    dismissed = Signal(str)
    resized = Signal()

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self.call: CallRecord | None = None
        self.info: CallerInfo | None = None
        self.number_text = ""
        self.closing = False            # the call is over for this agent; waiting to close
        self.answered_by = ""           # the extension that took the call when someone else did
        self.screen_ref: QScreen | None = None
        self._hold_pending = False

        self.setWindowFlags(Qt.WindowType.Tool | Qt.WindowType.FramelessWindowHint
                            | Qt.WindowType.WindowStaysOnTopHint | Qt.WindowType.WindowDoesNotAcceptFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setFrameShadow(QFrame.Shadow.Raised)
        self.setLineWidth(1)
        self.setFixedWidth(POPUP_WIDTH)
        self.setObjectName("CallPopup")
        self.setWindowTitle(self.tr("Incoming call"))

        self.state_label = PlainLabel()
        self.dismiss_button = self._button(self.tr("Dismiss"))
        self.dismiss_button.setFlat(True)
        header = QHBoxLayout()
        header.addWidget(self.state_label, 1)
        header.addWidget(self.dismiss_button)

        self.number_label = PlainLabel()
        font = self.number_label.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.35)
        self.number_label.setFont(font)
        self.number_label.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
        self.name_label = PlainLabel()
        name_font = self.name_label.font()
        name_font.setBold(True)
        self.name_label.setFont(name_font)
        self.company_label = PlainLabel()
        self.owner_label = PlainLabel()
        self.line_label = PlainLabel()
        self.history_label = PlainLabel()
        self.error_label = PlainLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #c62828;")
        for label in (self.state_label, self.name_label, self.company_label, self.owner_label, self.line_label,
                      self.history_label, self.error_label):
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        self.open_card_button = self._button(self.tr("Open card"))
        self.create_contact_button = self._button(self.tr("Create contact"))
        self.hold_button = self._button(self.tr("Hold"))
        self.call_back_button = self._button(self.tr("Call back"))
        self.copy_button = self._button(self.tr("Copy number"))
        self._action_buttons = (self.open_card_button, self.create_contact_button, self.hold_button,
                                self.call_back_button, self.copy_button)
        actions = QHBoxLayout()
        for button in self._action_buttons:
            actions.addWidget(button)
        actions.addStretch(1)
        #: "Copy number" moves here when the visible buttons do not fit in one row (Russian labels).
        self._actions, self._actions_more = actions, QHBoxLayout()
        self._actions_more.addStretch(1)

        layout = QVBoxLayout(self)
        # The pop-up sizes itself with adjustSize(); a layout that pushed minimum sizes to the
        # window would make the platform re-send size hints on every text change.
        layout.setSizeConstraint(QLayout.SizeConstraint.SetNoConstraint)
        layout.setContentsMargins(12, 8, 12, 10)
        layout.setSpacing(3)
        layout.addLayout(header)
        for label in (self.number_label, self.name_label, self.company_label, self.owner_label, self.line_label,
                      self.history_label, self.error_label):
            layout.addWidget(label)
        layout.addSpacing(4)
        layout.addLayout(actions)
        layout.addLayout(self._actions_more)
        self._text_width = POPUP_WIDTH - 24

        self.dismiss_button.clicked.connect(self._dismiss)
        self.open_card_button.clicked.connect(self._open_card)
        self.create_contact_button.clicked.connect(self._create_contact)
        self.copy_button.clicked.connect(self.copy_number)
        self.call_back_button.clicked.connect(self._call_back)
        self.hold_button.clicked.connect(self.toggle_hold)

        # Ticks the talk time while the call is answered.
        self.talk_timer = QTimer(self)
        self.talk_timer.setInterval(1000)
        self.talk_timer.timeout.connect(self._refresh_state)
        # Runs out when the pop-up should go away (started by the manager; see ``popup_linger_s``).
        self.linger_timer = QTimer(self)
        self.linger_timer.setSingleShot(True)
        self._clear()

    def _button(self, text: str) -> QPushButton:
        button = QPushButton(text)
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # a click must not pull keyboard focus here
        button.setAutoDefault(False)
        return button

    def _clear(self) -> None:
        for label in (self.name_label, self.company_label, self.owner_label, self.line_label,
                      self.history_label, self.error_label):
            label.clear()
            label.hide()
        self.create_contact_button.hide()
        self.hold_button.hide()
        self.call_back_button.hide()

    def prepare(self) -> None:
        """Do the first-show work now (style, layout, native window, glyphs) instead of at the first call."""
        now = time.time()
        self.bind(CallRecord(call_id="", state=CallState.ACTIVE, first_seen=now, updated_at=now, answered_at=now,
                             other_leg="+70000000000", other_key="70000000000", gateway_number="70000000000"),
                  "+7 000 000-00-00")
        self.set_caller(CallerInfo())  # unknown caller: "Create contact" and "Hold" are visible
        self.ensurePolished()
        self.adjustSize()
        self.grab()      # lays out and paints into a pixmap: styles, fonts and glyph caches are warm
        self.set_caller(CallerInfo(name="Warm-up", company="Warm-up", owner_name="Warm-up", earlier_calls=1,
                                   last_call_at=now))
        self.adjustSize()
        self.grab()
        self.winId()     # creates the platform window without showing it
        self.talk_timer.stop()
        self.call = None
        self._clear()

    # -- filling ---------------------------------------------------------------------------

    def bind(self, call: CallRecord, number_text: str) -> None:
        """Show this call (the caller's details follow in :meth:`set_caller`)."""
        self._clear()
        self.call, self.info, self.number_text = call, None, number_text
        self.closing = False
        self.answered_by = ""
        self._hold_pending = False
        self.number_label.setText(number_text)
        self.setWindowTitle(self.tr("Outgoing call") if is_outgoing(call) else self.tr("Incoming call"))
        has_number = bool(call.other_leg and call.other_leg.strip())  # an anonymous caller has none
        self.open_card_button.setVisible(has_number)
        self.copy_button.setVisible(has_number)
        gateway = call.gateway_number
        if gateway:
            _set_elided(self.line_label, self.tr("Line: %1").replace("%1", phone_text(self._ctx.normalizer, gateway)),
                        self._text_width)
            self.line_label.show()
        self.update_call(call)

    def set_caller(self, info: CallerInfo) -> None:
        """Fill in what the local directory knows about the caller (again when the directory changed)."""
        self.info = info
        for label in (self.company_label, self.owner_label):
            label.clear()
            label.hide()
        if info.name:
            name = info.name
            if info.more_contacts:
                name = self.tr("%1 and %n more", "", info.more_contacts).replace("%1", info.name)
            _set_elided(self.name_label, name, self._text_width)
            self.name_label.show()
            if info.company:
                _set_elided(self.company_label, info.company, self._text_width)
                self.company_label.show()
            self.create_contact_button.hide()
        else:
            self.name_label.setText(self.tr("Unknown caller"))
            self.name_label.show()
            self.create_contact_button.setVisible(self.call is not None and bool(self.call.other_key))
        if info.owner_name:
            owner = self.tr("%1 (you)").replace("%1", info.owner_name) if info.owner_is_me else info.owner_name
            _set_elided(self.owner_label, self.tr("Responsible: %1").replace("%1", owner), self._text_width)
            self.owner_label.show()
        if info.earlier_calls:
            assert info.last_call_at is not None
            last = when_text(info.last_call_at)
            if info.earlier_capped:
                text = self.tr("%n or more earlier call(s), last %1", "", info.earlier_calls)
            else:
                text = self.tr("%n earlier call(s), last %1", "", info.earlier_calls)
            self.history_label.setText(text.replace("%1", last))
        else:
            self.history_label.setText(self.tr("No earlier calls"))
        self.history_label.show()
        self._arrange_actions()

    def update_call(self, call: CallRecord) -> None:
        """A newer state of the same call from the PBX's events."""
        self.call = call
        self._refresh_state()
        if CallState(call.state).connected and not self.closing:
            if not self.talk_timer.isActive():
                self.talk_timer.start()
        else:
            self.talk_timer.stop()
        self._refresh_hold()

    def finish(self) -> None:
        """The call is over for this agent: no more actions on it, only the final state."""
        self.closing = True
        self.talk_timer.stop()
        self._refresh_state()
        call = self.call
        # the missed-call notice: calling back is one click away
        self.call_back_button.setVisible(call is not None and call.missed and bool(call.other_key)
                                         and not is_outgoing(call))
        self._refresh_hold()

    def show_error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.show()
        self._relayout()

    def _relayout(self) -> None:
        self.adjustSize()
        self.resized.emit()

    def state_text(self) -> str:
        call = self.call
        if call is None:
            return ""
        identity = self._ctx.identity
        if identity.answered_elsewhere(call):
            by = self.answered_by or (call.domain_user if answered(call) and not identity.answered_here(call) else "")
            if by:
                return self.tr("Answered by %1").replace("%1", plain_text(by))
            return self.tr("Answered elsewhere")
        if call.state == CallState.ENDED:
            if is_outgoing(call) and not answered(call):
                return self.tr("No answer")
            if call.missed or not answered(call):
                return self.tr("Missed call")
            talk: float | None = call.answer_seconds
            if talk is None and call.answered_at is not None and call.hangup_at is not None:
                talk = call.hangup_at - call.answered_at
            return self.tr("Call ended") + (f" · {duration_text(talk)}" if talk is not None else "")
        if call.state == CallState.HELD:
            return self.tr("On hold")
        if call.state == CallState.ACTIVE:
            talk = time.time() - call.answered_at if call.answered_at is not None else None
            return self.tr("Answered") + (f" · {duration_text(talk)}" if talk is not None else "")
        if is_outgoing(call):
            return self.tr("Outgoing call · ringing")
        return self.tr("Ringing")

    def _refresh_state(self) -> None:
        self.state_label.setText(self.state_text())

    def _refresh_hold(self) -> None:
        call = self.call
        can_hold = (call is not None and not self.closing and CallState(call.state).connected
                    and not self._ctx.identity.answered_elsewhere(call))
        self.hold_button.setVisible(can_hold)
        if call is not None:
            self.hold_button.setText(self.tr("Resume") if call.state == CallState.HELD else self.tr("Hold"))
        self.hold_button.setEnabled(not self._hold_pending)
        self._arrange_actions()

    def _arrange_actions(self) -> None:
        """Keep the action buttons in one row while they fit the fixed width, else put "Copy number"
        on a second row: squeezed, the buttons' labels were cut off (four of them in Russian)."""
        shown = [b for b in self._action_buttons if not b.isHidden()]
        spacing = max(0, self._actions.spacing())
        needed = sum(b.sizeHint().width() for b in shown) + spacing * max(0, len(shown) - 1)
        wrap = needed > self._text_width
        wrapped = self._actions_more.indexOf(self.copy_button) >= 0
        if wrap == wrapped:
            return
        if wrap:
            self._actions.removeWidget(self.copy_button)
            self._actions_more.insertWidget(0, self.copy_button)
        else:
            self._actions_more.removeWidget(self.copy_button)
            self._actions.insertWidget(self._actions.count() - 1, self.copy_button)
        self._relayout()

    # -- actions ---------------------------------------------------------------------------

    def toggle_hold(self) -> None:
        """Ask the PBX to toggle hold; the button changes when the PBX reports the new state."""
        if self.call is None or self._hold_pending:
            return
        call_id = self.call.call_id
        self._hold_pending = True
        if self.error_label.isVisibleTo(self):
            self.error_label.hide()
            self._relayout()
        self._refresh_hold()
        self._ctx.tasks.start(self._ctx.api.calls.hold(call_id),
                              on_done=lambda _reply: self._hold_finished(call_id, None),
                              on_error=lambda exc: self._hold_finished(call_id, exc))

    def _hold_finished(self, call_id: str, error: BaseException | None) -> None:
        if not shiboken6.isValid(self) or self.call is None or self.call.call_id != call_id:
            return  # the pop-up closed meanwhile
        self._hold_pending = False
        if error is not None:
            self.show_error(user_message(error))
        self._refresh_hold()

    def copy_number(self) -> None:
        QGuiApplication.clipboard().setText(self.number_text)

    def _dismiss(self) -> None:
        if self.call is not None:
            self.dismissed.emit(self.call.call_id)

    def _open_card(self) -> None:
        contact_id = (self.info.contact_id if self.info is not None else None) or \
            (self.call.contact_id if self.call is not None else None)
        self.open_card_requested.emit(contact_id or 0, self.number_text,
                                      self.call.call_id if self.call is not None else "")

    def _call_back(self) -> None:
        if self.call is not None and self.call.other_key:
            self.call_back_requested.emit(self.number_text)

    def _create_contact(self) -> None:
        if self.call is not None:
            self.create_contact_requested.emit(self.number_text, self.call.call_id)


# -- the manager -----------------------------------------------------------------------------


class PopupManager(QObject):
    """Shows, stacks, updates and closes the pop-ups; the one object the application wires.

    It listens to ``ctx.bridge`` itself. A call gets a pop-up when it rings for this agent
    (or for anyone when the ``see_all_calls`` setting is on) and the agent takes calls now
    (not on break, not logged out, no do-not-disturb). The agent's state is the latest
    ``agent_change`` for their extension, read once from the service API at start and then followed.

    ``last_shown_latency`` is the time in seconds from the bridge's ``call_changed`` to the
    pop-up's ``show()`` for the last pop-up shown (the benchmark reads it).

    Signals:
        open_card_requested(int, str, str): open the client card (contact id or 0, number shown, call id).
        create_contact_requested(str, str): create a contact for this number (number, call id).
        call_back_requested(str): Call back on a missed call's pop-up (the number).
        missed_changed(): one of this agent's calls became missed (or stopped being): refresh the badge.
        popup_shown(str): a pop-up is on screen for this call id.
        popup_closed(str): the pop-up of this call id went away.
        held_back_changed(int): how many of this agent's calls ring now without a pop-up because of
            do-not-disturb or a break (the shell shows it: do-not-disturb must not look like silence).
        call_held_back(str): a call for this agent was held back (the number shown).
    """

    open_card_requested = Signal(int, str, str)
    create_contact_requested = Signal(str, str)
    call_back_requested = Signal(str)
    missed_changed = Signal()
    popup_shown = Signal(str)
    popup_closed = Signal(str)
    held_back_changed = Signal(int)
    call_held_back = Signal(str)

    def __init__(self, ctx: UiContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._popups: dict[str, CallPopup] = {}
        self._order: list[str] = []
        self._dismissed: OrderedDict[str, None] = OrderedDict()
        self._missed: OrderedDict[str, bool] = OrderedDict()
        self._held_back: dict[str, CallRecord] = {}
        self._closed = False
        self.my_presence: PresenceRecord | None = None
        self.presence_loaded = False
        self.last_shown_latency: float | None = None
        self.sound = RingSound(self)
        self._spare: CallPopup | None = None
        self._spare_timer = QTimer(self)
        self._spare_timer.setSingleShot(True)
        self._spare_timer.setInterval(SPARE_DELAY_MS)
        self._spare_timer.timeout.connect(self._make_spare)

        ctx.bridge.call_changed.connect(self._on_call_changed)
        ctx.bridge.presence_changed.connect(self._on_presence_changed)
        ctx.bridge.contact_changed.connect(self._on_contact_changed)
        app = QGuiApplication.instance()
        if isinstance(app, QGuiApplication):
            app.screenRemoved.connect(self._on_screen_removed)
        self._make_spare()
        if ctx.settings.ring_sound:
            self.sound.prepare()
        self.reload_presence()

    # -- what others ask ----------------------------------------------------------------------

    def popup(self, call_id: str) -> CallPopup | None:
        return self._popups.get(call_id)

    def popups(self) -> list[CallPopup]:
        """Open pop-ups, oldest first (bottom of the stack first)."""
        return [self._popups[c] for c in self._order]

    def ringing_count(self) -> int:
        """Pop-ups of calls still ringing for this agent (the tray's "ringing" state)."""
        return sum(1 for p in self._popups.values()
                   if p.call is not None and p.call.state == CallState.RINGING and not p.closing
                   and not is_outgoing(p.call))

    def close_all(self) -> None:
        for call_id in list(self._order):
            self._close(call_id)

    def shutdown(self) -> None:
        """Stop following calls and release everything (the application's quit)."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(RuntimeError, TypeError):
            self._ctx.bridge.call_changed.disconnect(self._on_call_changed)
        with contextlib.suppress(RuntimeError, TypeError):
            self._ctx.bridge.presence_changed.disconnect(self._on_presence_changed)
        with contextlib.suppress(RuntimeError, TypeError):
            self._ctx.bridge.contact_changed.disconnect(self._on_contact_changed)
        app = QGuiApplication.instance()
        if isinstance(app, QGuiApplication):
            with contextlib.suppress(RuntimeError, TypeError):
                app.screenRemoved.disconnect(self._on_screen_removed)
        self.close_all()
        self._spare_timer.stop()
        if self._spare is not None:
            self._spare.deleteLater()
            self._spare = None
        self.sound.stop()

    # -- the agent's state --------------------------------------------------------------------

    def reload_presence(self) -> None:
        """Read this agent's own status again (at start, and when a team server's feed is live again:
        "on break" holds back pop-ups before the next status event arrives)."""
        def loaded(records: list[PresenceRecord]) -> None:
            for record in records:
                self._set_presence(record)
            self.presence_loaded = True

        def failed(exc: BaseException) -> None:
            self.presence_loaded = True
            log.warning("could not read this agent's status: %s", user_message(exc))

        self._ctx.tasks.start(self._ctx.api.presence.mine(), on_done=loaded, on_error=failed)

    def _on_presence_changed(self, presence: PresenceRecord, event: str) -> None:
        if self._ctx.identity.owns_presence(presence):
            self._set_presence(presence)

    def _set_presence(self, presence: PresenceRecord) -> None:
        if self.my_presence is None or presence.updated_at >= self.my_presence.updated_at:
            self.my_presence = presence

    # -- following calls ----------------------------------------------------------------------

    def _mine(self, call: CallRecord) -> bool:
        return self._ctx.settings.see_all_calls or self._ctx.identity.is_mine(call)

    def _on_call_changed(self, call: CallRecord, event: str) -> None:
        started = time.perf_counter()
        if self._closed:
            return
        try:
            self._track_missed(call)
            self._note_who_answered(call)
            popup = self._popups.get(call.call_id)
            if popup is not None:
                self._follow(popup, call)
            elif call.call_id not in self._dismissed and self._mine(call):
                outgoing = self._ctx.settings.popup_outgoing
                if wants_popup(call, self.my_presence, self._ctx.settings.do_not_disturb, outgoing=outgoing):
                    self._show(call, started)
                elif wants_popup(call, None, False, outgoing=outgoing) and not is_outgoing(call):
                    self._hold_back(call)  # it would pop up but for do-not-disturb or a break
            self._track_held_back(call)
        except Exception:  # a pop-up problem must never break the bridge's other listeners
            log.exception("the pop-up could not follow call %s", call.call_id)

    def _on_contact_changed(self, contact_id: int, keys: tuple[str, ...]) -> None:
        """The directory changed ("Create contact" saved): pop-ups of those numbers read the caller again."""
        if self._closed:
            return
        for popup in list(self._popups.values()):
            call = popup.call
            if call is None:
                continue
            if (call.other_key and call.other_key in keys) or (popup.info is not None
                                                                and popup.info.contact_id == contact_id):
                self._load_caller(call)

    def _note_who_answered(self, call: CallRecord) -> None:
        """A leg of a queue was answered: the other legs' pop-ups say by which extension."""
        if not (call.session_id and call.domain_user and answered(call)):
            return
        for popup in self._popups.values():
            other = popup.call
            if other is not None and other.call_id != call.call_id and other.session_id == call.session_id:
                popup.answered_by = call.domain_user

    def held_back_count(self) -> int:
        """This agent's calls ringing now without a pop-up (do-not-disturb or a break)."""
        return len(self._held_back)

    def _hold_back(self, call: CallRecord) -> None:
        if call.call_id in self._held_back:
            return
        self._held_back[call.call_id] = call
        self.held_back_changed.emit(len(self._held_back))
        self.call_held_back.emit(phone_text(self._ctx.normalizer, call.other_leg))

    def _track_held_back(self, call: CallRecord) -> None:
        if call.call_id in self._held_back and call.state != CallState.RINGING:
            del self._held_back[call.call_id]
            self.held_back_changed.emit(len(self._held_back))

    def _track_missed(self, call: CallRecord) -> None:
        if not self._mine(call):
            return
        if self._missed.get(call.call_id, False) != call.missed:
            self._missed[call.call_id] = call.missed
            self._missed.move_to_end(call.call_id)
            while len(self._missed) > MISSED_MEMORY:
                self._missed.popitem(last=False)
            self.missed_changed.emit()

    def _follow(self, popup: CallPopup, call: CallRecord) -> None:
        popup.update_call(call)
        if not popup.closing and (call.state == CallState.ENDED or self._ctx.identity.answered_elsewhere(call)):
            popup.finish()
            linger = max(0.0, float(self._ctx.settings.popup_linger_s))
            if linger == 0:
                self._close(call.call_id)
            else:
                popup.linger_timer.start(int(linger * 1000))
        if not self.ringing_count():
            self.sound.stop()

    def _show(self, call: CallRecord, started: float) -> None:
        if self._held_back.pop(call.call_id, None) is not None:
            self.held_back_changed.emit(len(self._held_back))
        popup = self._take_spare()
        popup.bind(call, phone_text(self._ctx.normalizer, call.other_leg))
        call_id = call.call_id
        popup.dismissed.connect(self._on_dismissed)
        popup.resized.connect(self._restack)
        popup.open_card_requested.connect(self.open_card_requested)
        popup.create_contact_requested.connect(self.create_contact_requested)
        popup.call_back_requested.connect(self.call_back_requested)
        popup.linger_timer.timeout.connect(lambda: self._close(call_id))
        screen = self._cursor_screen()
        popup.screen_ref = screen
        popup.setScreen(screen)
        self._popups[call_id] = popup
        self._order.append(call_id)
        popup.adjustSize()
        self._restack()
        popup.show()  # a newly mapped window is on top of the others already: no raise_()
        self.last_shown_latency = time.perf_counter() - started
        self.popup_shown.emit(call_id)
        if self._ctx.settings.ring_sound and not is_outgoing(call):
            self.sound.play()  # the agent placed an outgoing call: nothing to ring for
        self._load_caller(call)
        self._spare_timer.start()

    def _load_caller(self, call: CallRecord) -> None:
        call_id = call.call_id

        def loaded(info: CallerInfo) -> None:
            popup = self._popups.get(call_id)
            if popup is None or not shiboken6.isValid(popup):
                return
            popup.set_caller(info)
            popup.adjustSize()
            self._restack()

        def failed(exc: BaseException) -> None:
            if self._closed:
                return
            popup = self._popups.get(call_id)
            if popup is not None and shiboken6.isValid(popup):
                popup.show_error(self.tr("Could not read the local directory: %1").replace("%1", user_message(exc)))

        self._ctx.tasks.start(self._ctx.api.contacts.caller(call), on_done=loaded, on_error=failed)

    def _on_dismissed(self, call_id: str) -> None:
        self._dismissed[call_id] = None
        while len(self._dismissed) > MISSED_MEMORY:
            self._dismissed.popitem(last=False)
        self._close(call_id)

    def _close(self, call_id: str) -> None:
        popup = self._popups.pop(call_id, None)
        if popup is None:
            return
        self._order.remove(call_id)
        popup.linger_timer.stop()
        popup.talk_timer.stop()
        popup.hide()
        popup.deleteLater()
        self._restack()
        if not self.ringing_count():
            self.sound.stop()
        self.popup_closed.emit(call_id)

    # -- the spare and the placement --------------------------------------------------------

    def _make_spare(self) -> None:
        if self._spare is None and not self._closed:
            spare = CallPopup(self._ctx)
            spare.prepare()
            self._spare = spare

    def _take_spare(self) -> CallPopup:
        if self._spare is None:
            self._make_spare()
        popup, self._spare = self._spare, None
        assert popup is not None
        return popup

    @staticmethod
    def _cursor_screen() -> QScreen:
        screen = QGuiApplication.screenAt(QCursor.pos())
        return screen if screen is not None else QGuiApplication.primaryScreen()

    def _on_screen_removed(self, screen: QScreen) -> None:
        for popup in self._popups.values():
            if popup.screen_ref is screen:
                popup.screen_ref = QGuiApplication.primaryScreen()
        self._restack()

    def _restack(self) -> None:
        """Place every pop-up: per screen, bottom-right upwards, oldest lowest, columns leftwards."""
        screens = QGuiApplication.screens()
        primary = QGuiApplication.primaryScreen()
        stacks: dict[int, tuple[QScreen, list[CallPopup]]] = {}
        for call_id in self._order:
            popup = self._popups[call_id]
            screen = popup.screen_ref if popup.screen_ref in screens else primary
            stacks.setdefault(id(screen), (screen, []))[1].append(popup)
        for screen, popups in stacks.values():
            area = screen.availableGeometry()
            right = area.right() - SCREEN_MARGIN
            bottom = area.bottom() - SCREEN_MARGIN
            top_limit = area.top() + SCREEN_MARGIN
            column_width = 0
            in_column = 0
            for popup in popups:
                size = popup.size()
                if in_column and bottom - size.height() + 1 < top_limit:
                    right -= column_width + STACK_GAP
                    bottom = area.bottom() - SCREEN_MARGIN
                    column_width = in_column = 0
                popup.move(right - size.width() + 1, bottom - size.height() + 1)
                bottom -= size.height() + STACK_GAP
                column_width = max(column_width, size.width())
                in_column += 1
