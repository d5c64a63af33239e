import 'dart:async';

import 'package:flutter/widgets.dart';
import 'package:video_player/video_player.dart';

/// Plays an HLS playlist (the call's `egress.hls.playlist_url`, a signed
/// link that needs no token) with `video_player`.
class HlsView extends StatefulWidget {
  /// Plays [playlistUrl]; [onError] hears why it cannot.
  const HlsView({super.key, required this.playlistUrl, this.onError});

  /// The live playlist.
  final String playlistUrl;

  /// Called when the player fails.
  final void Function(Object error)? onError;

  @override
  State<HlsView> createState() => _HlsViewState();
}

class _HlsViewState extends State<HlsView> {
  VideoPlayerController? _controller;

  @override
  void initState() {
    super.initState();
    unawaited(_open());
  }

  @override
  void didUpdateWidget(HlsView old) {
    super.didUpdateWidget(old);
    if (old.playlistUrl != widget.playlistUrl) {
      unawaited(_controller?.dispose());
      unawaited(_open());
    }
  }

  Future<void> _open() async {
    final controller = VideoPlayerController.networkUrl(
      Uri.parse(widget.playlistUrl),
      formatHint: VideoFormat.hls,
    );
    _controller = controller;
    try {
      await controller.initialize();
      await controller.play();
    } on Object catch (e) {
      widget.onError?.call(e);
    }
    if (mounted) {
      setState(() {});
    }
  }

  @override
  void dispose() {
    unawaited(_controller?.dispose());
    super.dispose();
  }

  @override
  Widget build(BuildContext context) {
    final controller = _controller;
    if (controller == null || !controller.value.isInitialized) {
      return const SizedBox.expand();
    }
    return Center(
      child: AspectRatio(
        aspectRatio: controller.value.aspectRatio,
        child: VideoPlayer(controller),
      ),
    );
  }
}
