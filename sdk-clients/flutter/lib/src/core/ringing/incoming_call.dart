import '../events/on_air_event.dart';

/// A call ringing this user: what the app hands to CallKit (iOS) or
/// ConnectionService (Android) to show the incoming-call screen.
class IncomingCall {
  /// A ring of call [callCid] from [callerId].
  const IncomingCall({
    required this.callCid,
    required this.callerId,
    this.callerName,
    this.video = true,
    this.ringId,
    this.members = const [],
  });

  /// The `call.ring` event [event] as heard by user [me]; `null` unless it
  /// rings [me] (a busy callee is a member but not rung).
  static IncomingCall? fromRing(OnAirEvent event, String me) {
    if (event.type != 'call.ring' || !event.strings('ringing').contains(me)) {
      return null;
    }
    final caller = event.string('user_id');
    if (caller == null || caller == me) {
      return null;
    }
    return IncomingCall(
      callCid: event.callCid,
      callerId: caller,
      video: event['video'] != false,
      ringId: event.string('ring_id'),
      members: event.strings('members'),
    );
  }

  /// The call, `type:id`.
  final String callCid;

  /// Who calls.
  final String callerId;

  /// Their display name, when OnAir knows it (pushes carry it).
  final String? callerName;

  /// A video call (else audio only).
  final bool video;

  /// The ring's id (socket events carry it; pushes do not).
  final String? ringId;

  /// Everyone this ring rings.
  final List<String> members;

  /// The call type (before the `:`).
  String get callType => callCid.substring(0, callCid.indexOf(':'));

  /// The call id (after the `:`).
  String get callId => callCid.substring(callCid.indexOf(':') + 1);

  /// What to show: the caller's name, else their id.
  String get displayName => callerName ?? callerId;

  @override
  String toString() => 'IncomingCall($callCid from $callerId, video: $video)';
}
