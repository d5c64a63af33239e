import 'rest_client.dart';

/// Which push service a device token belongs to.
enum PushProvider {
  /// Apple Push Notification service (`apn`).
  apn('apn'),

  /// Firebase Cloud Messaging (`firebase`).
  firebase('firebase');

  const PushProvider(this.wireName);

  /// The name OnAir knows it by.
  final String wireName;
}

/// The user's phones (`/v1/devices`): where OnAir pushes rings, cancelled
/// rings and missed calls.
class DevicesApi {
  /// The devices API through [rest].
  DevicesApi(this.rest);

  /// Where requests go.
  final RestClient rest;

  /// Registers this device's push token [id] with [provider]. A PushKit
  /// token is a [voip] APNs token: rings then arrive as VoIP pushes, which
  /// iOS hands to CallKit even when the app is not running.
  Future<Json> add({
    required String id,
    required PushProvider provider,
    bool voip = false,
    String? providerName,
  }) =>
      rest.post('/v1/devices', body: {
        'id': id,
        'push_provider': provider.wireName,
        if (voip) 'voip_token': true,
        if (providerName != null) 'push_provider_name': providerName,
      });

  /// The user's registered devices: `{devices: [...]}`.
  Future<Json> list() => rest.get('/v1/devices');

  /// Forgets device [id] (on sign-out).
  Future<Json> remove(String id) => rest.delete('/v1/devices', query: {'id': id});
}
