//! The integration tests, one binary of modules (as ripgrep's and just's are): the project and
//! its test dependencies are linked once, not once per file. `cargo test --test it serve::`
//! runs one module's tests. `tests/memory.rs` stays a binary of its own (it says why).

mod common;

mod admin;
mod admin_streaming;
mod apple;
mod cli;
mod connections;
mod deploy;
mod dist;
mod doctor;
mod faults;
mod guide_paths;
mod guides;
mod hostile;
mod it_staff;
mod layout;
mod outlook;
mod pages;
mod serve;
mod soak;
mod thunderbird;
mod thunderbird_app;
mod zipstream;
