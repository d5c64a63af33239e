import 'package:onair_flutter/onair_core.dart';
import 'package:test/test.dart';

final _now = DateTime.utc(2026, 1, 1, 12);

/// An event of call `default:c1` as OnAir sends it, [age] old.
OnAirEvent event(String type, Map<String, Object?> fields, {Duration age = Duration.zero}) =>
    OnAirEvent.fromJson({
      'id': '1',
      'type': type,
      'created_at': _now.subtract(age).toIso8601String(),
      'call_cid': 'default:c1',
      ...fields,
    })!;

OnAirEvent ring({String caller = 'alice', List<String> ringing = const ['bob'], Duration age = Duration.zero}) =>
    event('call.ring', {
      'ring_id': 'r1',
      'user_id': caller,
      'members': ['bob', 'carol'],
      'ringing': ringing,
      'video': false,
    }, age: age);

RingMachine machine(String me) => RingMachine(callCid: 'default:c1', userId: me, clock: () => _now);

void main() {
  group('a callee', () {
    test('is rung by call.ring, shown once even when a push brings it too', () {
      final bob = machine('bob');
      final shown = bob.onEvent(ring());
      expect(shown.single, isA<ShowIncomingCall>());
      final call = (shown.single as ShowIncomingCall).call;
      expect((call.callerId, call.video, call.ringId, call.callType, call.callId),
          ('alice', false, 'r1', 'default', 'c1'));
      expect(bob.state, RingingState.ringing);
      expect(bob.direction, RingDirection.incoming);
      final push = PushMessage.parse({
        'type': 'call.ring',
        'call_cid': 'default:c1',
        'caller_id': 'alice',
        'caller_name': 'Alice',
        'video': 'false',
      })!;
      expect(bob.onPush(push), isEmpty);
      expect(bob.incoming!.displayName, 'Alice');
      expect(bob.incoming!.ringId, 'r1');
    });

    test('a push first, then the socket: still once', () {
      final bob = machine('bob');
      final push = PushMessage.parse({'type': 'call.ring', 'call_cid': 'default:c1', 'caller_id': 'alice'})!;
      expect(bob.onPush(push).single, isA<ShowIncomingCall>());
      expect(bob.onEvent(ring()), isEmpty);
      expect(bob.incoming!.ringId, 'r1');
    });

    test('a busy member is not rung, nor is a ring heard too late', () {
      expect(machine('carol').onEvent(ring()), isEmpty);
      final late = machine('bob');
      expect(late.onEvent(ring(age: const Duration(minutes: 5))), isEmpty);
      expect(late.state, RingingState.idle);
    });

    test('stops ringing when the caller cancels, with the reason, then hears the missed call', () {
      final bob = machine('bob')..onEvent(ring());
      final stopped = bob.onEvent(event('call.rejected', {
        'user_id': 'alice',
        'reason': 'cancel',
        'ring_ended': true,
        'stop_ringing': ['bob'],
      }));
      expect(stopped.single, isA<StopRinging>().having((s) => s.reason, 'reason', 'cancel'));
      expect(bob.state, RingingState.left);
      final missed = bob.onEvent(event('call.missed', {
        'user_id': 'alice',
        'members': ['bob'],
        'video': false,
      }));
      expect(missed.single, isA<MissedCall>().having((m) => m.call.callerId, 'caller', 'alice'));
    });

    test('accepting here keeps the call; accepted on another device stops this one', () {
      final here = machine('bob')..onEvent(ring());
      here.accepted();
      final accepted = event('call.accepted', {
        'user_id': 'bob',
        'stop_ringing': ['bob'],
      });
      expect(here.onEvent(accepted), isEmpty);
      expect(here.state, RingingState.ringing);
      here.joined();
      expect(here.state, RingingState.joined);

      final elsewhere = machine('bob')..onEvent(ring());
      expect(elsewhere.onEvent(accepted).single,
          isA<StopRinging>().having((s) => s.reason, 'reason', 'accepted_elsewhere'));
      expect(elsewhere.state, RingingState.left);
    });

    test('an ended push stops the ring, unless this device accepted it', () {
      final bob = machine('bob')..onEvent(ring());
      final ended = PushMessage.parse({'type': 'call.ended', 'call_cid': 'default:c1', 'reason': 'timeout'})!;
      expect(bob.onPush(ended).single, isA<StopRinging>().having((s) => s.reason, 'reason', 'timeout'));

      final accepting = machine('bob')..onEvent(ring());
      accepting.accepted();
      final accepted = PushMessage.parse({'type': 'call.ended', 'call_cid': 'default:c1', 'reason': 'accepted'})!;
      expect(accepting.onPush(accepted), isEmpty);
      expect(accepting.state, RingingState.ringing);
    });

    test('rejecting declines; rung again later rings again', () {
      final bob = machine('bob')..onEvent(ring());
      expect(bob.rejectReason, RejectReason.decline);
      bob.rejected();
      expect(bob.state, RingingState.left);
      expect(bob.onEvent(ring()).single, isA<ShowIncomingCall>());
    });

    test('a ring while in the call does not ring; the call ending leaves', () {
      final bob = machine('bob')..joined();
      expect(bob.onEvent(ring()), isEmpty);
      expect(bob.onEvent(event('call.ended', {})), isEmpty);
      expect(bob.state, RingingState.left);
    });
  });

  group('a caller', () {
    test('rings out, hears who accepts, cancels with `cancel`', () {
      final alice = machine('alice')..onEvent(ring());
      expect(alice.state, RingingState.ringing);
      expect(alice.direction, RingDirection.outgoing);
      expect(alice.rejectReason, RejectReason.cancel);
      final accepted = alice.onEvent(event('call.accepted', {
        'user_id': 'bob',
        'stop_ringing': ['bob'],
      }));
      expect(accepted.single, isA<RingAccepted>().having((a) => a.userId, 'user', 'bob'));
      expect(alice.acceptedBy, {'bob'});
    });

    test('stops ringing when every callee rejected', () {
      final alice = machine('alice')..onEvent(ring());
      expect(
          alice.onEvent(event('call.rejected', {
            'user_id': 'bob',
            'reason': 'decline',
            'ring_ended': false,
            'stop_ringing': ['bob'],
          })),
          isEmpty);
      final ended = alice.onEvent(event('call.rejected', {
        'user_id': 'carol',
        'reason': 'busy',
        'ring_ended': true,
        'stop_ringing': ['carol'],
      }));
      expect(ended.single, isA<StopRinging>().having((s) => s.reason, 'reason', 'rejected'));
      expect(alice.state, RingingState.left);
    });
  });

  group('RingCoordinator', () {
    test('hands rings, stops and missed calls to the app, per call', () {
      final incoming = <String>[];
      final stopped = <String>[];
      final missed = <String>[];
      final coordinator = RingCoordinator(
        userId: () => 'bob',
        clock: () => _now,
        onIncomingCall: (call) => incoming.add(call.callCid),
        onRingStopped: (cid, reason) => stopped.add('$cid $reason'),
        onMissedCall: (call) => missed.add(call.callerId),
      );
      coordinator
        ..handleEvent(ring())
        ..handleEvent(event('custom', {'user_id': 'alice'}));
      expect(coordinator.stateOf('default:c1'), RingingState.ringing);
      coordinator.handlePush({'type': 'call.ended', 'call_cid': 'default:c1', 'reason': 'cancel'});
      coordinator.handlePush({
        'aps': <String, Object?>{},
        'type': 'call.missed',
        'call_cid': 'default:c1',
        'caller_id': 'alice',
        'video': true,
      });
      expect(incoming, ['default:c1']);
      expect(stopped, ['default:c1 cancel']);
      expect(missed, ['alice']);
      expect(coordinator.handlePush({'title': 'not ours'}), isNull);
      expect(coordinator.stateOf('default:other'), RingingState.idle);
    });
  });
}
