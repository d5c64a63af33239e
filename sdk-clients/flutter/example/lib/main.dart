import 'package:flutter/material.dart';
import 'package:onair_flutter/onair_flutter.dart';

import 'call_screen.dart';
import 'callkit_bridge.dart';

const _url = String.fromEnvironment('ONAIR_URL', defaultValue: 'http://10.0.2.2:7880');
const _token = String.fromEnvironment('ONAIR_TOKEN');

void main() => runApp(const ExampleApp());

/// The example app.
class ExampleApp extends StatefulWidget {
  /// The app.
  const ExampleApp({super.key});

  @override
  State<ExampleApp> createState() => _ExampleAppState();
}

class _ExampleAppState extends State<ExampleApp> {
  final _navigator = GlobalKey<NavigatorState>();
  final _callee = TextEditingController(text: 'alice');
  final _show = TextEditingController(text: 'launch');
  late final OnAirClient _client = OnAirClient(baseUrl: _url, token: _token);
  late final CallKitBridge _callKit = CallKitBridge(_client, onAnswered: _open);

  @override
  void initState() {
    super.initState();
    _client.connect().then((_) => _callKit.registerVoipToken());
  }

  @override
  void dispose() {
    _callKit.dispose();
    _client.dispose();
    super.dispose();
  }

  void _open(Call call) => _navigator.currentState?.push(
        MaterialPageRoute<void>(builder: (_) => CallScreen(call: call)),
      );

  Future<void> _ring() async {
    final me = _client.userId ?? 'me';
    final callee = _callee.text.trim();
    final call = _client.call('default', '$me-$callee-${DateTime.now().millisecondsSinceEpoch}');
    await call.getOrCreate(members: [MemberRequest(callee)], ring: true, video: true);
    await call.join(camera: true, microphone: true);
    _open(call);
  }

  void _watch() {
    final call = _client.call('livestream', _show.text.trim());
    _navigator.currentState?.push(MaterialPageRoute<void>(
      builder: (_) => Scaffold(
        appBar: AppBar(title: Text(call.cid)),
        body: LivestreamPlayer(call: call, placeholder: const Center(child: Text('Waiting for the show…'))),
      ),
    ));
  }

  @override
  Widget build(BuildContext context) => MaterialApp(
        navigatorKey: _navigator,
        home: Scaffold(
          appBar: AppBar(title: const Text('OnAir')),
          body: ListView(
            padding: const EdgeInsets.all(16),
            children: [
              TextField(controller: _callee, decoration: const InputDecoration(labelText: 'Call user')),
              FilledButton(onPressed: _ring, child: const Text('Ring')),
              const SizedBox(height: 24),
              TextField(controller: _show, decoration: const InputDecoration(labelText: 'Livestream id')),
              FilledButton(onPressed: _watch, child: const Text('Watch')),
            ],
          ),
        ),
      );
}
