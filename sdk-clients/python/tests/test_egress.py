"""Recordings, HLS and RTMP pushes against a real onair dev (its egress
worker runs the jobs): start, list, stop, and the refusals."""

import json
import re

from onair_dev import eventually, unique_id
from expect import refused

DONE = ("complete", "failed")


def live_call(sdk, prefix):
    call = sdk.call("livestream", unique_id(prefix))
    call.get_or_create({"members": [{"user_id": "alice", "role": "host"}]})
    return call


def test_recordings(sdk):
    call = live_call(sdk, "rec")
    rec = call.start_recording(preset="360p")["recording"]
    assert rec["id"].startswith("EG_") and rec["state"] == "starting"
    refused(call.start_recording, 409, "recording_running")
    refused(lambda: call.start_recording(preset="4k"), 422, "invalid_preset")
    assert [r["id"] for r in call.list_recordings()["recordings"]] == [rec["id"]]
    assert call.get()["call"]["egress"]["recording"]["id"] == rec["id"]
    eventually(lambda: call.list_recordings()["recordings"][0]["state"] == "active", 20, "the recording to run")
    stopped = call.stop_recording()["recording"]
    assert stopped["id"] == rec["id"] and stopped["state"] in ("ending",) + DONE
    done = eventually(lambda: next((r for r in call.list_recordings()["recordings"] if r["state"] in DONE), None),
                      20, "the recording to finish")
    assert done["state"] == "complete", done["error"]
    assert re.match(r"^http://127\.0\.0\.1:\d+/files/", done["url"])
    refused(call.stop_recording, 404, "not_found")
    types = [e["type"] for e in sdk.list_events(call_cid=call.cid)["events"]]
    assert "call.recording_started" in types and "call.recording_stopped" in types


def test_hls(sdk):
    call = live_call(sdk, "hls")
    hls = call.start_hls(preset="360p")["hls"]
    assert hls["id"].startswith("EG_")
    refused(call.start_hls, 409, "hls_running")
    assert call.get()["call"]["egress"]["hls"]["id"] == hls["id"]
    stopped = call.stop_hls()["hls"]
    assert stopped["id"] == hls["id"] and stopped["state"] in ("ending",) + DONE
    eventually(lambda: call.get()["call"]["egress"]["hls"] is None, 20, "the broadcast to finish")
    refused(call.stop_hls, 404, "not_found")


def test_rtmp(sdk):
    call = live_call(sdk, "rtmp")
    key = unique_id("key")
    added = call.start_rtmp_broadcast("yt", "rtmp://127.0.0.1:9/live", key, preset="360p")
    assert added["rtmp"]["name"] == "yt"
    assert key not in json.dumps(added)
    view = call.get()["call"]
    assert [r["name"] for r in view["egress"]["rtmps"]] == ["yt"]
    assert key not in json.dumps(view)
    refused(lambda: call.start_rtmp_broadcast("bad", "http://example/live", "k"), 422, "invalid_stream_url")
    assert call.stop_rtmp_broadcast("yt")["rtmp"]["id"] == added["rtmp"]["id"]
    eventually(lambda: call.get()["call"]["egress"]["rtmps"] == [], 20, "the push to stop")
    refused(lambda: call.stop_rtmp_broadcast("yt"), 404, "not_found")


def test_an_ended_call_starts_no_egress(sdk):
    call = sdk.call("livestream", unique_id("ended"))
    call.get_or_create()
    call.end()
    refused(call.start_recording, 409, "call_ended")
    refused(call.start_hls, 409, "call_ended")
