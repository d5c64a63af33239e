//! Looking into media files the way a user's player would: ffprobe for
//! streams and durations, ffmpeg for what the picture shows.

use std::process::Command;

use serde_json::Value;

/// ffprobe's JSON about `path`.
pub fn probe(path: &std::path::Path) -> Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
        ])
        .arg(path)
        .output()
        .expect("ffprobe (make test installs ffmpeg)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

pub fn number(v: &Value) -> f64 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| v.as_f64())
        .unwrap_or(f64::NAN)
}

/// Average luma (16 is black) of the frame at `second`, or of the
/// `(width, height, x, y)` part of it.
pub fn luma(path: &std::path::Path, second: f64, crop: Option<(u32, u32, u32, u32)>) -> f64 {
    let crop = crop.map_or(String::new(), |(w, h, x, y)| {
        format!("crop={w}:{h}:{x}:{y},")
    });
    let filter = format!("{crop}signalstats,metadata=print:key=lavfi.signalstats.YAVG:file=-");
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-ss", &second.to_string(), "-i"])
        .arg(path)
        .args(["-frames:v", "1", "-vf", &filter, "-f", "null", "-"])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.split("lavfi.signalstats.YAVG=").nth(1))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no luma in: {text}"))
}

/// The codec names of `info`'s streams, sorted (`["aac", "h264"]`).
pub fn codecs(info: &Value) -> Vec<String> {
    let mut names: Vec<String> = info["streams"]
        .as_array()
        .map(|streams| {
            streams
                .iter()
                .filter_map(|s| s["codec_name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The first `kind` (`video`, `audio`) stream of `info`.
pub fn stream(info: &Value, kind: &str) -> Value {
    info["streams"]
        .as_array()
        .and_then(|streams| streams.iter().find(|s| s["codec_type"] == kind))
        .cloned()
        .unwrap_or_else(|| panic!("no {kind} stream: {info}"))
}
