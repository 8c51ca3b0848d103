//! Pieces of a site's life that more than one command needs: removing a site completely,
//! claiming a standby from the pool, installing apps, the setup wizard, and the template's
//! description.
//! They orchestrate the outside systems like commands do, but print no report; commands
//! import them, they import no command.

pub mod apps;
pub mod claim;
pub mod guard;
pub mod login_link;
pub mod removal;
pub mod setup;
pub mod template;
