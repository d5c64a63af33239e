import 'jwt_claims.dart';

/// Asks the app's backend for a fresh user token.
typedef TokenProvider = Future<String> Function();

/// The user token that REST requests and the events socket carry. With a
/// [provider], a token that expires within [refreshBefore] (or that OnAir
/// called `expired`) is replaced by a fresh one before it is used.
class TokenSource {
  /// A source starting from [token], refreshed through [provider]; at
  /// least one of them is needed.
  TokenSource({
    String? token,
    this.provider,
    this.refreshBefore = const Duration(seconds: 60),
    DateTime Function()? clock,
  })  : _token = token,
        _now = clock ?? DateTime.now {
    if (token == null && provider == null) {
      throw ArgumentError('give a token, a tokenProvider, or both');
    }
  }

  /// Where fresh tokens come from, if anywhere.
  final TokenProvider? provider;

  /// How long before its expiry a token is replaced.
  final Duration refreshBefore;

  final DateTime Function() _now;
  String? _token;
  Future<String>? _refreshing;

  /// Whether [refresh] can produce a new token.
  bool get canRefresh => provider != null;

  /// The user the current token acts as, if there is one.
  String? get userId {
    final token = _token;
    return token == null ? null : JwtClaims.parse(token).subject;
  }

  /// A token to use now: the current one, or a fresh one when it is
  /// missing or about to expire (and there is a [provider]).
  Future<String> token() async {
    final current = _token;
    if (current != null && (!canRefresh || !_expiresSoon(current))) {
      return current;
    }
    return refresh();
  }

  /// Gets a new token from [provider]; callers asking at the same time
  /// share one request.
  Future<String> refresh() {
    final provider = this.provider;
    if (provider == null) {
      return Future.error(StateError('no tokenProvider to refresh the token with'));
    }
    return _refreshing ??= provider().then((fresh) {
      _token = fresh;
      return fresh;
    }).whenComplete(() => _refreshing = null);
  }

  bool _expiresSoon(String token) {
    final expiresAt = JwtClaims.parse(token).expiresAt;
    return expiresAt != null && !_now().add(refreshBefore).isBefore(expiresAt);
  }
}
