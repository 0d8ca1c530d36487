//! An index for every order of every list, so that a page of a vendor with
//! 100,000 referrals is one index range, never a sort of the vendor's rows.
//! Each index is (scope, sort column, id): the list's cursor compares
//! `(column, id)`, and a nullable column's NULLs are read as a second range
//! of the same index (`service::page`).
//!
//! Not indexed, by choice: the referral columns a status change or an
//! outcome rewrites (status, stage, updated_at, payout_view,
//! sale_amount_minor). An index on any of them makes every such update a
//! non-HOT update that touches every index of the table: measured on 1M
//! referrals, a 100,000-row status update of an import took 0.78 s as it
//! is and 5.5–7.6 s with those indexes. Those orders read the vendor's
//! `(vendor_org_id, created_at, id)` range and keep the top of it
//! (README, "Lists at scale").

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (name, table, columns) of each index this migration adds.
const INDEXES: &[(&str, &str, &str)] = &[
    ("ix_referral_vendor_name", "referral", "vendor_org_id, lead_name, id"),
    ("ix_referral_vendor_email", "referral", "vendor_org_id, lead_email, id"),
    ("ix_referral_vendor_reference", "referral", "vendor_org_id, reference_id, id"),
    ("ix_referral_vendor_external", "referral", "vendor_org_id, external_id, id"),
    ("ix_referral_vendor_due", "referral", "vendor_org_id, report_back_due_at, id"),
    ("ix_partner_vendor_name", "partner", "vendor_org_id, name, id"),
    ("ix_partner_vendor_created", "partner", "vendor_org_id, created_at, id"),
    ("ix_partner_vendor_updated", "partner", "vendor_org_id, updated_at, id"),
    ("ix_partner_vendor_last_lead", "partner", "vendor_org_id, last_lead_at, id"),
    ("ix_partner_vendor_lapses", "partner", "vendor_org_id, lapses_at, id"),
    ("ix_partner_vendor_contacted", "partner", "vendor_org_id, last_contacted_at, id"),
    // The lapse job's batches start after the last (due time, id).
    ("ix_partner_lapse_due", "partner", "status, lapses_at, id"),
    ("ix_reward_vendor_id", "reward", "vendor_org_id, id"),
    ("ix_ranking_row_snapshot", "ranking_row", "snapshot_id, position, id"),
    ("ix_ranking_row_vendor_position", "ranking_row", "snapshot_id, vendor_org_id, position, id"),
    ("ix_ranking_row_program_position", "ranking_row", "snapshot_id, program_id, position, id"),
];

/// The report backs not yet marked overdue, by due time, across vendors:
/// the `report-back-overdue` job's batches are ranges of it.
const OVERDUE: &str = "CREATE INDEX ix_referral_overdue_due ON referral (report_back_due_at, id)
     WHERE report_back_due_at IS NOT NULL
       AND (report_back_overdue_at IS NULL OR report_back_overdue_at < report_back_due_at)";

/// Indexes the new ones replace: (name, how to create it again).
const REPLACED: &[(&str, &str)] = &[
    ("ix_partner_lapse", "CREATE INDEX ix_partner_lapse ON partner (status, lapses_at)"),
    (
        "ix_referral_report_back",
        "CREATE INDEX ix_referral_report_back ON referral (vendor_org_id, report_back_due_at) \
         WHERE report_back_due_at IS NOT NULL",
    ),
    (
        "ix_ranking_row_position",
        "CREATE INDEX ix_ranking_row_position ON ranking_row (snapshot_id, program_id, position)",
    ),
    ("ix_ranking_row_vendor", "CREATE INDEX ix_ranking_row_vendor ON ranking_row (snapshot_id, vendor_org_id)"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        for (name, table, columns) in INDEXES {
            db.execute_unprepared(&format!("CREATE INDEX {name} ON {table} ({columns})")).await?;
        }
        db.execute_unprepared(OVERDUE).await?;
        for (name, _) in REPLACED {
            db.execute_unprepared(&format!("DROP INDEX {name}")).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        for (_, create) in REPLACED {
            db.execute_unprepared(create).await?;
        }
        db.execute_unprepared("DROP INDEX ix_referral_overdue_due").await?;
        for (name, _, _) in INDEXES {
            db.execute_unprepared(&format!("DROP INDEX {name}")).await?;
        }
        Ok(())
    }
}
