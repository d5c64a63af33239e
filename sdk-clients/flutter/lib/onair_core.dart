/// OnAir's client layers that need no Flutter: the REST API, the events
/// socket (resuming by itself), ringing as a state machine, push payloads
/// and the call state. `package:onair_flutter/onair_flutter.dart` builds
/// the Flutter SDK on them; these run (and are tested) on plain Dart.
library;

export 'src/core/api/api_exception.dart';
export 'src/core/api/call_api.dart';
export 'src/core/api/call_data.dart';
export 'src/core/api/devices_api.dart';
export 'src/core/api/rest_client.dart';
export 'src/core/auth/jwt_claims.dart';
export 'src/core/auth/token_source.dart';
export 'src/core/events/backoff.dart';
export 'src/core/events/event_socket.dart';
export 'src/core/events/on_air_event.dart';
export 'src/core/events/socket_channel.dart';
export 'src/core/events/socket_frames.dart';
export 'src/core/events/socket_status.dart';
export 'src/core/ringing/incoming_call.dart';
export 'src/core/ringing/push_payload.dart';
export 'src/core/ringing/ring_coordinator.dart';
export 'src/core/ringing/ring_machine.dart';
export 'src/core/ringing/ringing_state.dart';
export 'src/core/state/call_state.dart';
