//! Random ids for rooms (`RM_`), participants (`PA_`) and tracks (`TR_`).

use rand::Rng;

/// `len` random letters and digits.
pub fn random(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}
