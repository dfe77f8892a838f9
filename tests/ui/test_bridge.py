"""The Qt bridge delivers the core's events as signals, after the webhook acknowledged them."""

from tests.support.qtloop import wait_until
from tests.support.webhook import call_body, envelope


def test_a_ringing_event_reaches_qt_as_a_signal(ctx, send, qloop):
    seen = []
    ctx.bridge.call_changed.connect(lambda call, event: seen.append((call.call_id, call.state, event)))
    status, _ = send(envelope("call_ringing", call_body("bridge-1")))
    assert status == 200
    wait_until(qloop, lambda: seen)
    assert seen == [("bridge-1", "ringing", "call_ringing")]
