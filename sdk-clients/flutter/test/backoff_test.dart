import 'package:onair_flutter/onair_core.dart';
import 'package:test/test.dart';

void main() {
  test('waits double up to the cap, jittered within [half, whole]', () {
    final low = Backoff(random: () => 0);
    final high = Backoff(random: () => 1.0);
    final lows = [for (var i = 0; i < 9; i++) low.next().inMilliseconds];
    final highs = [for (var i = 0; i < 9; i++) high.next().inMilliseconds];
    expect(lows, [250, 500, 1000, 2000, 4000, 8000, 15000, 15000, 15000]);
    expect(highs, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });

  test('reset starts over', () {
    final backoff = Backoff(random: () => 0);
    backoff
      ..next()
      ..next()
      ..next();
    expect(backoff.attempt, 3);
    backoff.reset();
    expect(backoff.next(), const Duration(milliseconds: 250));
  });
}
