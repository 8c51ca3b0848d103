//! The two small things every layer uses and that use nothing of this crate: secrets
//! that cannot leak through Debug or Display, and the clock of time spent waiting on
//! outside systems.

pub mod secret;
pub mod waits;
