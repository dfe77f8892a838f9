"""A client's call history: the local journal and CDRs merged into one timeline, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.protocol import events as ev
from app.protocol.cdr import CDR_FIELDS
from app.storage import CallRecord, CdrRow


def direction_label(direction: int | None) -> str:
    if direction == ev.DIRECTION_INCOMING:
        return "incoming"
    if direction == ev.DIRECTION_OUTGOING:
        return "outgoing"
    return "unknown" if direction is None else f"unknown ({direction})"


@dataclass(slots=True)
class HistoryEntry:
    """One call in a timeline: its CDR when there is one, its journal row when we saw it live."""

    cdr: dict[str, Any] | None
    call: CallRecord | None

    @property
    def time(self) -> float:
        if self.cdr and self.cdr.get("dt") is not None:
            return float(self.cdr["dt"])
        assert self.call is not None
        return self.call.ringing_at or self.call.first_seen

    @property
    def direction(self) -> int | None:
        if self.cdr and self.cdr.get("direction") is not None:
            direction: int = self.cdr["direction"]
            return direction
        return self.call.direction if self.call else None

    def as_cdr(self) -> dict[str, Any]:
        """The entry in the seed's CDR field names (a call without a CDR yet gets what we know)."""
        if self.cdr is not None:
            data = dict(self.cdr)
        else:
            call = self.call
            assert call is not None
            data = dict.fromkeys(CDR_FIELDS)
            end = call.hangup_at
            incoming = call.direction == ev.DIRECTION_INCOMING
            data.update(
                uniqueid=None, dt=self.time, direction=call.direction,
                src=call.other_leg if incoming else call.domain_user,
                dst=call.domain_user if incoming else call.other_leg,
                duration=round(end - self.time) if end else None,
                billsec=call.answer_seconds, gateway_number=call.gateway_number,
                bridge_hangup_cause=call.hangup_cause,
            )
        if self.call is not None:
            data["call_id"] = self.call.call_id
            data["missed"] = self.call.missed
            data["state"] = self.call.state
        return data


def merge_history(calls: list[CallRecord], cdrs: list[CdrRow], limit: int) -> list[HistoryEntry]:
    by_uniqueid = {row.uniqueid: HistoryEntry(row.data, None) for row in cdrs}
    entries: list[HistoryEntry] = list(by_uniqueid.values())
    for call in calls:
        linked = by_uniqueid.get(call.cdr_uniqueid or "") or by_uniqueid.get(call.call_id)
        if linked is not None and linked.call is None:
            linked.call = call
        else:
            entries.append(HistoryEntry(None, call))
    entries.sort(key=lambda e: e.time, reverse=True)
    return entries[:limit]
