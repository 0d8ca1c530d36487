//! PostgreSQL keeps previewed import rows (`import_row`) in an unlogged
//! table: they are staging, read once by the batch's commit within the
//! hour a preview lives, so they need not pass through the write-ahead
//! log. Measured: 100,000 rows inserted in 156–176 ms unlogged against
//! 262–370 ms logged (three of each, `INSERT … SELECT` on this project's
//! bench database).
//!
//! What it costs: a crash (not a clean restart) empties the table, and a
//! standby has none of its rows. A batch whose rows are gone is refused at
//! commit with "preview the file again" (`imports::apply`), never applied
//! as empty; its preview, errors and counts stay readable, as they live in
//! `import_batch`, which is logged. Previews are not read from standbys.
//!
//! SQLite has no such table: there this migration does nothing.

use sea_orm_migration::prelude::*;

use crate::on_postgres;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        on_postgres(m, "ALTER TABLE import_row SET UNLOGGED").await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        on_postgres(m, "ALTER TABLE import_row SET LOGGED").await
    }
}
