//! What every command shares and nothing outside-specific: the command line (clap), the
//! connection settings built from it, the sign-up request and its validation (with
//! `password`, Frappe's password verdict: a port of the zxcvbn Frappe runs), and the JSON
//! report types and exit codes common to several commands. Imports `basics` and
//! `outside` (for their types), never a command.

pub mod cli;
pub mod context;
pub mod input;
pub mod report;
