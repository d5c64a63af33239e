//! The ids the SFU hands out and passes around, each its own type so that a
//! participant's id is never taken for a track's (or a call's):
//!
//! - [`Pid`]: a participant inside this process; it also names the media
//!   worker that owns the participant's peers.
//! - [`ParticipantSid`] (`PA_…`) and [`TrackSid`] (`TR_…`): the server ids
//!   of the signal protocol. Room ids (`RM_…`) come from [`room_sid`].
//!
//! The protocol messages of `livekit-protocol` carry these as plain strings;
//! the newtypes live in the SFU's own messages and state.

use std::fmt;

use rand::Rng;

/// `len` random letters and digits.
pub fn random(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// A new room id (`RM_…`).
pub fn room_sid() -> String {
    format!("RM_{}", random(12))
}

/// Bits of a [`Pid`] that hold its worker's index.
const WORKER_BITS: u32 = 8;

/// A participant's id inside this process: a serial number, with the index
/// of the media worker that owns its peers in the low bits (so a command
/// finds its worker without a lookup).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pid(u64);

impl Pid {
    /// Participant number `serial`, served by worker `worker` (< 256).
    pub fn new(serial: u64, worker: usize) -> Self {
        debug_assert!(worker < 1 << WORKER_BITS);
        Pid((serial << WORKER_BITS) | (worker as u64 & ((1 << WORKER_BITS) - 1)))
    }

    /// The index of the media worker that owns this participant's peers.
    pub fn worker(self) -> usize {
        (self.0 & ((1 << WORKER_BITS) - 1)) as usize
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Declares a string id newtype with its prefix.
macro_rules! sid {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// A new random id.
            pub fn random() -> Self {
                Self(format!(concat!($prefix, "{}"), random(12)))
            }

            /// The id as the protocol writes it.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id as the protocol's messages carry it.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl From<String> for $name {
            /// An id a client or a protocol message named (it may name nothing).
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl From<&str> for $name {
            /// An id a client or a protocol message named (it may name nothing).
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

sid!(
    /// A participant's server id (`PA_…`), as clients know it.
    ParticipantSid,
    "PA_"
);

sid!(
    /// A track's server id (`TR_…`), as clients know it.
    TrackSid,
    "TR_"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pid_keeps_its_worker() {
        for worker in [0, 1, 7, 255] {
            for serial in [1, 2, u64::MAX >> WORKER_BITS] {
                assert_eq!(Pid::new(serial, worker).worker(), worker);
            }
        }
        assert_ne!(Pid::new(1, 3), Pid::new(2, 3));
    }

    #[test]
    fn sids_carry_their_prefix() {
        assert!(ParticipantSid::random().as_str().starts_with("PA_"));
        assert!(TrackSid::random().as_str().starts_with("TR_"));
        assert_eq!(TrackSid::random().as_str().len(), 15);
    }
}
