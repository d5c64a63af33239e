"""GET /v1/events through list_events against a real onair dev:
call.created and what follows, paged with after/limit, narrowed to a call,
refusals."""

from onair_dev import unique_id
from expect import refused


def test_list_events_sees_call_created_and_pages(sdk):
    call = sdk.call("default", unique_id("ev"))
    call.get_or_create({"members": [{"user_id": "alice"}], "custom": {"n": 1}})
    call.update(custom={"n": 2})
    call.update_members(update_members=[{"user_id": "bob"}])
    call.send_event({"n": 3})

    page = sdk.list_events(call_cid=call.cid)
    types = [e["type"] for e in page["events"]]
    assert types[0] == "call.created"
    for t in ["call.updated", "call.member_added", "custom"]:
        assert t in types
    assert page["events"][0]["call_cid"] == call.cid
    assert [m["user_id"] for m in page["events"][0]["members"]] == ["alice"]
    assert page["next"] == page["events"][-1]["id"]

    paged, after = [], None
    for _ in range(50):
        one = sdk.list_events(call_cid=call.cid, limit=1, after=after)
        assert len(one["events"]) <= 1
        if not one["events"]:
            assert one.get("next") is None
            break
        paged.append(one["events"][0])
        after = one["next"]
    assert [e["id"] for e in paged] == [e["id"] for e in page["events"]]
    ids = [int(e["id"]) for e in paged]
    assert ids == sorted(ids), "oldest first"


def test_server_reads_every_call_user_only_theirs(sdk):
    mine = sdk.call("default", unique_id("mine"))
    theirs = sdk.call("default", unique_id("theirs"))
    mine.get_or_create({"members": [{"user_id": "py-zoe"}]})
    theirs.get_or_create({"members": [{"user_id": "py-yann"}]})
    cids = {e["call_cid"] for e in sdk.list_events(limit=1000)["events"]}
    assert mine.cid in cids and theirs.cid in cids
    zoe = {e["call_cid"] for e in sdk.as_user("py-zoe").list_events(limit=1000)["events"]}
    assert mine.cid in zoe and theirs.cid not in zoe


def test_bad_paging_is_refused(sdk):
    refused(lambda: sdk.list_events(limit=0), 422, "invalid_limit")
    refused(lambda: sdk.list_events(limit=1001), 422, "invalid_limit")
    refused(lambda: sdk.list_events(after="x"), 422, "invalid_after")
    last = sdk.list_events(limit=1000)
    assert sdk.list_events(after=last.get("next") or "0")["events"] == []
