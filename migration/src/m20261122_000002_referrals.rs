//! Inbound referrals, their timeline notes and rewards.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Referral {
    Table,
    Id,
    VendorOrgId,
    ProgramId,
    PartnerId,
    ReferenceId,
    ExternalId,
    Direction,
    Source,
    Status,
    EverQualified,
    Stage,
    LeadName,
    LeadEmail,
    LeadPhone,
    LeadCompany,
    Details,
    SaleAmountMinor,
    Currency,
    Recurring,
    PayoutView,
    SubmittedBy,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Note {
    Table,
    Id,
    ReferralId,
    VendorOrgId,
    AuthorUserId,
    AuthorOrgId,
    AuthorRole,
    Visibility,
    Body,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Reward {
    Table,
    Id,
    ReferralId,
    VendorOrgId,
    ProgramId,
    PartnerId,
    Kind,
    Reference,
    AmountMinor,
    Currency,
    Status,
    EarnedAt,
    BillableAt,
    VoidedAt,
    PaidOutAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Organization {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Program {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Partner {
    Table,
    Id,
}

fn index(name: &str, table: impl IntoIden, cols: &[&'static str]) -> IndexCreateStatement {
    let mut stmt = Index::create().name(name).table(table).take();
    for col in cols {
        stmt.col(Alias::new(*col));
    }
    stmt
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Referral::Table)
                .col(big_pk_auto(Referral::Id))
                .col(big_integer(Referral::VendorOrgId))
                .col(big_integer(Referral::ProgramId))
                .col(big_integer_null(Referral::PartnerId))
                .col(string_len(Referral::ReferenceId, 16))
                .col(string_len_null(Referral::ExternalId, 200))
                .col(string_len(Referral::Direction, 16))
                .col(string_len(Referral::Source, 16))
                .col(string_len_null(Referral::Status, 16))
                .col(boolean(Referral::EverQualified).default(false))
                .col(string_len_null(Referral::Stage, 100))
                .col(string_len(Referral::LeadName, 200))
                .col(string_len_null(Referral::LeadEmail, 320))
                .col(string_len_null(Referral::LeadPhone, 50))
                .col(string_len_null(Referral::LeadCompany, 200))
                .col(text_null(Referral::Details))
                .col(big_integer_null(Referral::SaleAmountMinor))
                .col(string_len(Referral::Currency, 3))
                .col(boolean(Referral::Recurring).default(false))
                .col(string_len(Referral::PayoutView, 24))
                .col(big_integer_null(Referral::SubmittedBy))
                .col(integer(Referral::Version))
                .col(timestamp_with_time_zone(Referral::CreatedAt))
                .col(timestamp_with_time_zone(Referral::UpdatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_referral_vendor")
                        .from(Referral::Table, Referral::VendorOrgId)
                        .to(Organization::Table, Organization::Id),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_referral_program")
                        .from(Referral::Table, Referral::ProgramId)
                        .to(Program::Table, Program::Id),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_referral_partner")
                        .from(Referral::Table, Referral::PartnerId)
                        .to(Partner::Table, Partner::Id),
                )
                .take(),
        )
        .await?;
        // The short reference and the external id identify a referral within a vendor.
        m.create_index(
            index("ux_referral_reference", Referral::Table, &["vendor_org_id", "reference_id"]).unique().take(),
        )
        .await?;
        m.create_index(
            index("ux_referral_external", Referral::Table, &["vendor_org_id", "external_id"]).unique().take(),
        )
        .await?;
        m.create_index(index("ix_referral_vendor_created", Referral::Table, &["vendor_org_id", "created_at", "id"]))
            .await?;
        m.create_index(index("ix_referral_vendor_status", Referral::Table, &["vendor_org_id", "status", "id"])).await?;
        m.create_index(index("ix_referral_partner", Referral::Table, &["partner_id", "created_at", "id"])).await?;
        m.create_index(index("ix_referral_lead_email", Referral::Table, &["vendor_org_id", "lead_email"])).await?;

        m.create_table(
            Table::create()
                .table(Note::Table)
                .col(big_pk_auto(Note::Id))
                .col(big_integer(Note::ReferralId))
                .col(big_integer(Note::VendorOrgId))
                .col(big_integer_null(Note::AuthorUserId))
                .col(big_integer_null(Note::AuthorOrgId))
                .col(string_len_null(Note::AuthorRole, 32))
                .col(string_len(Note::Visibility, 16))
                .col(text(Note::Body))
                .col(timestamp_with_time_zone(Note::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_note_referral")
                        .from(Note::Table, Note::ReferralId)
                        .to(Referral::Table, Referral::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .take(),
        )
        .await?;
        m.create_index(index("ix_note_referral", Note::Table, &["referral_id", "id"])).await?;

        m.create_table(
            Table::create()
                .table(Reward::Table)
                .col(big_pk_auto(Reward::Id))
                .col(big_integer(Reward::ReferralId))
                .col(big_integer(Reward::VendorOrgId))
                .col(big_integer(Reward::ProgramId))
                .col(big_integer(Reward::PartnerId))
                .col(string_len(Reward::Kind, 16))
                .col(string_len(Reward::Reference, 200))
                .col(big_integer(Reward::AmountMinor))
                .col(string_len(Reward::Currency, 3))
                .col(string_len(Reward::Status, 16))
                .col(timestamp_with_time_zone(Reward::EarnedAt))
                .col(timestamp_with_time_zone(Reward::BillableAt))
                .col(timestamp_with_time_zone_null(Reward::VoidedAt))
                .col(timestamp_with_time_zone_null(Reward::PaidOutAt))
                .col(timestamp_with_time_zone(Reward::CreatedAt))
                .col(timestamp_with_time_zone(Reward::UpdatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_reward_referral")
                        .from(Reward::Table, Reward::ReferralId)
                        .to(Referral::Table, Referral::Id),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_reward_partner")
                        .from(Reward::Table, Reward::PartnerId)
                        .to(Partner::Table, Partner::Id),
                )
                .take(),
        )
        .await?;
        // At most one reward per (referral, kind, reference): one TRIGGER reward
        // per referral even under concurrent requests, one RECURRING per invoice.
        m.create_index(index("ux_reward_key", Reward::Table, &["referral_id", "kind", "reference"]).unique().take())
            .await?;
        m.create_index(index("ix_reward_partner", Reward::Table, &["partner_id", "status", "id"])).await?;
        m.create_index(index("ix_reward_vendor", Reward::Table, &["vendor_org_id", "status", "billable_at"])).await?;
        Ok(())
    }
}
