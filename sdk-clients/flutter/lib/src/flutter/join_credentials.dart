import 'package:livekit_client/livekit_client.dart';

import '../core/api/rest_client.dart';

/// How to reach the call's media, from `POST {call}/join`: the SFU's
/// signal URL, a LiveKit join token and the ICE servers.
class JoinCredentials {
  /// Credentials for [url] with [token].
  const JoinCredentials({required this.url, required this.token, this.iceServers = const []});

  /// Reads `credentials` of a join answer (`ice_servers`: `{urls, username?,
  /// password?}` each).
  factory JoinCredentials.fromJoin(Json joined) {
    final credentials = joined['credentials'];
    if (credentials is! Json || credentials['url'] is! String || credentials['token'] is! String) {
      throw const FormatException('the join answer has no credentials');
    }
    final servers = credentials['ice_servers'];
    return JoinCredentials(
      url: credentials['url'] as String,
      token: credentials['token'] as String,
      iceServers: [
        if (servers is List)
          for (final s in servers.whereType<Json>())
            RTCIceServer(
              urls: (s['urls'] is List ? s['urls'] as List : const []).whereType<String>().toList(),
              username: s['username'] as String?,
              credential: s['password'] as String?,
            ),
      ],
    );
  }

  /// The signal URL `Room.connect` takes.
  final String url;

  /// The join token `Room.connect` takes.
  final String token;

  /// STUN/TURN servers for the peer connections.
  final List<RTCIceServer> iceServers;

  /// [options] with these ICE servers (when OnAir gave any).
  ConnectOptions applyTo(ConnectOptions options) => iceServers.isEmpty
      ? options
      : ConnectOptions(
          autoSubscribe: options.autoSubscribe,
          rtcConfiguration: options.rtcConfiguration.copyWith(iceServers: iceServers),
          protocolVersion: options.protocolVersion,
          clientProtocolVersion: options.clientProtocolVersion,
          timeouts: options.timeouts,
        );
}
