import 'dart:async';

import 'package:http/http.dart' as http;

import '../core/api/devices_api.dart';
import '../core/api/rest_client.dart';
import '../core/auth/token_source.dart';
import '../core/events/event_socket.dart';
import '../core/events/on_air_event.dart';
import '../core/events/socket_channel.dart';
import '../core/ringing/push_payload.dart';
import '../core/ringing/ring_coordinator.dart';
import '../core/ringing/ringing_state.dart';
import 'call.dart';

/// One signed-in user's connection to OnAir: the REST API, the events
/// socket, ringing, and the [Call]s.
///
/// ```dart
/// final client = OnAirClient(
///   baseUrl: 'https://video.example.com',
///   tokenProvider: () => myBackend.onAirToken(),
///   onIncomingCall: (call) => showCallKit(call),
///   onRingStopped: (cid, reason) => dismissCallKit(cid),
/// );
/// await client.connect();
/// final call = client.call('default', 'standup');
/// await call.join(create: true, camera: true, microphone: true);
/// ```
class OnAirClient {
  /// A client of the OnAir server at [baseUrl] for the user of [token]
  /// (the user is the token's `sub`); [tokenProvider] is asked for a new
  /// token when it nears expiry. The ringing handlers are described at
  /// [IncomingCallHandler], [RingStoppedHandler] and [MissedCallHandler].
  OnAirClient({
    required String baseUrl,
    String? token,
    TokenProvider? tokenProvider,
    IncomingCallHandler? onIncomingCall,
    RingStoppedHandler? onRingStopped,
    MissedCallHandler? onMissedCall,
    http.Client? httpClient,
    SocketConnector? socketConnector,
  }) : this._(
          Uri.parse(baseUrl),
          TokenSource(token: token, provider: tokenProvider),
          onIncomingCall,
          onRingStopped,
          onMissedCall,
          httpClient,
          socketConnector,
        );

  OnAirClient._(
    this.baseUrl,
    this.tokens,
    IncomingCallHandler? onIncomingCall,
    RingStoppedHandler? onRingStopped,
    MissedCallHandler? onMissedCall,
    http.Client? httpClient,
    SocketConnector? socketConnector,
  )   : rest = RestClient(baseUrl: baseUrl, tokens: tokens, httpClient: httpClient),
        socket = EventSocket(baseUrl: baseUrl, tokens: tokens, connector: socketConnector) {
    ringing = RingCoordinator(
      userId: () => userId,
      onIncomingCall: onIncomingCall,
      onRingStopped: onRingStopped,
      onMissedCall: onMissedCall,
    );
    devices = DevicesApi(rest);
    _subscriptions
      ..add(socket.events.listen(_onEvent))
      ..add(ringing.effects.listen((effect) => _calls[effect.callCid]?.syncRinging()));
  }

  /// Where OnAir answers.
  final Uri baseUrl;

  /// The user token.
  final TokenSource tokens;

  /// The REST API.
  final RestClient rest;

  /// The events socket.
  final EventSocket socket;

  /// Ringing on this device; its handlers may be set at any time.
  late final RingCoordinator ringing;

  /// This user's phones, for pushes.
  late final DevicesApi devices;

  final Map<String, Call> _calls = {};
  final List<StreamSubscription<Object?>> _subscriptions = [];

  /// The user: the token's `sub`, or what OnAir said on connecting.
  String? get userId => socket.userId ?? tokens.userId;

  /// Every event of the user's calls (and of the calls it watches), in order.
  Stream<OnAirEvent> get events => socket.events;

  /// The events of [type]: exact (`call.ring`) or a prefix ending in `*`
  /// (`call.*`).
  Stream<OnAirEvent> on(String type) => events.where((e) => e.matches(type));

  /// Opens the events socket; it stays open (resuming after the last
  /// event it delivered) until [disconnect].
  Future<void> connect() => socket.connect();

  /// Closes the events socket.
  Future<void> disconnect() => socket.disconnect();

  /// The call [type]:[id] (the same object each time).
  Call call(String type, String id) => _calls.putIfAbsent('$type:$id', () => Call(this, type, id));

  /// Hands a push's payload (the APNs dictionary from PushKit, or FCM's
  /// `RemoteMessage.data`) to ringing: a ring calls `onIncomingCall`, an
  /// ended ring `onRingStopped`, a missed call `onMissedCall`. Returns what
  /// the push said, or `null` when it is not an OnAir push.
  PushMessage? handlePush(Map<String, dynamic> payload) => ringing.handlePush(payload);

  /// Where call [cid]'s ringing is on this device.
  RingingState ringingStateOf(String cid) => ringing.stateOf(cid);

  /// Leaves every call, closes the socket and frees the HTTP client.
  Future<void> dispose() async {
    for (final call in _calls.values) {
      await call.dispose();
    }
    for (final s in _subscriptions) {
      await s.cancel();
    }
    await socket.dispose();
    await ringing.dispose();
    rest.close();
  }

  void _onEvent(OnAirEvent event) {
    ringing.handleEvent(event);
    _calls[event.callCid]?.handleEvent(event);
  }
}
