"""Users, call types and calls against a real onair dev: get-or-create with
members, read, update, members added/changed/removed, a livestream going
live and back and ending, delete; refusals surface as OnAirError."""

from expect import refused
from onair_dev import unique_id


def roles(members):
    return {m["user_id"]: m["role"] for m in members}


def test_upsert_users(sdk):
    users = sdk.upsert_users([{"id": "alice", "name": "Alice", "custom": {"team": "red"}},
                              {"id": "py-boss", "role": "admin"}])["users"]
    assert users["alice"]["name"] == "Alice"
    assert users["alice"]["custom"] == {"team": "red"}
    assert users["py-boss"]["role"] == "admin"
    refused(lambda: sdk.upsert_users([{"id": "no spaces"}]), 422, "invalid_id")
    refused(lambda: sdk.as_user("alice").upsert_users([{"id": "eve"}]), 403, "server_token_required")


def test_call_types(sdk):
    names = [t["name"] for t in sdk.list_call_types()["call_types"]]
    for n in ["default", "livestream", "audio_room", "development"]:
        assert n in names
    assert sdk.get_call_type("livestream")["settings"]["backstage"]["enabled"] is True
    name = unique_id("pytype")
    made = sdk.update_call_type(name, grants={"host": ["join-call", "read-call", "end-call"]},
                                settings={"backstage": {"enabled": True}})
    assert made["name"] == name
    assert sorted(made["grants"]["host"]) == ["end-call", "join-call", "read-call"]
    assert sdk.get_call_type(name)["settings"]["backstage"]["enabled"] is True
    refused(lambda: sdk.get_call_type(unique_id("none")), 404, "not_found")


def test_get_or_create_get_update(sdk):
    call = sdk.call("default", unique_id("create"))
    first = call.get_or_create({"members": [{"user_id": "alice", "role": "host"}, {"user_id": "bob"}],
                                "custom": {"topic": "standup"}})
    assert first["created"] is True
    assert first["call"]["cid"] == call.cid
    assert roles(first["members"]) == {"alice": "host", "bob": "call_member"}
    again = call.get_or_create({"members": [{"user_id": "carol"}]})
    assert again["created"] is False
    assert roles(again["members"]) == {"alice": "host", "bob": "call_member"}, "data is used only on creation"
    assert call.get()["call"]["member_count"] == 2
    assert call.update(custom={"topic": "retro"})["call"]["custom"] == {"topic": "retro"}
    assert call.get()["call"]["custom"] == {"topic": "retro"}


def test_members_add_change_remove_list(sdk):
    call = sdk.call("default", unique_id("members"))
    call.get_or_create({"members": [{"user_id": "alice", "role": "host"}, {"user_id": "bob"}]})
    changed = call.update_members(
        update_members=[{"user_id": "carol", "role": "moderator"}, {"user_id": "bob", "role": "host"}],
        remove_members=["alice"],
    )
    assert roles(changed["members"]) == {"bob": "host", "carol": "moderator"}
    assert roles(call.list_members()["members"]) == {"bob": "host", "carol": "moderator"}
    assert call.get()["call"]["member_count"] == 2
    call.update_members(update_members=[{"user_id": "dan"}])
    err = refused(lambda: sdk.as_user("dan").call("default", call.id).update_members(
        update_members=[{"user_id": "eve", "role": "host"}]), 403, "missing_capability")
    assert err.details == {"capability": "update-call-member"}


def test_livestream_backstage_live_end(sdk):
    call = sdk.call("livestream", unique_id("show"))
    assert call.get_or_create({"members": [{"user_id": "alice", "role": "host"}]})["call"]["backstage"] is True
    viewer = sdk.as_user("py-viewer").call("livestream", call.id)
    refused(viewer.join, 403, "backstage")
    host = sdk.as_user("alice").call("livestream", call.id).join()
    assert host["credentials"]["url"] and host["credentials"]["token"]
    assert host["role"] == "host"

    assert call.go_live()["call"]["backstage"] is False
    joined = viewer.join()
    assert joined["waiting"] is False
    assert "send-video" not in joined["own_capabilities"]
    assert call.stop_live()["call"]["backstage"] is True
    assert call.go_live()["call"]["backstage"] is False
    assert len(call.list_sessions()["sessions"]) == 1
    assert call.list_participants()["participants"] == [], "nobody connected to the SFU"

    assert call.end()["call"]["ended_at"]
    refused(call.go_live, 409, "call_ended")
    refused(viewer.join, 409, "call_ended")
    types = [e["type"] for e in sdk.list_events(call_cid=call.cid)["events"]]
    for t in ["call.created", "call.live_started", "call.live_stopped", "call.ended"]:
        assert t in types


def test_delete(sdk):
    call = sdk.call("default", unique_id("gone"))
    call.get_or_create()
    assert call.delete()["call"]["cid"] == call.cid
    refused(call.get, 404, "not_found")
    refused(sdk.call("nosuchtype", "x").get_or_create, 404, "not_found")
    refused(sdk.call("default", "bad id!").get, 422, "invalid_id")
