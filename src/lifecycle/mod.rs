//! Pieces of a site's life that more than one command needs: removing a site completely,
//! claiming a standby from the pool, installing apps, the setup wizard, the template's
//! description, holding a tenant (its lock, row and folder) for a command after sign-up, an API key
//! lent to a site's Administrator for one run,
//! and what tenants use against their plans.
//! They orchestrate the outside systems like commands do, but print no report; commands
//! import them, they import no command.

pub mod apps;
pub mod claim;
pub mod guard;
pub mod held;
pub mod lent_key;
pub mod login_link;
pub mod removal;
pub mod setup;
pub mod template;
pub mod usage;
