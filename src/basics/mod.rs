//! The small things every layer uses and that use nothing of this crate: secrets that
//! cannot leak through Debug or Display, and references to them (`env:`, `file:`), today's date, the clock of time spent waiting on
//! outside systems, the signals a run stops on, and Fernet (how Frappe encrypts a Password field).

pub mod clock;
pub mod fernet;
pub mod secret;
pub mod secret_ref;
pub mod signals;
pub mod waits;
