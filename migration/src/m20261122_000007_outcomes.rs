//! Report back (PRODUCT.md §5): the vendor's outcome on an inbound
//! referral, the reason an invalid one was invalid, and when a report back
//! is due; and the same columns on previewed import rows.
//!
//! Referrals created before this migration have no `report_back_due_at`:
//! nothing had been deployed yet.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Referral {
    Table,
    Outcome,
    InvalidReason,
    InvalidReasonText,
    ReportBackDueAt,
    ReportBackOverdueAt,
}

#[derive(DeriveIden)]
enum ImportRow {
    Table,
    Outcome,
    InvalidReason,
    InvalidReasonText,
    ReportBack,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for col in [
            string_len_null(Referral::Outcome, 16),
            string_len_null(Referral::InvalidReason, 16),
            string_len_null(Referral::InvalidReasonText, 500),
            timestamp_with_time_zone_null(Referral::ReportBackDueAt),
            timestamp_with_time_zone_null(Referral::ReportBackOverdueAt),
        ] {
            m.alter_table(Table::alter().table(Referral::Table).add_column(col).take()).await?;
        }
        for col in [
            string_len_null(ImportRow::Outcome, 16),
            string_len_null(ImportRow::InvalidReason, 16),
            string_len_null(ImportRow::InvalidReasonText, 500),
            string_len_null(ImportRow::ReportBack, 8),
        ] {
            m.alter_table(Table::alter().table(ImportRow::Table).add_column(col).take()).await?;
        }
        // Overdue report backs of a vendor, oldest first (the follow-up list
        // and the overdue job).
        m.get_connection()
            .execute_unprepared(
                "CREATE INDEX ix_referral_report_back ON referral (vendor_org_id, report_back_due_at)
                 WHERE report_back_due_at IS NOT NULL",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection().execute_unprepared("DROP INDEX ix_referral_report_back").await?;
        for col in [ImportRow::Outcome, ImportRow::InvalidReason, ImportRow::InvalidReasonText, ImportRow::ReportBack] {
            m.alter_table(Table::alter().table(ImportRow::Table).drop_column(col).take()).await?;
        }
        for col in [
            Referral::Outcome,
            Referral::InvalidReason,
            Referral::InvalidReasonText,
            Referral::ReportBackDueAt,
            Referral::ReportBackOverdueAt,
        ] {
            m.alter_table(Table::alter().table(Referral::Table).drop_column(col).take()).await?;
        }
        Ok(())
    }
}
