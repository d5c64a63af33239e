/// OnAir's Flutter SDK: one [OnAirClient] per signed-in user,
/// `client.call(type, id)` for a [Call], `call.join()` into its LiveKit
/// `Room`, ringing handed to CallKit / ConnectionService, and a
/// [LivestreamPlayer] that plays a livestream over WebRTC or HLS.
library;

export 'onair_core.dart';
export 'src/flutter/call.dart';
export 'src/flutter/client.dart';
export 'src/flutter/hls_view.dart';
export 'src/flutter/join_credentials.dart';
export 'src/flutter/livestream_player.dart';
export 'src/flutter/room_video_view.dart';
