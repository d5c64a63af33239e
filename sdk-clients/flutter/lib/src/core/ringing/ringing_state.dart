import 'incoming_call.dart';

/// Where this device is with one call's ringing.
enum RingingState {
  /// Nothing yet: no ring heard, not joined.
  idle,

  /// A ring is on: incoming (the phone rings) or outgoing (we ring others).
  ringing,

  /// In the call's media.
  joined,

  /// Out again: rejected, cancelled, missed, answered on another device,
  /// left, or the call ended.
  left,
}

/// Which way a ring goes.
enum RingDirection {
  /// Someone rings this user.
  incoming,

  /// This user rings others.
  outgoing,
}

/// What the app's call screen (CallKit, ConnectionService) should do after
/// a ringing step.
sealed class RingEffect {
  const RingEffect(this.callCid);

  /// The call, `type:id`.
  final String callCid;
}

/// Show the incoming-call screen for [call].
final class ShowIncomingCall extends RingEffect {
  /// Show [call].
  ShowIncomingCall(this.call) : super(call.callCid);

  /// Who calls.
  final IncomingCall call;
}

/// Stop ringing (dismiss the incoming-call screen, or the outgoing
/// "calling…" screen) because of [reason].
final class StopRinging extends RingEffect {
  /// Stop ringing [callCid].
  const StopRinging(super.callCid, this.reason);

  /// `accepted_elsewhere`, `decline`, `busy`, `cancel`, `timeout`,
  /// `rejected`, `ended`, `missed`.
  final String reason;
}

/// The call was missed: leave a missed-call notification.
final class MissedCall extends RingEffect {
  /// [call] was missed.
  MissedCall(this.call) : super(call.callCid);

  /// Who called.
  final IncomingCall call;
}

/// A callee accepted this user's ring.
final class RingAccepted extends RingEffect {
  /// [userId] accepted the ring of [callCid].
  const RingAccepted(super.callCid, this.userId);

  /// Who accepted.
  final String userId;
}
