import 'package:flutter/material.dart';
import 'package:livekit_client/livekit_client.dart';
import 'package:onair_flutter/onair_flutter.dart';

/// A joined call: everyone's video in a grid, and a hang-up button.
class CallScreen extends StatelessWidget {
  /// The screen of [call], which is joined.
  const CallScreen({super.key, required this.call});

  /// The call.
  final Call call;

  @override
  Widget build(BuildContext context) {
    final room = call.room;
    return Scaffold(
      appBar: AppBar(title: Text(call.cid)),
      body: room == null
          ? const Center(child: Text('Not connected'))
          : ListenableBuilder(
              listenable: room,
              builder: (context, _) => GridView.count(
                crossAxisCount: 2,
                children: [
                  for (final p in [room.localParticipant, ...room.remoteParticipants.values])
                    if (p != null)
                      for (final t in p.videoTrackPublications)
                        if (t.track is VideoTrack) VideoTrackRenderer(t.track! as VideoTrack),
                ],
              ),
            ),
      floatingActionButton: FloatingActionButton(
        backgroundColor: Colors.red,
        onPressed: () async {
          await call.leave();
          if (context.mounted) {
            Navigator.of(context).pop();
          }
        },
        child: const Icon(Icons.call_end),
      ),
    );
  }
}
