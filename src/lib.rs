//! mailconf: turns a roster of people into ready-to-use mail-client configuration.
//!
//! Data flows one way: roster bytes and provider TOML are validated into [`account::Account`]s
//! and a [`provider::Provider`]; [`render`] turns them into files; [`bundle`] zips them (through [`zipstream`]), and
//! [`output`] puts files in place atomically. `main.rs` only parses arguments ([`cli`]) and calls
//! [`run`].

pub mod account;
pub mod bundle;
pub mod cli;
pub mod output;
pub mod pattern;
pub mod provider;
pub mod render;
pub mod roster;
pub mod sign;
pub mod skeleton;
pub mod zipstream;

mod commands;

pub use commands::{Error, run};
