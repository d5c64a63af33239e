import 'dart:async';

import 'package:flutter_callkit_incoming/entities/entities.dart';
import 'package:flutter_callkit_incoming/flutter_callkit_incoming.dart';
import 'package:onair_flutter/onair_flutter.dart';

/// Connects OnAir's ringing to the phone's call screen with
/// `flutter_callkit_incoming`: CallKit on iOS, a full-screen incoming-call
/// UI on Android.
class CallKitBridge {
  /// Bridges [client]'s ringing; [onAnswered] opens the app's call screen.
  CallKitBridge(this.client, {required this.onAnswered}) {
    client.ringing
      ..onIncomingCall = _show
      ..onRingStopped = _dismiss
      ..onMissedCall = _missed;
    _events = FlutterCallkitIncoming.onEvent.listen(_onCallKitEvent);
  }

  /// The signed-in user's client.
  final OnAirClient client;

  /// Called with the call once the user answered and it is joined.
  final void Function(Call call) onAnswered;

  late final StreamSubscription<CallEvent?> _events;

  /// Registers this phone for VoIP pushes (iOS; Android uses FCM).
  Future<void> registerVoipToken() async {
    final token = await FlutterCallkitIncoming.getDevicePushTokenVoIP();
    if (token is String && token.isNotEmpty) {
      await client.devices.add(id: token, provider: PushProvider.apn, voip: true);
    }
  }

  /// Stops listening to the call screen.
  Future<void> dispose() => _events.cancel();

  // CallKit wants a UUID per call; OnAir's call id is kept in `extra`.
  static String _uuid(String cid) {
    final hex = cid.codeUnits.fold<int>(0x811c9dc5, (h, c) => ((h ^ c) * 0x01000193) & 0xffffffff);
    final h = hex.toRadixString(16).padLeft(8, '0');
    return '$h-0000-4000-8000-${h.padRight(12, '0')}';
  }

  Future<void> _show(IncomingCall call) => FlutterCallkitIncoming.showCallkitIncoming(CallKitParams(
        id: _uuid(call.callCid),
        nameCaller: call.displayName,
        handle: call.callerId,
        type: call.video ? 1 : 0,
        duration: 45000,
        textAccept: 'Accept',
        textDecline: 'Decline',
        extra: {'call_cid': call.callCid},
        ios: const IOSParams(handleType: 'generic', supportsVideo: true),
        android: const AndroidParams(isCustomNotification: true),
      ));

  void _dismiss(String callCid, String reason) =>
      unawaited(FlutterCallkitIncoming.endCall(_uuid(callCid)));

  void _missed(IncomingCall call) => unawaited(FlutterCallkitIncoming.showMissCallNotification(CallKitParams(
        id: _uuid(call.callCid),
        nameCaller: call.displayName,
        handle: call.callerId,
        type: call.video ? 1 : 0,
        textMissedCall: 'Missed call',
      )));

  Future<void> _onCallKitEvent(CallEvent? event) async {
    final body = event?.body;
    final extra = body is Map ? body['extra'] : null;
    final cid = extra is Map ? extra['call_cid'] : null;
    if (event == null || cid is! String || !cid.contains(':')) {
      return;
    }
    final separator = cid.indexOf(':');
    final call = client.call(cid.substring(0, separator), cid.substring(separator + 1));
    switch (event.event) {
      case Event.actionCallAccept:
        await call.accept();
        await call.join(camera: true, microphone: true);
        onAnswered(call);
      case Event.actionCallDecline:
        await call.reject();
      case Event.actionCallEnded:
        await call.leave();
      default:
        break;
    }
  }
}
