//! mailconf: turns a roster of people into ready-to-use mail-client configuration.
//!
//! Data flows one way, and the folders follow it:
//!
//! - [`input`]: roster bytes and provider TOML, validated into [`input::account::Account`]s and a
//!   [`input::provider::Provider`];
//! - [`render`]: one module per file format, each with its template and escaper ([`sign`] signs
//!   Apple profiles);
//! - outputs: [`bundle`] zips a department (through its own [`bundle::zipstream`]), [`serve`]
//!   answers mail clients and people over HTTP, and [`output`] puts files in place atomically;
//! - [`doctor`] checks a live deployment the way each mail client looks its settings up.
//!
//! What a bundle holds is decided once, from `bundle`'s options or the IT-staff page's form
//! ([`bundle::Plan`]); a problem in an input file is a [`diagnostic::Diagnostic`] (file, line,
//! message, whether `--skip-invalid` may skip it), and every message to standard error goes
//! through [`diagnostic`].
//!
//! `main.rs` only parses arguments ([`cli`]) and calls [`run`].

pub mod bundle;
pub mod cli;
pub mod diagnostic;
pub mod doctor;
pub mod input;
pub mod output;
pub mod render;
pub mod serve;
pub mod sign;

mod commands;

pub use commands::{Error, run};
