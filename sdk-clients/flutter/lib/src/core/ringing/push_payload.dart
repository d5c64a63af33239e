import 'incoming_call.dart';

/// What an OnAir push says, whichever service brought it.
///
/// OnAir's pushes (`push/src/message.rs`) carry these keys beside the
/// provider's own (`aps` for APNs; FCM puts them in `data`, every value a
/// string):
///
/// | `type` | other keys |
/// |---|---|
/// | `call.ring` | `call_cid`, `caller_id`, `caller_name` (when known), `video` |
/// | `call.ended` | `call_cid`, `reason` (`accepted`, `decline`, `busy`, `cancel`, `timeout`, …): stop ringing |
/// | `call.missed` | `call_cid`, `caller_id`, `caller_name` (when known), `video` |
///
/// A ring goes to an iOS VoIP (PushKit) token as a VoIP push (apns-push-type
/// `voip`, empty `aps`), to other APNs tokens as an alert, and to FCM as a
/// high-priority data message with a time to live of 0.
sealed class PushMessage {
  const PushMessage(this.callCid);

  /// The call, `type:id`.
  final String callCid;

  /// Reads an OnAir push's [payload] (the APNs dictionary, or FCM's
  /// `RemoteMessage.data`); `null` when it is not an OnAir push.
  static PushMessage? parse(Map<String, dynamic> payload) {
    final type = payload['type'];
    final cid = payload['call_cid'];
    if (type is! String || cid is! String || !cid.contains(':')) {
      return null;
    }
    if (type == 'call.ended') {
      final reason = payload['reason'];
      return RingEndedPush(cid, reason is String ? reason : 'ended');
    }
    if (type != 'call.ring' && type != 'call.missed') {
      return null;
    }
    final callerId = payload['caller_id'];
    if (callerId is! String) {
      return null;
    }
    final callerName = payload['caller_name'];
    final call = IncomingCall(
      callCid: cid,
      callerId: callerId,
      callerName: callerName is String ? callerName : null,
      video: _flag(payload['video']),
    );
    return type == 'call.ring' ? RingPush(call) : MissedCallPush(call);
  }

  /// APNs sends booleans; FCM data values are strings.
  static bool _flag(Object? value) => value is bool ? value : value != 'false';
}

/// The phone should ring: show [call].
final class RingPush extends PushMessage {
  /// A ring of [call].
  RingPush(this.call) : super(call.callCid);

  /// Who calls, and how.
  final IncomingCall call;
}

/// The ring ended elsewhere ([reason]): stop ringing.
final class RingEndedPush extends PushMessage {
  /// The end of the ring of [callCid].
  const RingEndedPush(super.callCid, this.reason);

  /// Why: `accepted`, `decline`, `busy`, `cancel`, `timeout`, …
  final String reason;
}

/// A call was missed: show a missed-call notification for [call].
final class MissedCallPush extends PushMessage {
  /// A missed [call].
  MissedCallPush(this.call) : super(call.callCid);

  /// Who called.
  final IncomingCall call;
}
