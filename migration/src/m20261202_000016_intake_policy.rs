//! Intake suspended by itself (PRODUCT.md §8, seed 002 "we will stop
//! sending you referrals … until you report back and pay").
//!
//! - `intake_policy`: one row, the network's limits (`setIntakePolicy`);
//!   a NULL limit is switched off.
//! - `intake_suspension`: a vendor's suspensions, at most one per kind:
//!   MANUAL (ADMIN's) and POLICY (the `enforce-intake-policy` job's), so
//!   neither hides the other. A POLICY row keeps the causes it was last
//!   found with. `organization.intake_suspended` stays as the one flag a
//!   submission reads: whether any row exists.
//! - `intake_warning`: each cause warned about, once (a referral's due time
//!   or an invoice's issue time names the cause: a report back that fell
//!   due again is a new cause).
//! - Partial indexes for the job's two scans: open report backs by due
//!   time, unpaid invoices by issue time.
//!
//! Vendors suspended by hand before this change keep a MANUAL suspension.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum IntakePolicy {
    Table,
    Id,
    MaxOverdueDays,
    MaxUnpaidDays,
    WarnDaysBefore,
    UpdatedAt,
    UpdatedBy,
}

#[derive(DeriveIden)]
enum IntakeSuspension {
    Table,
    VendorOrgId,
    Kind,
    Reason,
    Note,
    Since,
    OverdueCount,
    UnpaidCount,
    Causes,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum IntakeWarning {
    Table,
    Subject,
    SubjectId,
    DueAt,
    VendorOrgId,
    JobRunId,
    WarnedAt,
}

const INDEXES: &[(&str, &str)] = &[
    (
        "ix_referral_open_report_back",
        "CREATE INDEX ix_referral_open_report_back ON referral (report_back_due_at, vendor_org_id, id) \
         WHERE report_back_due_at IS NOT NULL",
    ),
    (
        "ix_invoice_unpaid",
        "CREATE INDEX ix_invoice_unpaid ON invoice (issued_at, vendor_org_id, id) WHERE status IN ('OPEN', 'FAILED')",
    ),
    (
        "ix_invoice_vendor_unpaid",
        "CREATE INDEX ix_invoice_vendor_unpaid ON invoice (vendor_org_id, issued_at) WHERE status IN ('OPEN', 'FAILED')",
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        m.create_table(
            Table::create()
                .table(IntakePolicy::Table)
                .col(integer(IntakePolicy::Id).primary_key())
                .col(integer_null(IntakePolicy::MaxOverdueDays))
                .col(integer_null(IntakePolicy::MaxUnpaidDays))
                .col(integer_null(IntakePolicy::WarnDaysBefore))
                .col(timestamp_with_time_zone_null(IntakePolicy::UpdatedAt))
                .col(big_integer_null(IntakePolicy::UpdatedBy))
                .take(),
        )
        .await?;
        db.execute_unprepared(
            "INSERT INTO intake_policy (id, max_overdue_days, max_unpaid_days, warn_days_before) VALUES (1, 14, 30, 3)",
        )
        .await?;
        m.create_table(
            Table::create()
                .table(IntakeSuspension::Table)
                .col(big_integer(IntakeSuspension::VendorOrgId))
                .col(string_len(IntakeSuspension::Kind, 16))
                .col(string_len(IntakeSuspension::Reason, 40))
                .col(text_null(IntakeSuspension::Note))
                .col(timestamp_with_time_zone(IntakeSuspension::Since))
                .col(big_integer(IntakeSuspension::OverdueCount).default(0))
                .col(big_integer(IntakeSuspension::UnpaidCount).default(0))
                .col(text(IntakeSuspension::Causes).default("[]"))
                .col(timestamp_with_time_zone(IntakeSuspension::UpdatedAt))
                .primary_key(Index::create().col(IntakeSuspension::VendorOrgId).col(IntakeSuspension::Kind))
                .take(),
        )
        .await?;
        db.execute_unprepared(
            "INSERT INTO intake_suspension (vendor_org_id, kind, reason, since, updated_at)
             SELECT id, 'MANUAL', 'MANUAL', created_at, created_at FROM organization WHERE intake_suspended",
        )
        .await?;
        m.create_table(
            Table::create()
                .table(IntakeWarning::Table)
                .col(string_len(IntakeWarning::Subject, 16))
                .col(big_integer(IntakeWarning::SubjectId))
                .col(timestamp_with_time_zone(IntakeWarning::DueAt))
                .col(big_integer(IntakeWarning::VendorOrgId))
                .col(big_integer_null(IntakeWarning::JobRunId))
                .col(timestamp_with_time_zone(IntakeWarning::WarnedAt))
                .primary_key(
                    Index::create().col(IntakeWarning::Subject).col(IntakeWarning::SubjectId).col(IntakeWarning::DueAt),
                )
                .take(),
        )
        .await?;
        db.execute_unprepared("CREATE INDEX ix_intake_warning_run ON intake_warning (job_run_id, vendor_org_id)")
            .await?;
        for (_, create) in INDEXES {
            db.execute_unprepared(create).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        for (name, _) in INDEXES {
            db.execute_unprepared(&format!("DROP INDEX {name}")).await?;
        }
        m.drop_table(Table::drop().table(IntakeWarning::Table).take()).await?;
        m.drop_table(Table::drop().table(IntakeSuspension::Table).take()).await?;
        m.drop_table(Table::drop().table(IntakePolicy::Table).take()).await?;
        Ok(())
    }
}
