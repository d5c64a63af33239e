"""Moderation and what users do, against a real onair dev: kick, block and
unblock (a blocked user's join is refused), mute, permissions, custom
events and reactions, ringing (refused with a server token, done as a
user), devices."""

from onair_dev import unique_id
from expect import refused


def new_call(sdk, prefix):
    call = sdk.call("default", unique_id(prefix))
    call.get_or_create({"members": [{"user_id": "alice"}, {"user_id": "bob"}]})
    return call


def events_of(sdk, call):
    return sdk.list_events(call_cid=call.cid, limit=1000)["events"]


def test_kick_block_unblock(sdk):
    call = new_call(sdk, "block")
    as_bob = sdk.as_user("bob").call("default", call.id)
    as_bob.join()
    assert call.kick_user("bob") == {"ok": True}
    as_bob.join()  # a kick alone does not keep them out
    assert call.block_users(["bob"])["blocked_user_ids"] == ["bob"]
    refused(as_bob.join, 403, "blocked")
    assert call.unblock_users(["bob"])["blocked_user_ids"] == []
    as_bob.join()
    call.kick_user("alice", block=True)
    assert call.block_users(["bob"])["blocked_user_ids"] == ["alice", "bob"]
    refused(lambda: call.block_users([]), 422, "invalid_body")
    types = [e["type"] for e in events_of(sdk, call)]
    for t in ["call.kicked_user", "call.blocked_user", "call.unblocked_user"]:
        assert t in types
    refused(lambda: as_bob.kick_user("alice"), 403, "missing_capability")


def test_mute(sdk):
    call = new_call(sdk, "mute")
    assert call.mute_users(["bob"], audio=True) == {"ok": True}
    assert call.mute_users(mute_all_users=True, video=True, screenshare=True) == {"ok": True}
    refused(lambda: call.mute_users(["bob"]), 422, "invalid_body")
    muted = [e for e in events_of(sdk, call) if e["type"] == "call.user_muted"]
    assert len(muted) == 2
    assert muted[0]["user_ids"] == ["bob"]
    assert muted[1]["all"] is True


def test_permissions(sdk):
    call = new_call(sdk, "perm")
    assert sdk.as_user("bob").call("default", call.id).request_permission(["screenshare"]) == {"ok": True}
    refused(lambda: call.request_permission(["screenshare"]), 403, "user_token_required")
    assert call.update_user_permissions("bob", grant_permissions=["end-call"], revoke_permissions=["send-video"]) == {"ok": True}
    caps = sdk.as_user("bob").call("default", call.id).get()["own_capabilities"]
    assert "end-call" in caps and "send-video" not in caps
    refused(lambda: call.update_user_permissions("bob", grant_permissions=["fly"]), 422, "invalid_permissions")
    refused(lambda: call.update_participant("bob", name="Bobby"), 404, "not_found")
    types = [e["type"] for e in events_of(sdk, call)]
    assert "call.permission_request" in types and "call.permissions_updated" in types


def test_custom_events_and_reactions(sdk):
    call = new_call(sdk, "custom")
    assert call.send_event({"kind": "poll", "question": "tea?"}) == {"ok": True}
    assert call.send_reaction("like", emoji_code=":+1:") == {"ok": True}
    refused(lambda: call.send_reaction(""), 422, "invalid_reaction")
    events = events_of(sdk, call)
    custom = next(e for e in events if e["type"] == "custom")
    assert custom["custom"] == {"kind": "poll", "question": "tea?"}
    assert custom["user_id"] == "server"
    assert next(e for e in events if e["type"] == "call.reaction_new")["reaction"]["type"] == "like"


def test_ring(sdk):
    call = new_call(sdk, "ring")
    refused(lambda: call.ring(["bob"]), 403, "user_token_required")
    refused(lambda: call.get_or_create(ring=True), 403, "user_token_required")
    ring = sdk.as_user("alice").call("default", call.id).ring(["bob"], video=False)
    assert ring["caller_id"] == "alice"
    assert ring["state"] == "ringing"
    assert ring["members"]["bob"]["state"] == "ringing"
    accepted = sdk.as_user("bob").call("default", call.id).accept()
    assert accepted["members"]["bob"]["state"] == "accepted"

    other = new_call(sdk, "ring-reject")
    sdk.as_user("alice").call("default", other.id).ring(["bob"])
    rejected = sdk.as_user("bob").call("default", other.id).reject("busy")
    assert rejected["members"]["bob"] == {"state": "rejected", "reason": "busy"}
    refused(lambda: sdk.as_user("bob").call("default", other.id).reject("bored"), 422, "invalid_reason")
    types = [e["type"] for e in events_of(sdk, call)]
    assert "call.ring" in types and "call.accepted" in types
    assert any(e["type"] == "call.rejected" for e in events_of(sdk, other))


def test_devices(sdk):
    user = sdk.as_user("py-device-owner")
    assert user.add_device("fcm-token-1", "firebase") == {"ok": True}
    assert [d["id"] for d in user.list_devices()["devices"]] == ["fcm-token-1"]
    assert user.delete_device("fcm-token-1") == {"ok": True}
    assert user.list_devices()["devices"] == []
    refused(lambda: user.delete_device("fcm-token-1"), 404, "not_found")
    refused(sdk.list_devices, 403, "user_token_required")
