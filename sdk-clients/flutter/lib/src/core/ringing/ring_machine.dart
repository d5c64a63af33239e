import '../api/call_data.dart';
import '../events/on_air_event.dart';
import 'incoming_call.dart';
import 'push_payload.dart';
import 'ringing_state.dart';

/// The ringing of one call on this device, as a state machine without
/// I/O: events from the socket, pushes and the user's own actions go in;
/// the new [state] and what the call screen should do come out.
///
/// The same ring may arrive twice (a VoIP push, then the socket's replay):
/// it shows once. A ring older than [maxRingAge] (heard late, in a replay)
/// is not shown, as OnAir's pushes are not sent for it either.
class RingMachine {
  /// The machine of call [callCid] for user [userId].
  RingMachine({
    required this.callCid,
    required this.userId,
    this.maxRingAge = const Duration(seconds: 60),
    DateTime Function()? clock,
  }) : _now = clock ?? DateTime.now;

  /// The call, `type:id`.
  final String callCid;

  /// The user on this device.
  final String userId;

  /// How old a `call.ring` may be and still ring.
  final Duration maxRingAge;

  final DateTime Function() _now;
  RingingState _state = RingingState.idle;
  RingDirection? _direction;
  IncomingCall? _incoming;
  String? _ringId;
  bool _acceptedHere = false;
  final Set<String> _acceptedBy = {};

  /// Where the ringing is.
  RingingState get state => _state;

  /// Which way the current (or last) ring goes.
  RingDirection? get direction => _direction;

  /// The ring this user hears, while there is one.
  IncomingCall? get incoming => _state == RingingState.ringing ? _incoming : null;

  /// The current (or last) ring's id.
  String? get ringId => _ringId;

  /// Who accepted this user's outgoing ring.
  Set<String> get acceptedBy => Set.unmodifiable(_acceptedBy);

  /// What a leave with `reject: true` says: a caller cancels its ring, a
  /// callee declines.
  RejectReason get rejectReason =>
      _direction == RingDirection.outgoing ? RejectReason.cancel : RejectReason.decline;

  bool get _ringingIn => _state == RingingState.ringing && _direction == RingDirection.incoming;
  bool get _ringingOut => _state == RingingState.ringing && _direction == RingDirection.outgoing;

  /// Takes an event of this call from the socket.
  List<RingEffect> onEvent(OnAirEvent event) {
    if (event.callCid != callCid) {
      return const [];
    }
    switch (event.type) {
      case 'call.ring':
        return _onRing(event);
      case 'call.accepted':
        return _onAccepted(event);
      case 'call.rejected':
        return _onRejected(event);
      case 'call.missed':
        return _onMissed(event.strings('members'), _missedCall(event));
      case 'call.ended':
        return _end('ended');
    }
    return const [];
  }

  /// Takes a push about this call.
  List<RingEffect> onPush(PushMessage push) {
    if (push.callCid != callCid) {
      return const [];
    }
    switch (push) {
      case RingPush(:final call):
        return _ringIn(call);
      case RingEndedPush(:final reason):
        if (!_ringingIn || (reason == 'accepted' && _acceptedHere)) {
          return const [];
        }
        return _stop(reason == 'accepted' ? 'accepted_elsewhere' : reason);
      case MissedCallPush(:final call):
        return _onMissed([userId], call);
    }
  }

  /// This user accepted the incoming ring here (before joining).
  void accepted() {
    if (_ringingIn) {
      _acceptedHere = true;
    }
  }

  /// This user rejected the ring here, or cancelled their own.
  void rejected() {
    if (_state == RingingState.ringing) {
      _state = RingingState.left;
    }
  }

  /// This user rings others ([callee] events will follow).
  void ringingOut() {
    _direction = RingDirection.outgoing;
    _state = RingingState.ringing;
    _acceptedBy.clear();
  }

  /// This device joined the call's media.
  void joined() {
    _state = RingingState.joined;
    _acceptedHere = false;
  }

  /// This device left the call.
  void left() {
    _state = RingingState.left;
    _acceptedHere = false;
  }

  List<RingEffect> _onRing(OnAirEvent event) {
    final caller = event.string('user_id');
    _ringId = event.string('ring_id') ?? _ringId;
    if (caller == userId) {
      if (_state != RingingState.joined) {
        ringingOut();
      } else {
        _direction = RingDirection.outgoing;
        _acceptedBy.clear();
      }
      return const [];
    }
    final call = IncomingCall.fromRing(event, userId);
    final at = event.createdAt;
    if (call == null || (at != null && _now().difference(at) > maxRingAge)) {
      return const [];
    }
    return _ringIn(call);
  }

  List<RingEffect> _ringIn(IncomingCall call) {
    if (_state == RingingState.joined) {
      return const [];
    }
    if (_ringingIn) {
      // The same ring heard twice (push, then socket): keep what each adds.
      _incoming = IncomingCall(
        callCid: call.callCid,
        callerId: call.callerId,
        callerName: call.callerName ?? _incoming?.callerName,
        video: call.video,
        ringId: call.ringId ?? _incoming?.ringId,
        members: call.members.isEmpty ? _incoming?.members ?? const [] : call.members,
      );
      return const [];
    }
    _state = RingingState.ringing;
    _direction = RingDirection.incoming;
    _incoming = call;
    _acceptedHere = false;
    return [ShowIncomingCall(call)];
  }

  List<RingEffect> _onAccepted(OnAirEvent event) {
    final who = event.string('user_id');
    if (_direction == RingDirection.outgoing && who != null && who != userId) {
      _acceptedBy.add(who);
      return [RingAccepted(callCid, who)];
    }
    if (_ringingIn && event.strings('stop_ringing').contains(userId) && !_acceptedHere) {
      return _stop('accepted_elsewhere');
    }
    return const [];
  }

  List<RingEffect> _onRejected(OnAirEvent event) {
    final reason = event.string('reason') ?? 'rejected';
    if (_ringingIn && event.strings('stop_ringing').contains(userId)) {
      return _stop(reason);
    }
    if (_ringingOut && event['ring_ended'] == true) {
      return _stop(reason == 'cancel' || reason == 'timeout' ? reason : 'rejected');
    }
    return const [];
  }

  List<RingEffect> _onMissed(List<String> members, IncomingCall call) {
    if (!members.contains(userId)) {
      return const [];
    }
    final effects = <RingEffect>[];
    if (_ringingIn) {
      effects.addAll(_stop('missed'));
    }
    effects.add(MissedCall(call));
    return effects;
  }

  IncomingCall _missedCall(OnAirEvent event) => IncomingCall(
        callCid: callCid,
        callerId: event.string('user_id') ?? '',
        video: event['video'] != false,
        ringId: event.string('ring_id'),
      );

  List<RingEffect> _end(String reason) {
    if (_state == RingingState.ringing) {
      return _stop(reason);
    }
    if (_state == RingingState.joined) {
      _state = RingingState.left;
    }
    return const [];
  }

  List<RingEffect> _stop(String reason) {
    _state = RingingState.left;
    _acceptedHere = false;
    return [StopRinging(callCid, reason)];
  }
}
