"""Frame metadata (LiveKit's packet trailer) through OnAir with LiveKit's
Python SDK: alice publishes a VP8 track asking for the user timestamp and
frame id features and stamps every frame; bob's publication lists the
features and his decoded frames carry alice's stamps. Then the server is
asked for a full reconnect of alice (LiveKit's `LeaveRequestFullReconnect`
test hook): she republishes, and the new publication still lists the
features and frames still carry them.

Usage: python frame_metadata.py URL ALICE_TOKEN BOB_TOKEN
Prints what it saw and "python frame metadata scenario passed".
"""

import asyncio
import sys

from livekit import rtc

WIDTH, HEIGHT = 320, 240
FEATURES = [rtc.FrameMetadataFeature.FMF_USER_TIMESTAMP, rtc.FrameMetadataFeature.FMF_FRAME_ID]
# Stamps start far from 0 so a default value can never pass for one.
FIRST_FRAME_ID = 1_000_000


async def publish(source: rtc.VideoSource, stop: asyncio.Event):
    frame_id = FIRST_FRAME_ID
    while not stop.is_set():
        frame_id += 1
        pixels = bytes([frame_id % 256, 64, 128, 255]) * (WIDTH * HEIGHT)
        stamp = rtc.FrameMetadata(user_timestamp=frame_id * 1000, frame_id=frame_id)
        source.capture_frame(rtc.VideoFrame(WIDTH, HEIGHT, rtc.VideoBufferType.RGBA, pixels),
                             metadata=stamp)
        await asyncio.sleep(1 / 15)


async def next_video(bob: rtc.Room, old_sid: str | None):
    """Alice's video publication on bob's side (a new one when `old_sid`)."""
    for _ in range(300):
        for p in bob.remote_participants.values():
            for pub in p.track_publications.values():
                if (pub.kind == rtc.TrackKind.KIND_VIDEO and pub.sid != old_sid
                        and pub.track is not None):
                    return pub
        await asyncio.sleep(0.05)
    raise AssertionError("bob never received alice's video")


async def stamped_frames(track: rtc.Track, seconds: float):
    """(frames, frames whose stamps are alice's) decoded within `seconds`."""
    frames = stamped = 0

    async def read():
        nonlocal frames, stamped
        async for event in rtc.VideoStream(track):
            frames += 1
            m = event.metadata
            if (m is not None and m.frame_id > FIRST_FRAME_ID
                    and m.user_timestamp == m.frame_id * 1000):
                stamped += 1

    reader = asyncio.ensure_future(read())
    await asyncio.sleep(seconds)
    reader.cancel()
    return frames, stamped


async def check(bob: rtc.Room, old_sid: str | None, when: str) -> str:
    pub = await next_video(bob, old_sid)
    features = sorted(pub.frame_metadata_features)
    frames, stamped = await stamped_frames(pub.track, 4)
    print(f"{when}: features {features}, {frames} frames, {stamped} with alice's stamps")
    assert features == sorted(FEATURES), features
    assert stamped > 10, (frames, stamped)
    return pub.sid


async def main(url, alice_token, bob_token):
    alice, bob = rtc.Room(), rtc.Room()
    await alice.connect(url, alice_token)
    source = rtc.VideoSource(WIDTH, HEIGHT)
    track = rtc.LocalVideoTrack.create_video_track("camera", source)
    options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_CAMERA,
                                      video_codec=rtc.VideoCodec.VP8,
                                      frame_metadata_features=FEATURES)
    stop = asyncio.Event()
    sending = asyncio.ensure_future(publish(source, stop))
    await alice.local_participant.publish_track(track, options)
    await bob.connect(url, bob_token)
    first = await check(bob, None, "before the full reconnect")

    republished = asyncio.get_running_loop().create_future()
    alice.on("local_track_republished",
             lambda pub, previous: republished.done() or republished.set_result(pub.sid))
    await alice.simulate_scenario(rtc.SimulateScenarioKind.SIMULATE_FULL_RECONNECT)
    new_sid = await asyncio.wait_for(republished, 20)
    print(f"alice republished {first} as {new_sid}")
    await check(bob, first, "after the full reconnect")

    stop.set()
    await sending
    for room in (alice, bob):
        await room.disconnect()
    print("python frame metadata scenario passed")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
