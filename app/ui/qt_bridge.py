"""The one Qt adapter: turns event-bus messages into Qt signals.

qasync runs asyncio on the Qt thread, so event callbacks already run on the GUI thread and the
signals can be emitted directly; widgets never subscribe to the bus themselves.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from app.core.api import EventsApi
from app.core.bus import BusMessage, CallChanged, CdrAdded, ContactChanged, PresenceChanged


class QtBridge(QObject):
    """Re-emits the service API's change events (:class:`~app.core.api.EventsApi`) for widgets.

    Signals:
        call_changed(CallRecord, str): a call's folded state changed; the str is the PBX action.
        presence_changed(PresenceRecord, str): a PBX user's registration or agent status changed.
        cdr_added(CdrRow): a new CDR was stored.
        contact_changed(int, tuple): a contact was created or changed (its id, its number keys).
    """

    call_changed = Signal(object, str)
    presence_changed = Signal(object, str)
    cdr_added = Signal(object)
    contact_changed = Signal(int, object)

    def __init__(self, events: EventsApi, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._disconnect = events.connect(self._on_message)

    def _on_message(self, message: BusMessage) -> None:
        if isinstance(message, CallChanged):
            self.call_changed.emit(message.call, message.event)
        elif isinstance(message, PresenceChanged):
            self.presence_changed.emit(message.presence, message.event)
        elif isinstance(message, CdrAdded):
            self.cdr_added.emit(message.cdr)
        elif isinstance(message, ContactChanged):
            self.contact_changed.emit(message.contact_id, message.keys)

    def close(self) -> None:
        self._disconnect()
