//! Assigned referrals (PRODUCT.md §7): customers ("tenants") a vendor hands
//! to partners, who must accept within a window or lose them to another.
//!
//! - `referral` gains the tenant's id, source and profile (its name is
//!   `lead_name`, as for every referral).
//! - `referral_contact`: the tenant's contacts.
//! - `referral_assignment`: one row per offer. At most one is live (PENDING
//!   or ACCEPTED) per referral, by a partial unique index. The offer owns
//!   its stage, services sold and estimate (each holder starts empty), and
//!   carries copies of the columns its partner's list shows and sorts by
//!   (tenant, source, reference, vendor, program), so the list reads and
//!   sorts one table. Text sort keys are lower-cased copies compared byte
//!   by byte on both databases (`COLLATE "C"` on PostgreSQL, SQLite's
//!   default BINARY), so one order holds everywhere.
//! - `active_usage`: AU% samples, in tenths of a percent.
//! - `program` gains its value-added services, the active-usage dashboard
//!   link and which stages are closed; `partner` a pause and a capacity;
//!   `note` the offer in force when it was written.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Referral {
    Table,
    TenantId,
    TenantSource,
    TenantCountry,
    TenantCompanySize,
    TenantIndustry,
    TenantNeed,
}

#[derive(DeriveIden)]
enum ReferralContact {
    Table,
    Id,
    ReferralId,
    Name,
    Email,
    Phone,
    JobTitle,
    Position,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ReferralAssignment {
    Table,
    Id,
    ReferralId,
    VendorOrgId,
    ProgramId,
    PartnerId,
    PartnerOrgId,
    State,
    AssignedAt,
    AcceptanceDueAt,
    RespondedAt,
    EndedAt,
    DeclineReason,
    DeclineComment,
    WithdrawReason,
    Stage,
    ServicesSold,
    EstimatedValueMinor,
    PickedByRule,
    PickReason,
    AssignedBy,
    RemindedAt,
    Version,
    UpdatedAt,
    TenantName,
    TenantKey,
    TenantId,
    TenantSource,
    ReferenceId,
    VendorName,
    VendorKey,
    ProgramName,
    ProgramKey,
    StageKey,
}

#[derive(DeriveIden)]
enum ActiveUsage {
    Table,
    Id,
    ReferralId,
    PercentTenths,
    MeasuredAt,
    RecordedAt,
    RecordedBy,
}

#[derive(DeriveIden)]
enum Program {
    Table,
    ValueAddedServices,
    ActiveUsageUrl,
    ClosedStages,
}

#[derive(DeriveIden)]
enum Partner {
    Table,
    AssignmentsPausedUntil,
    MaxOpenAssignments,
}

#[derive(DeriveIden)]
enum Note {
    Table,
    AssignmentId,
}

/// The partner's list sorts by each of these (with the id), newest or
/// oldest first: one index each, led by the partner organization.
const LIST_SORTS: [&str; 8] =
    ["tenant_key", "tenant_source", "reference_id", "state", "assigned_at", "stage_key", "vendor_key", "program_key"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let postgres = m.get_database_backend() == sea_orm::DbBackend::Postgres;
        // SQLite adds one column per ALTER TABLE.
        for col in [
            string_len_null(Referral::TenantId, 200),
            string_len_null(Referral::TenantSource, 24),
            string_len_null(Referral::TenantCountry, 100),
            string_len_null(Referral::TenantCompanySize, 50),
            string_len_null(Referral::TenantIndustry, 100),
            text_null(Referral::TenantNeed),
        ] {
            m.alter_table(Table::alter().table(Referral::Table).add_column(col).take()).await?;
        }
        for col in [
            json(Program::ValueAddedServices).default("[]").take(),
            string_len_null(Program::ActiveUsageUrl, 2000),
            json(Program::ClosedStages).default(r#"["Closed won","Closed lost"]"#).take(),
        ] {
            m.alter_table(Table::alter().table(Program::Table).add_column(col).take()).await?;
        }
        for col in
            [timestamp_with_time_zone_null(Partner::AssignmentsPausedUntil), integer_null(Partner::MaxOpenAssignments)]
        {
            m.alter_table(Table::alter().table(Partner::Table).add_column(col).take()).await?;
        }
        m.alter_table(Table::alter().table(Note::Table).add_column(big_integer_null(Note::AssignmentId)).take())
            .await?;

        m.create_table(
            Table::create()
                .table(ReferralContact::Table)
                .col(big_pk_auto(ReferralContact::Id))
                .col(big_integer(ReferralContact::ReferralId))
                .col(string_len(ReferralContact::Name, 200))
                .col(string_len_null(ReferralContact::Email, 320))
                .col(string_len_null(ReferralContact::Phone, 50))
                .col(string_len_null(ReferralContact::JobTitle, 200))
                .col(integer(ReferralContact::Position))
                .col(timestamp_with_time_zone(ReferralContact::CreatedAt))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ReferralAssignment::Table)
                .col(big_pk_auto(ReferralAssignment::Id))
                .col(big_integer(ReferralAssignment::ReferralId))
                .col(big_integer(ReferralAssignment::VendorOrgId))
                .col(big_integer(ReferralAssignment::ProgramId))
                .col(big_integer(ReferralAssignment::PartnerId))
                .col(big_integer(ReferralAssignment::PartnerOrgId))
                .col(string_len(ReferralAssignment::State, 16))
                .col(timestamp_with_time_zone(ReferralAssignment::AssignedAt))
                .col(timestamp_with_time_zone(ReferralAssignment::AcceptanceDueAt))
                .col(timestamp_with_time_zone_null(ReferralAssignment::RespondedAt))
                .col(timestamp_with_time_zone_null(ReferralAssignment::EndedAt))
                .col(string_len_null(ReferralAssignment::DeclineReason, 32))
                .col(text_null(ReferralAssignment::DeclineComment))
                .col(text_null(ReferralAssignment::WithdrawReason))
                .col(string_len_null(ReferralAssignment::Stage, 100))
                .col(json(ReferralAssignment::ServicesSold))
                .col(big_integer_null(ReferralAssignment::EstimatedValueMinor))
                .col(boolean(ReferralAssignment::PickedByRule))
                .col(json_null(ReferralAssignment::PickReason))
                .col(big_integer_null(ReferralAssignment::AssignedBy))
                .col(timestamp_with_time_zone_null(ReferralAssignment::RemindedAt))
                .col(integer(ReferralAssignment::Version))
                .col(timestamp_with_time_zone(ReferralAssignment::UpdatedAt))
                .col(string_len(ReferralAssignment::TenantName, 200))
                .col(string_len(ReferralAssignment::TenantKey, 200))
                .col(string_len_null(ReferralAssignment::TenantId, 200))
                .col(string_len(ReferralAssignment::TenantSource, 24))
                .col(string_len(ReferralAssignment::ReferenceId, 16))
                .col(string_len(ReferralAssignment::VendorName, 200))
                .col(string_len(ReferralAssignment::VendorKey, 200))
                .col(string_len(ReferralAssignment::ProgramName, 200))
                .col(string_len(ReferralAssignment::ProgramKey, 200))
                .col(string_len(ReferralAssignment::StageKey, 100))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ActiveUsage::Table)
                .col(big_pk_auto(ActiveUsage::Id))
                .col(big_integer(ActiveUsage::ReferralId))
                .col(integer(ActiveUsage::PercentTenths))
                .col(timestamp_with_time_zone(ActiveUsage::MeasuredAt))
                .col(timestamp_with_time_zone(ActiveUsage::RecordedAt))
                .col(big_integer_null(ActiveUsage::RecordedBy))
                .take(),
        )
        .await?;

        let db = m.get_connection();
        if postgres {
            for col in ["tenant_key", "vendor_key", "program_key", "stage_key"] {
                db.execute_unprepared(&format!(
                    "ALTER TABLE referral_assignment ALTER COLUMN {col} TYPE varchar COLLATE \"C\""
                ))
                .await?;
            }
        }
        let mut statements = vec![
            "CREATE INDEX ix_referral_contact ON referral_contact (referral_id, position)".to_owned(),
            "CREATE INDEX ix_active_usage ON active_usage (referral_id, measured_at)".to_owned(),
            "CREATE INDEX ix_referral_tenant_id ON referral (vendor_org_id, tenant_id) WHERE tenant_id IS NOT NULL"
                .to_owned(),
            "CREATE INDEX ix_note_assignment ON note (assignment_id) WHERE assignment_id IS NOT NULL".to_owned(),
            // At most one live offer per referral.
            "CREATE UNIQUE INDEX ux_assignment_live ON referral_assignment (referral_id)
             WHERE state IN ('PENDING', 'ACCEPTED')"
                .to_owned(),
            "CREATE INDEX ix_assignment_referral ON referral_assignment (referral_id, id)".to_owned(),
            // The rule's facts: offers a partnership received lately, and its open ones.
            "CREATE INDEX ix_assignment_partner ON referral_assignment (partner_id, assigned_at)".to_owned(),
            "CREATE INDEX ix_assignment_partner_open ON referral_assignment (partner_id)
             WHERE state IN ('PENDING', 'ACCEPTED')"
                .to_owned(),
            "CREATE INDEX ix_assignment_program ON referral_assignment (program_id, assigned_at)".to_owned(),
            // The sweep and the reminders: pending offers by due time.
            "CREATE INDEX ix_assignment_due ON referral_assignment (acceptance_due_at) WHERE state = 'PENDING'"
                .to_owned(),
        ];
        statements.extend(LIST_SORTS.iter().map(|col| {
            format!("CREATE INDEX ix_assignment_list_{col} ON referral_assignment (partner_org_id, {col}, id)")
        }));
        for sql in statements {
            db.execute_unprepared(&sql).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        for index in ["ix_referral_tenant_id", "ix_note_assignment"] {
            db.execute_unprepared(&format!("DROP INDEX {index}")).await?;
        }
        for table in
            [ActiveUsage::Table.to_string(), ReferralAssignment::Table.to_string(), ReferralContact::Table.to_string()]
        {
            db.execute_unprepared(&format!("DROP TABLE {table}")).await?;
        }
        m.alter_table(Table::alter().table(Note::Table).drop_column(Note::AssignmentId).take()).await?;
        for col in [Partner::AssignmentsPausedUntil, Partner::MaxOpenAssignments] {
            m.alter_table(Table::alter().table(Partner::Table).drop_column(col).take()).await?;
        }
        for col in [Program::ValueAddedServices, Program::ActiveUsageUrl, Program::ClosedStages] {
            m.alter_table(Table::alter().table(Program::Table).drop_column(col).take()).await?;
        }
        for col in [
            Referral::TenantId,
            Referral::TenantSource,
            Referral::TenantCountry,
            Referral::TenantCompanySize,
            Referral::TenantIndustry,
            Referral::TenantNeed,
        ] {
            m.alter_table(Table::alter().table(Referral::Table).drop_column(col).take()).await?;
        }
        Ok(())
    }
}
