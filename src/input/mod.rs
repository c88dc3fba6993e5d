//! What comes in: a department's roster and a provider file, validated at the edge into the
//! types every renderer trusts.

pub mod account;
pub mod provider;
pub mod roster;
