//! The only code that talks to a system outside the tool, one module each: bench (a child
//! process, through docker compose, kubectl or a local bench directory), a site's Frappe
//! REST API (reqwest), Frappe's Redis cache (a few RESP commands) and MariaDB
//! (mysql_async). Each has its typed error, imports only
//! `basics`, and knows nothing of the others or of any command.

pub mod bench;
pub mod frappe;
pub mod frappe_cache;
pub mod mariadb;
