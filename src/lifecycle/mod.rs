//! Pieces of a site's life that more than one command needs: removing a site completely,
//! claiming a standby from the pool, installing apps, and the template's description.
//! They orchestrate the outside systems like commands do, but print no report; commands
//! import them, they import no command.

pub mod apps;
pub mod claim;
pub mod guard;
pub mod removal;
pub mod template;
