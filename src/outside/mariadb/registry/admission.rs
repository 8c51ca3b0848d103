//! Admission: sign-ups of one bench served over REST at most `web_workers` at once, in
//! the order they arrived. Each sign-up takes a ticket (an auto-increment id, so arrival
//! order), naming its run's MariaDB connection; it is admitted while fewer than
//! `web_workers` tickets of its bench are older than its own, and leaves by deleting its
//! ticket. A run killed meanwhile leaves its ticket behind with a connection that is gone:
//! every waiter sweeps those first, so the queue never waits on the dead.

use super::Registry;
use crate::outside::mariadb::{quote_ident, Db, DbError};

impl Registry {
    fn admissions(&self) -> String {
        format!("{}.admissions", quote_ident(self.name()))
    }

    /// A ticket for `bench_id`, held by this connection: its id.
    pub async fn take_ticket(&self, db: &mut Db, bench_id: &str) -> Result<u64, DbError> {
        let sql = format!(
            "INSERT INTO {} (bench_id, conn_id, created_at) \
             VALUES (?, CONNECTION_ID(), UTC_TIMESTAMP(6))",
            self.admissions()
        );
        db.run("taking an admission ticket", &sql, (bench_id,))
            .await?;
        Ok(db.conn.last_insert_id().unwrap_or_default())
    }

    /// How many tickets of `bench_id` are older than `ticket`.
    pub async fn tickets_ahead(
        &self,
        db: &mut Db,
        bench_id: &str,
        ticket: u64,
    ) -> Result<u64, DbError> {
        let count = format!(
            "SELECT COUNT(*) FROM {} WHERE bench_id = ? AND id < ?",
            self.admissions()
        );
        let n: Option<u64> = db
            .first("counting the sign-ups ahead", &count, (bench_id, ticket))
            .await?;
        Ok(n.unwrap_or_default())
    }

    /// Removes the tickets of `bench_id` older than `ticket` whose run's connection is gone.
    pub async fn sweep_tickets(
        &self,
        db: &mut Db,
        bench_id: &str,
        ticket: u64,
    ) -> Result<(), DbError> {
        let sweep = format!(
            "DELETE FROM {} WHERE bench_id = ? AND id < ? \
             AND conn_id NOT IN (SELECT ID FROM information_schema.PROCESSLIST)",
            self.admissions()
        );
        db.run(
            "sweeping the tickets of killed runs",
            &sweep,
            (bench_id, ticket),
        )
        .await
    }

    /// Gives the ticket back (admitted and done, or given up).
    pub async fn return_ticket(&self, db: &mut Db, ticket: u64) -> Result<(), DbError> {
        let sql = format!("DELETE FROM {} WHERE id = ?", self.admissions());
        db.run("returning an admission ticket", &sql, (ticket,))
            .await
    }
}
