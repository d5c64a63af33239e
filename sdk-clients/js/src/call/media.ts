/**
 * The media half of joining: a LiveKit `Room` connected with the
 * credentials of `POST …/join`, publishing what the app asked for.
 * @packageDocumentation
 */
import { Room, type LocalTrack, type RoomConnectOptions, type RoomOptions, type AudioCaptureOptions, type VideoCaptureOptions } from "livekit-client";
import type { Credentials, IceServerView } from "../types.js";

/** How to join a call's media. */
export interface MediaOptions {
  /** Publish at all (default `true`; `false` joins to watch and listen only). */
  publish?: boolean;
  /** Publish the camera (default `true` when publishing), optionally with capture options. */
  camera?: boolean | VideoCaptureOptions;
  /** Publish the microphone (default `true` when publishing), optionally with capture options. */
  microphone?: boolean | AudioCaptureOptions;
  /** Options of the LiveKit `Room` (`adaptiveStream`, `dynacast`, `e2ee`, …). */
  roomOptions?: RoomOptions;
  /** Options of `Room.connect` (`rtcConfig`, `autoSubscribe`, timeouts). */
  connectOptions?: RoomConnectOptions;
}

/** OnAir's ICE servers as `RTCIceServer`s (OnAir says `password`, WebRTC `credential`). */
export function iceServersOf(servers: IceServerView[]): RTCIceServer[] {
  return servers.map((s) => ({ urls: s.urls, username: s.username, credential: s.password }));
}

/** `options.connectOptions`, with OnAir's ICE servers unless the app set its own. */
export function connectOptionsFor(credentials: Credentials, options: MediaOptions): RoomConnectOptions {
  const connect = { ...options.connectOptions };
  if (credentials.ice_servers.length > 0 && !connect.rtcConfig?.iceServers) {
    connect.rtcConfig = { ...connect.rtcConfig, iceServers: iceServersOf(credentials.ice_servers) };
  }
  return connect;
}

/**
 * Publishes, when the join token lets this user publish, `tracks` already
 * captured (a call moving to another node), else camera and microphone as
 * `options` ask.
 */
export async function publish(room: Room, options: MediaOptions, tracks: LocalTrack[] = []): Promise<void> {
  if (options.publish === false || !room.localParticipant.permissions?.canPublish) return;
  if (tracks.length > 0) {
    for (const track of tracks) await room.localParticipant.publishTrack(track);
    return;
  }
  const camera = options.camera ?? true;
  const microphone = options.microphone ?? true;
  const captures: Promise<unknown>[] = [];
  if (camera) captures.push(room.localParticipant.setCameraEnabled(true, camera === true ? undefined : camera));
  if (microphone) captures.push(room.localParticipant.setMicrophoneEnabled(true, microphone === true ? undefined : microphone));
  await Promise.all(captures);
}

/**
 * `room` connected with `credentials`, publishing as asked (see
 * {@link publish}); on failure the room is disconnected and the error
 * rethrown.
 */
export async function connectRoom(room: Room, credentials: Credentials, options: MediaOptions, tracks: LocalTrack[] = []): Promise<Room> {
  try {
    await room.connect(credentials.url, credentials.token, connectOptionsFor(credentials, options));
    await publish(room, options, tracks);
    return room;
  } catch (e) {
    await room.disconnect();
    throw e;
  }
}

/** A new LiveKit `Room` with the app's options. */
export function newRoom(options: MediaOptions): Room {
  return new Room(options.roomOptions);
}
