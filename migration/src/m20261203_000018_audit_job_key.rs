//! No foreign key from an audit row to its job run
//! (`status_change.job_run_id`) on PostgreSQL, as migration 000008 took
//! them off the other tables bulk writes fill.
//!
//! PostgreSQL queues a check trigger for every inserted row, even one whose
//! `job_run_id` is NULL: 100,000 audit rows of an import spent 45–47 ms of
//! their 560 ms insert in it (EXPLAIN ANALYZE, this project's import bench),
//! and a job's batch of 10,000 looks its run up 10,000 times. What the key
//! guarded, the code guarantees: `job_run_id` is written only by a job,
//! with the id of the run its own transaction recorded, and runs are never
//! deleted.
//!
//! SQLite skips the check of a NULL key, and dropping a constraint there
//! means rebuilding the table, the largest of the schema: it keeps the key.

use sea_orm_migration::prelude::*;

use crate::on_postgres;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        on_postgres(m, "ALTER TABLE status_change DROP CONSTRAINT fk_status_change_job_run").await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        on_postgres(
            m,
            "ALTER TABLE status_change ADD CONSTRAINT fk_status_change_job_run
             FOREIGN KEY (job_run_id) REFERENCES job_run (id)",
        )
        .await
    }
}
