//! Free space where jobs write. A job is not started on a nearly full
//! disk, and a running one stops cleanly (its file finished and playable,
//! the job failed with the reason) before the disk fills: a full disk
//! would corrupt every recording on the node at once.

use std::path::Path;

/// Bytes free for an unprivileged writer on the filesystem of `path` (the
/// nearest existing ancestor), if it can be told.
pub fn free_space(path: &Path) -> Option<u64> {
    let existing = path.ancestors().find(|p| p.exists())?;
    let c_path = std::ffi::CString::new(existing.as_os_str().as_encoded_bytes()).ok()?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid NUL-terminated path and a zeroed statvfs to fill.
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) } != 0 {
        return None;
    }
    Some(stat.f_bavail as u64 * stat.f_frsize as u64)
}

/// Why a job may not start, or must stop, at `path`: `None` while it has
/// at least `need` bytes free (or free space cannot be told).
pub fn short_of(path: &Path, need: u64) -> Option<String> {
    let free = free_space(path)?;
    (free < need).then(|| {
        format!(
            "not enough disk space: {} MiB free where {} MiB are needed",
            free >> 20,
            need >> 20
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_space_is_told_and_compared() {
        let dir = tempfile::tempdir().unwrap();
        let free = free_space(&dir.path().join("not/yet/made")).expect("statvfs");
        assert!(free > 0);
        assert_eq!(short_of(dir.path(), 0), None);
        let why = short_of(dir.path(), u64::MAX).unwrap();
        assert!(why.starts_with("not enough disk space"), "{why}");
    }
}
