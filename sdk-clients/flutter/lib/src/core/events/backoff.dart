import 'dart:math';

/// How long to wait before each reconnection: exponential from [initial]
/// up to [max], with random jitter so that many apps dropped at once do
/// not come back at once. [reset] after a connection that worked.
class Backoff {
  /// A backoff doubling from [initial] to [max]; [random] (in `[0, 1)`)
  /// picks where in `[delay/2, delay]` each wait falls.
  Backoff({
    this.initial = const Duration(milliseconds: 500),
    this.max = const Duration(seconds: 30),
    double Function()? random,
  }) : _random = random ?? Random().nextDouble;

  /// The first wait.
  final Duration initial;

  /// The longest wait.
  final Duration max;

  final double Function() _random;
  int _attempt = 0;

  /// How many waits were handed out since the last [reset].
  int get attempt => _attempt;

  /// The next wait.
  Duration next() {
    final exponent = _attempt < 30 ? _attempt : 30;
    _attempt++;
    final ceiling = initial.inMicroseconds * pow(2, exponent);
    final capped = ceiling > max.inMicroseconds ? max.inMicroseconds : ceiling.toInt();
    final jittered = capped / 2 + (capped / 2) * _random();
    return Duration(microseconds: jittered.round());
  }

  /// Starts over from [initial].
  void reset() => _attempt = 0;
}
