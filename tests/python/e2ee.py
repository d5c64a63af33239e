"""End-to-end encryption with LiveKit's Python SDK through OnAir: alice
publishes an encrypted VP8 video track; bob, with the key, receives decoded
frames; eve, with a wrong key, receives none. Twice: with one key shared by
the room, then with per-participant keys (each knows alice's own key, or
not).

Usage: python e2ee.py URL ALICE_TOKEN BOB_TOKEN EVE_TOKEN
Prints what it saw and "python e2ee scenario passed".
"""

import asyncio
import sys

from livekit import rtc

WIDTH, HEIGHT = 320, 240


def room_options(shared_key: bytes | None) -> rtc.RoomOptions:
    """Encryption with `shared_key`, or per-participant keys when None."""
    keys = rtc.KeyProviderOptions(shared_key=shared_key)
    return rtc.RoomOptions(encryption=rtc.E2EEOptions(key_provider_options=keys))


async def connect(url: str, token: str, shared_key: bytes | None,
                  alices_key: bytes | None = None) -> rtc.Room:
    """A room joined with `shared_key`, or knowing only `alices_key` as alice's."""
    room = rtc.Room()
    await room.connect(url, token, options=room_options(shared_key))
    if alices_key is not None:
        room.e2ee_manager.key_provider.set_key("alice", alices_key, 0)
    return room


async def frames_of(room: rtc.Room, seconds: float) -> int:
    """Decoded video frames `room` receives from alice within `seconds`."""
    subscribed: asyncio.Future = asyncio.get_running_loop().create_future()

    def on_subscribed(track, publication, participant):
        if track.kind == rtc.TrackKind.KIND_VIDEO and not subscribed.done():
            subscribed.set_result(track)

    room.on("track_subscribed", on_subscribed)
    for p in room.remote_participants.values():
        for pub in p.track_publications.values():
            if pub.track and pub.track.kind == rtc.TrackKind.KIND_VIDEO and not subscribed.done():
                subscribed.set_result(pub.track)
    track = await asyncio.wait_for(subscribed, 15)
    count = 0

    async def read():
        nonlocal count
        async for _ in rtc.VideoStream(track):
            count += 1

    reader = asyncio.ensure_future(read())
    await asyncio.sleep(seconds)
    reader.cancel()
    return count


async def publish(source: rtc.VideoSource, stop: asyncio.Event):
    shade = 0
    while not stop.is_set():
        shade = (shade + 8) % 256
        pixels = bytes([shade, 255 - shade, 128, 255]) * (WIDTH * HEIGHT)
        source.capture_frame(rtc.VideoFrame(WIDTH, HEIGHT, rtc.VideoBufferType.RGBA, pixels))
        await asyncio.sleep(1 / 15)


async def scenario(url, tokens, per_participant: bool):
    """Alice publishes; bob holds the right key, eve a wrong one."""
    alice_token, bob_token, eve_token = tokens
    key, wrong = b"correct-horse-battery", b"a-wrong-key"
    if per_participant:
        alice = await connect(url, alice_token, None, key)
    else:
        alice = await connect(url, alice_token, key)
    source = rtc.VideoSource(WIDTH, HEIGHT)
    track = rtc.LocalVideoTrack.create_video_track("camera", source)
    options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_CAMERA,
                                      video_codec=rtc.VideoCodec.VP8)
    stop = asyncio.Event()
    sending = asyncio.ensure_future(publish(source, stop))
    await alice.local_participant.publish_track(track, options)
    if per_participant:
        bob = await connect(url, bob_token, None, key)
        eve = await connect(url, eve_token, None, wrong)
    else:
        bob = await connect(url, bob_token, key)
        eve = await connect(url, eve_token, wrong)
    with_key, without = await asyncio.gather(frames_of(bob, 6), frames_of(eve, 6))
    keys = "per-participant keys" if per_participant else "a shared key"
    print(f"{keys}: bob (the key) decoded {with_key} frames; eve (a wrong key) decoded {without}")
    assert with_key > 10, with_key
    assert without == 0, without
    stop.set()
    await sending
    for room in (alice, bob, eve):
        await room.disconnect()


async def main(url, *tokens):
    await scenario(url, tokens, per_participant=False)
    await scenario(url, tokens, per_participant=True)
    print("python e2ee scenario passed")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
