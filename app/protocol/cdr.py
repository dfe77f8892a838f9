"""The call detail record: body of ``cdr_append`` and the items of a ``get_cdr`` reply."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from .base import BoundedJson, WireId, WireInt, WireModel

#: The longest recording link (or dialplan data) kept: real ones are a few hundred characters.
MAX_LINK = 4096

#: Every CDR field the vendor documents, in the vendor's order (``history --json`` prints these).
CDR_FIELDS: tuple[str, ...] = (
    "id", "uniqueid", "dt", "src", "dst", "duration", "billsec", "cc_queue_waiting_time",
    "lastapp", "lastdata", "rec_path", "gateway", "gateway_number", "dial_status", "direction",
    "project_id", "project_name", "bridge_hangup_cause", "hold_accum_seconds", "geo_ids",
    "geo_names", "link",
)


class CdrRecord(WireModel):
    """One call detail record. ``uniqueid`` is its natural key; ``link`` carries an access token."""

    id: WireId | None = None
    uniqueid: WireId
    dt: Annotated[float, Field(allow_inf_nan=False)] | None = None  # unix seconds
    src: str | None = None
    dst: str | None = None
    duration: WireInt | None = None
    billsec: WireInt | None = None
    cc_queue_waiting_time: WireInt | None = None
    lastapp: str | None = None
    lastdata: Annotated[str, Field(max_length=MAX_LINK)] | None = None
    rec_path: str | None = None
    gateway: str | None = None
    gateway_number: str | None = None
    dial_status: WireInt | None = None
    direction: WireInt | None = None
    project_id: WireId | None = None
    project_name: str | None = None
    bridge_hangup_cause: str | None = None
    hold_accum_seconds: WireInt | None = None
    geo_ids: BoundedJson = None
    geo_names: BoundedJson = None
    link: Annotated[str, Field(max_length=MAX_LINK)] | None = None

    def wire_dict(self) -> dict[str, Any]:
        """The record with the seed's field names first, then whatever else the PBX sent."""
        data = {name: getattr(self, name) for name in CDR_FIELDS}
        data.update(self.extra_fields())
        return data
