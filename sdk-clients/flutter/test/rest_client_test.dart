import 'dart:convert';

import 'package:http/http.dart' as http;
import 'package:http/testing.dart';
import 'package:onair_flutter/onair_core.dart';
import 'package:test/test.dart';

/// A token for `bob` expiring at [exp] (seconds since the epoch).
String jwt(int exp, {String sub = 'bob'}) {
  String part(Object json) => base64Url.encode(utf8.encode(jsonEncode(json))).replaceAll('=', '');
  return '${part({'alg': 'HS256'})}.${part({'sub': sub, 'exp': exp})}.sig';
}

void main() {
  group('RestClient', () {
    test('answers are decoded; refusals become OnAirApiException with OnAir\'s code', () async {
      final client = MockClient((request) async => request.url.path.endsWith('/join')
          ? http.Response(
              jsonEncode({'code': 'backstage', 'message': 'wait', 'details': {'join_from': null}}),
              403,
            )
          : http.Response(jsonEncode({'call': {'cid': 'livestream:x'}}), 200));
      final rest = RestClient(
        baseUrl: Uri.parse('https://onair.test'),
        tokens: TokenSource(token: 't'),
        httpClient: client,
      );
      final api = CallApi(rest, 'livestream', 'x');
      expect((await api.get())['call'], {'cid': 'livestream:x'});
      await expectLater(
        api.join(),
        throwsA(isA<OnAirApiException>()
            .having((e) => e.status, 'status', 403)
            .having((e) => e.code, 'code', 'backstage')
            .having((e) => e.message, 'message', 'wait')),
      );
    });

    test('a body that is not OnAir\'s error still makes an exception', () async {
      final rest = RestClient(
        baseUrl: Uri.parse('https://onair.test'),
        tokens: TokenSource(token: 't'),
        httpClient: MockClient((_) async => http.Response('<html>bad gateway</html>', 502)),
      );
      await expectLater(
        CallApi(rest, 'default', 'x').end(),
        throwsA(isA<OnAirApiException>().having((e) => e.code, 'code', 'http_502')),
      );
    });

    test('a path prefix of the base URL is kept', () {
      final rest = RestClient(baseUrl: Uri.parse('https://example.test/onair/'), tokens: TokenSource(token: 't'));
      expect(rest.url('/v1/devices', {'id': 'a b'}).toString(), 'https://example.test/onair/v1/devices?id=a+b');
    });

    test('401 expired is retried once with a fresh token from the provider', () async {
      final tokens = <String>[];
      var issued = 0;
      final client = MockClient((request) async {
        final token = request.headers['authorization']!;
        tokens.add(token);
        return token == 'Bearer fresh-1'
            ? http.Response('{"ok": true}', 200)
            : http.Response('{"code": "expired", "message": "token expired"}', 401);
      });
      final rest = RestClient(
        baseUrl: Uri.parse('https://onair.test'),
        tokens: TokenSource(token: 'old', provider: () async => 'fresh-${++issued}'),
        httpClient: client,
      );
      expect(await CallApi(rest, 'default', 'x').accept(), {'ok': true});
      expect(tokens, ['Bearer old', 'Bearer fresh-1']);
    });

    test('other 401s are not retried', () async {
      var calls = 0;
      final rest = RestClient(
        baseUrl: Uri.parse('https://onair.test'),
        tokens: TokenSource(token: 'old', provider: () async => 'fresh'),
        httpClient: MockClient((_) async {
          calls++;
          return http.Response('{"code": "bad_signature", "message": "no"}', 401);
        }),
      );
      await expectLater(CallApi(rest, 'default', 'x').accept(), throwsA(isA<OnAirApiException>()));
      expect(calls, 1);
    });
  });

  group('TokenSource', () {
    final now = DateTime.utc(2026, 1, 1, 12);
    int secs(DateTime t) => t.millisecondsSinceEpoch ~/ 1000;

    test('keeps a token far from expiry, replaces one about to expire', () async {
      var asked = 0;
      final far = jwt(secs(now.add(const Duration(hours: 1))));
      final source = TokenSource(
        token: far,
        provider: () async => jwt(secs(now.add(const Duration(hours: 2))), sub: 'fresh${++asked}'),
        clock: () => now,
      );
      expect(await source.token(), far);
      expect(asked, 0);
      expect(source.userId, 'bob');

      final soon = TokenSource(
        token: jwt(secs(now.add(const Duration(seconds: 30)))),
        provider: () async => 'fresh',
        clock: () => now,
      );
      expect(await soon.token(), 'fresh');
    });

    test('callers at the same time share one refresh', () async {
      var asked = 0;
      final source = TokenSource(provider: () async => 'fresh${++asked}');
      final tokens = await Future.wait([source.token(), source.token(), source.refresh()]);
      expect(tokens, ['fresh1', 'fresh1', 'fresh1']);
      expect(asked, 1);
    });

    test('needs a token or a provider', () {
      expect(() => TokenSource(), throwsArgumentError);
    });

    test('without a provider the given token is used as it is', () async {
      final source = TokenSource(token: jwt(0), clock: () => now);
      expect(await source.token(), jwt(0));
    });
  });
}
