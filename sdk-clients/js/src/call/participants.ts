/**
 * Who is in a call's media, read from its LiveKit `Room` into plain
 * {@link ParticipantState}s, and kept current as the room changes.
 * @packageDocumentation
 */
import { RoomEvent, type Participant, type Room, type TrackPublication } from "livekit-client";
import type { ParticipantState, TrackState } from "./state.js";

/** Room events after which the participants are read again. */
const CHANGES = [
  RoomEvent.Connected, RoomEvent.Reconnected, RoomEvent.Disconnected,
  RoomEvent.ParticipantConnected, RoomEvent.ParticipantDisconnected, RoomEvent.ParticipantNameChanged,
  RoomEvent.TrackPublished, RoomEvent.TrackUnpublished, RoomEvent.TrackSubscribed, RoomEvent.TrackUnsubscribed,
  RoomEvent.TrackMuted, RoomEvent.TrackUnmuted, RoomEvent.LocalTrackPublished, RoomEvent.LocalTrackUnpublished,
  RoomEvent.ActiveSpeakersChanged,
] as const;

function trackOf(publication: TrackPublication, isLocal: boolean): TrackState {
  return {
    sid: publication.trackSid,
    kind: String(publication.kind),
    source: String(publication.source),
    muted: publication.isMuted,
    subscribed: isLocal || publication.track !== undefined,
    mimeType: publication.mimeType,
  };
}

function participantOf(p: Participant, isLocal: boolean): ParticipantState {
  return {
    identity: p.identity,
    sid: p.sid,
    name: p.name,
    isLocal,
    isSpeaking: p.isSpeaking,
    tracks: [...p.trackPublications.values()].map((t) => trackOf(t, isLocal)),
  };
}

/** The participants of `room` now: the local one first, then the others. */
export function participantsOf(room: Room): ParticipantState[] {
  if (!room.localParticipant.sid) return [...room.remoteParticipants.values()].map((p) => participantOf(p, false));
  return [participantOf(room.localParticipant, true), ...[...room.remoteParticipants.values()].map((p) => participantOf(p, false))];
}

/** Calls `update` with the participants of `room` whenever they change; returns what stops it. */
export function watchParticipants(room: Room, update: (participants: ParticipantState[]) => void): () => void {
  const read = () => update(participantsOf(room));
  for (const e of CHANGES) room.on(e, read);
  return () => {
    for (const e of CHANGES) room.off(e, read);
  };
}
