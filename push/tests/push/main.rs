//! Integration tests: the real client against local stand-ins for Apple's
//! and Google's servers that check what those servers check.

mod apns;
mod apns_standin;
mod config;
mod fcm;
mod fcm_standin;
mod keys;
mod server;
