"""The spec's own examples through the real listener."""

from tests.support.webhook import envelope, post


async def test_test_action_needs_no_key(engine, http):
    status, data = await post(http, engine.server.url, envelope("test"), auth=False)
    assert status == 200
    assert data == {"action": "test", "obj": "UserCRM", "code": 200, "body": {"success": True}}
