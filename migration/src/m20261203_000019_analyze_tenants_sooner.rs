//! PostgreSQL analyses `referral` and `partner` after a hundredth of their
//! rows changed instead of a tenth (autovacuum's default), so a vendor that
//! brings its referrals or partners to an established database is in the
//! statistics within a minute or so.
//!
//! Until it is, the planner judges the vendor to have about one row, rates
//! every index that starts with the vendor alike, and may pick one that
//! reads the vendor's whole range for a look-up by id or key: with no
//! statistics, `WHERE id = $1 AND vendor_org_id = $2` chose
//! `ix_referral_vendor_due` over the primary key. On a table of 1,000,000
//! referrals the default waits for 100,000 changed rows; this one for
//! 10,000, an ANALYZE of a 30,000-row sample each time. The import's
//! preview does not wait for it (`db::refresh_misjudged_statistics`).
//! SQLite keeps no statistics unless asked: nothing to do there.

use sea_orm_migration::prelude::*;

use crate::on_postgres;

const TABLES: [&str; 2] = ["referral", "partner"];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES {
            on_postgres(m, &format!("ALTER TABLE {table} SET (autovacuum_analyze_scale_factor = 0.01)")).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES {
            on_postgres(m, &format!("ALTER TABLE {table} RESET (autovacuum_analyze_scale_factor)")).await?;
        }
        Ok(())
    }
}
