"""Known-bad webhook bodies: each must get a 4xx JSON error naming the problem."""

from __future__ import annotations

import json
from typing import Any


def nested(depth: int) -> bytes:
    return b'{"action":"get_users","params":{"x":' + b"[" * depth + b"]" * depth + b"}}"


def envelope_bytes(action: str, **fields: Any) -> bytes:
    return json.dumps({"action": action, "obj": "UserCRM", **fields}).encode()


#: (id, body, expected status, fragment of the error message)
BAD_INPUTS: list[tuple[str, bytes, int, str]] = [
    ("invalid-json", b'{"action":', 400, "invalid JSON"),
    ("invalid-utf8", b'{"action":"test\xc0\xaf"}', 400, "UTF-8"),
    ("latin1", '{"action":"get_users","params":{"name":"Müller"}}'.encode("latin-1"), 400, "UTF-8"),
    ("empty", b"", 400, "empty"),
    ("whitespace", b" \r\n\t ", 400, "invalid JSON"),
    ("array", b"[]", 400, "JSON object"),
    ("string", b'"get_users"', 400, "JSON object"),
    ("number", b"4951343060", 400, "JSON object"),
    ("true", b"true", 400, "JSON object"),
    ("nested-1000", nested(1000), 400, "nested too deeply"),
    ("nested-100000", nested(100_000), 400, "nested too deeply"),
    ("nested-objects", b'{"action":"get_users","params":' + b'{"a":' * 5000 + b"1" + b"}" * 5001, 400, "nested"),
    ("action-null", b'{"action": null}', 400, "action"),
    ("action-number", b'{"action": 5}', 400, "action"),
    ("action-list", b'{"action": ["test"]}', 400, "action"),
    ("action-unknown", envelope_bytes("drop_table"), 400, "unknown action"),
    ("obj-other", b'{"action":"get_users","obj":"UserPBX"}', 400, "obj"),
    ("obj-null", b'{"action":"get_users","obj":null}', 400, "obj"),
    ("params-list", envelope_bytes("get_contact", params=["4951343060"]), 400, "params"),
    ("params-string", envelope_bytes("get_users", params="x"), 400, "params"),
    ("event-no-body", envelope_bytes("call_ringing"), 400, "body"),
    ("event-body-string", envelope_bytes("user_change", body="9022"), 400, "body"),
    ("call-id-list", envelope_bytes("call_answer", body={"call_id": ["a"]}), 400, "body.call_id"),
    ("call-id-bool", envelope_bytes("call_answer", body={"call_id": True}), 400, "body.call_id"),
    ("call-id-empty", envelope_bytes("call_answer", body={"call_id": "  "}), 400, "body.call_id"),
    ("status-abc", envelope_bytes("user_change", body={"user_uid": "9022", "status": "abc"}), 400, "body.status"),
    ("rt-vars-list", envelope_bytes("call_hangup", body={"call_id": "c", "rt_vars": [1]}), 400, "body.rt_vars"),
    ("get-contact-no-phone", envelope_bytes("get_contact", params={}), 400, "phone"),
    ("get-contact-phone-bool", envelope_bytes("get_contact", params={"phone": True}), 400, "params.phone"),
    ("get-contact-phone-float", envelope_bytes("get_contact", params={"phone": 4951343060.5}), 400, "params.phone"),
    ("python-dict", b"{'action': 'user_change', 'obj': 'UserCRM', 'body': {'user_uid': '9022'}}", 400, "invalid JSON"),
    ("trailing-comma", b'{"action":"get_users","params":{},}', 400, "invalid JSON"),
    ("comment", b'{"action":"get_users" /* hi */}', 400, "invalid JSON"),
    ("surrogate-action", b'{"action":"\\ud800"}', 400, "surrogate"),
    ("surrogate-key", b'{"action":"get_users","params":{"\\udfff":1}}', 400, "surrogate"),
    ("surrogate-call-id", envelope_bytes("call_ringing", body={"call_id": "\ud800"}), 400, "surrogate"),
    ("surrogate-phone", b'{"action":"get_contact","params":{"phone":"\\uDBFF"}}', 400, "surrogate"),
    ("surrogate-deep", b'{"action":"cdr_append","body":{"uniqueid":"u","geo_ids":[[["\\ud83d"]]]}}', 400, "surrogate"),
    ("huge-int-status", envelope_bytes("user_change", body={"user_uid": "9022", "status": 10**30}), 400, "body.status"),
    ("huge-int-duration", envelope_bytes("cdr_append", body={"uniqueid": "u-big", "duration": 2**63}), 400,
     "body.duration"),
    ("huge-float-direction", envelope_bytes("call_held", body={"call_id": "h", "direction": 1e20}), 400,
     "body.direction"),
    ("int-5000-digits", b'{"action":"get_users","params":{"n":' + b"9" * 5000 + b"}}", 400, "invalid JSON"),
    ("nan", b'{"action":"cdr_append","body":{"uniqueid":"u-nan","dt":NaN}}', 400, "NaN"),
    ("infinity", b'{"action":"cdr_append","body":{"uniqueid":"u-inf","dt":Infinity}}', 400, "Infinity"),
    ("minus-infinity", b'{"action":"get_users","params":{"x":-Infinity}}', 400, "Infinity"),
    ("bom", b'\xef\xbb\xbf{"action":"test"}', 400, "BOM"),
    # (also posted with the right key; a 400 must store nothing and the server keeps serving)
    ("null", b"null", 400, "JSON object"),
    ("action-missing", b'{"obj": "UserCRM", "params": {}}', 400, "action"),
    ("action-blank", b'{"action": "  ", "obj": "UserCRM"}', 400, "action"),
    ("call-id-missing", envelope_bytes("call_answer", body={"other_leg": "+74952523060"}), 400, "body.call_id"),
    ("direction-dict", envelope_bytes("call_held", body={"call_id": "h", "direction": {}}), 400, "body.direction"),
    ("event-body-list", envelope_bytes("cdr_append", body=[{"uniqueid": "u"}]), 400, "body"),
    ("get-contact-blank-phone", envelope_bytes("get_contact", params={"phone": " "}), 400, "phone"),
    ("get-contact-phone-list", envelope_bytes("get_contact", params={"phone": ["4951343060"]}), 400, "params.phone"),
]
