import 'dart:async';

import '../events/on_air_event.dart';
import 'incoming_call.dart';
import 'push_payload.dart';
import 'ring_machine.dart';
import 'ringing_state.dart';

/// Called when a call rings this user: show the incoming-call screen
/// (CallKit's `reportNewIncomingCall`, Android's ConnectionService or a
/// full-screen notification), e.g. with `flutter_callkit_incoming`.
typedef IncomingCallHandler = void Function(IncomingCall call);

/// Called when a ring this device shows stops without being answered
/// here: dismiss the call screen. [reason] is `accepted_elsewhere`,
/// `decline`, `busy`, `cancel`, `timeout`, `rejected`, `ended` or `missed`.
typedef RingStoppedHandler = void Function(String callCid, String reason);

/// Called when a call rang this user and nobody answered it.
typedef MissedCallHandler = void Function(IncomingCall call);

/// Every call's ringing on this device: one [RingMachine] per call, fed by
/// the events socket and by pushes, telling the app's call-screen layer
/// what to do through the handlers.
class RingCoordinator {
  /// Ringing for the user [userId] returns (known once the token or the
  /// socket says it).
  RingCoordinator({
    required this.userId,
    this.onIncomingCall,
    this.onRingStopped,
    this.onMissedCall,
    this.maxRingAge = const Duration(seconds: 60),
    DateTime Function()? clock,
  }) : _clock = clock;

  /// The user on this device, if known yet.
  final String? Function() userId;

  /// See [IncomingCallHandler].
  IncomingCallHandler? onIncomingCall;

  /// See [RingStoppedHandler].
  RingStoppedHandler? onRingStopped;

  /// See [MissedCallHandler].
  MissedCallHandler? onMissedCall;

  /// How old a `call.ring` may be and still ring.
  final Duration maxRingAge;

  final DateTime Function()? _clock;
  final Map<String, RingMachine> _machines = {};
  final _effects = StreamController<RingEffect>.broadcast(sync: true);

  /// Every effect, as the handlers get them (and [RingAccepted], which
  /// has no handler), after the machine moved.
  Stream<RingEffect> get effects => _effects.stream;

  /// The ringing of call [callCid], made on first use; `null` while the
  /// user is unknown.
  RingMachine? machine(String callCid) {
    final me = userId();
    if (me == null) {
      return null;
    }
    return _machines.putIfAbsent(
      callCid,
      () => RingMachine(callCid: callCid, userId: me, maxRingAge: maxRingAge, clock: _clock),
    );
  }

  /// Where call [callCid]'s ringing is.
  RingingState stateOf(String callCid) => _machines[callCid]?.state ?? RingingState.idle;

  /// Feeds a socket event.
  void handleEvent(OnAirEvent event) {
    if (!_ringing.contains(event.type)) {
      return;
    }
    final machine = this.machine(event.callCid);
    if (machine != null) {
      _dispatch(machine.onEvent(event));
    }
  }

  /// Feeds a push's [payload] (the APNs dictionary or FCM's data);
  /// returns what it said, or `null` when it is not an OnAir push.
  PushMessage? handlePush(Map<String, dynamic> payload) {
    final push = PushMessage.parse(payload);
    if (push == null) {
      return null;
    }
    final machine = this.machine(push.callCid);
    if (machine != null) {
      _dispatch(machine.onPush(push));
    }
    return push;
  }

  /// Forgets every call (on sign-out).
  void clear() => _machines.clear();

  /// Closes [effects].
  Future<void> dispose() => _effects.close();

  void _dispatch(List<RingEffect> effects) {
    for (final effect in effects) {
      switch (effect) {
        case ShowIncomingCall(:final call):
          onIncomingCall?.call(call);
        case StopRinging(:final callCid, :final reason):
          onRingStopped?.call(callCid, reason);
        case MissedCall(:final call):
          onMissedCall?.call(call);
        case RingAccepted():
          break;
      }
      if (!_effects.isClosed) {
        _effects.add(effect);
      }
    }
  }

  static const _ringing = {
    'call.ring',
    'call.accepted',
    'call.rejected',
    'call.missed',
    'call.ended',
  };
}
