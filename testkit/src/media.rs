//! Test media made by ffmpeg: VP8 in IVF, H.264 Annex-B and Opus in Ogg,
//! of any length, size and bitrate, for publishing through `onair-client`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs ffmpeg quietly; panics with its error output if it fails.
pub fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-y", "-loglevel", "error"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("ffmpeg (make test installs it): {e}"));
    assert!(
        out.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `dir/{width}.ivf`: a VP8 test pattern at 30 fps with a keyframe every second.
pub fn vp8_ivf(dir: &Path, width: u32, height: u32, kbps: u32, seconds: u32) -> PathBuf {
    let out = dir.join(format!("{width}.ivf"));
    let source = test_pattern(width, height);
    let (bitrate, length) = (format!("{kbps}k"), seconds.to_string());
    encode_vp8(&source, &length, &bitrate, &out);
    out
}

/// `dir/{width}.h264`: an H.264 test pattern (constrained baseline, no
/// B-frames, as browsers send it) at 30 fps with a keyframe every second.
pub fn h264_annexb(dir: &Path, width: u32, height: u32, kbps: u32, seconds: u32) -> PathBuf {
    let out = dir.join(format!("{width}.h264"));
    let source = test_pattern(width, height);
    let (bitrate, length) = (format!("{kbps}k"), seconds.to_string());
    let mut args = lavfi(&source, &length).to_vec();
    args.extend([
        "-c:v",
        "libx264",
        "-profile:v",
        "baseline",
        "-preset",
        "ultrafast",
        "-tune",
        "zerolatency",
        "-pix_fmt",
        "yuv420p",
        "-b:v",
        &bitrate,
    ]);
    args.extend(KEYFRAME_EVERY_SECOND);
    args.extend(["-f", "h264", path_str(&out)]);
    ffmpeg(&args);
    out
}

/// `dir/tone.ogg`: a 440 Hz tone in Opus, 48 kHz.
pub fn opus_ogg(dir: &Path, seconds: u32) -> PathBuf {
    let out = dir.join("tone.ogg");
    encode_opus(TONE, &seconds.to_string(), "32k", &out);
    out
}

/// `dir/{name}.flv`: `seconds` of test pattern (`width`x`height`, 30 fps)
/// and a 440 Hz tone, encoded with the given ffmpeg `video` and `audio`
/// options (codec, profile, bitrate, GOP…), as an RTMP encoder would send it.
pub fn flv(
    dir: &Path,
    name: &str,
    (width, height): (u32, u32),
    video: &[&str],
    audio: &[&str],
    seconds: u32,
) -> PathBuf {
    let out = dir.join(format!("{name}.flv"));
    let source = test_pattern(width, height);
    let length = seconds.to_string();
    let mut args = vec!["-f", "lavfi", "-i", &source];
    args.extend(lavfi(TONE, &length));
    args.extend(video);
    args.extend(audio);
    args.extend(["-f", "flv", path_str(&out)]);
    ffmpeg(&args);
    out
}

/// `dir/sync.ivf` and `dir/sync.ogg`, `seconds` long: a black 640x360 VP8
/// picture that flashes white, and silence that beeps (1 kHz), for 100 ms
/// at the same moments, every 2 s from 0. Where the flashes and the beeps
/// land in a recording shows how far audio and video drifted apart.
pub fn sync_clip(dir: &Path, seconds: u32) -> (PathBuf, PathBuf) {
    let (video, audio) = (dir.join("sync.ivf"), dir.join("sync.ogg"));
    let length = seconds.to_string();
    let flash = "color=c=black:s=640x360:r=30,\
        drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='lt(mod(t\\,2)\\,0.1)'";
    encode_vp8(flash, &length, "300k", &video);
    let beep = "aevalsrc='if(lt(mod(t\\,2)\\,0.1)\\,0.8*sin(2*PI*1000*t)\\,0)':s=48000";
    encode_opus(beep, &length, "64k", &audio);
    (video, audio)
}

/// The lavfi source of a `width`x`height` test pattern at 30 fps.
fn test_pattern(width: u32, height: u32) -> String {
    format!("testsrc=size={width}x{height}:rate=30")
}

/// The lavfi source of a 440 Hz tone at 48 kHz.
const TONE: &str = "sine=frequency=440:sample_rate=48000";

/// A GOP of 30 frames, exactly: a keyframe every second at 30 fps.
const KEYFRAME_EVERY_SECOND: [&str; 4] = ["-g", "30", "-keyint_min", "30"];

/// ffmpeg's arguments for `length` seconds of lavfi `source`.
fn lavfi<'a>(source: &'a str, length: &'a str) -> [&'a str; 6] {
    ["-f", "lavfi", "-i", source, "-t", length]
}

/// Encodes `length` seconds of lavfi video `source` to real-time VP8 at
/// `bitrate` with a keyframe every second, into `out`.
fn encode_vp8(source: &str, length: &str, bitrate: &str, out: &Path) {
    let mut args = lavfi(source, length).to_vec();
    args.extend([
        "-c:v",
        "libvpx",
        "-deadline",
        "realtime",
        "-cpu-used",
        "8",
        "-b:v",
        bitrate,
    ]);
    args.extend(KEYFRAME_EVERY_SECOND);
    args.push(path_str(out));
    ffmpeg(&args);
}

/// Encodes `length` seconds of lavfi audio `source` to Opus at `bitrate`,
/// into `out`.
fn encode_opus(source: &str, length: &str, bitrate: &str, out: &Path) {
    let mut args = lavfi(source, length).to_vec();
    args.extend(["-c:a", "libopus", "-b:a", bitrate, path_str(out)]);
    ffmpeg(&args);
}

fn path_str(p: &Path) -> &str {
    p.to_str()
        .unwrap_or_else(|| panic!("non-UTF-8 path {}", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn makes_each_kind_of_file() {
        let dir = tempfile::tempdir().unwrap();
        let files = [
            vp8_ivf(dir.path(), 160, 120, 100, 1),
            h264_annexb(dir.path(), 160, 120, 100, 1),
            opus_ogg(dir.path(), 1),
            flv(
                dir.path(),
                "clip",
                (160, 120),
                &["-c:v", "libx264"],
                &["-c:a", "aac"],
                1,
            ),
        ];
        let (video, audio) = sync_clip(dir.path(), 1);
        for file in files.iter().chain([&video, &audio]) {
            let len = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
            assert!(len > 0, "{} is empty", file.display());
        }
    }
}
