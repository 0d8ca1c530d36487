//! Billing (PRODUCT.md §6): invoices per (vendor, currency) and their lines,
//! one per billed reward, and each vendor's billing threshold.
//!
//! The guarantees are unique keys, not luck: a reward is on at most one live
//! invoice line (a partial unique index: a voided invoice's lines stop being
//! live, so its rewards can be billed again), and there is at most one
//! month-end invoice per (vendor, currency, month) (threshold invoices have
//! no month, and NULLs never collide).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Invoice {
    Table,
    Id,
    VendorOrgId,
    Currency,
    Kind,
    Month,
    Status,
    TotalMinor,
    LineCount,
    IssuedAt,
    PaidAt,
    FailedAt,
    VoidedAt,
    FailureReason,
    PaymentReference,
    Version,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum InvoiceLine {
    Table,
    Id,
    InvoiceId,
    RewardId,
    ReferralId,
    PartnerId,
    AmountMinor,
    Live,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Organization {
    Table,
    BillingThresholdMinor,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Invoice::Table)
                .col(big_pk_auto(Invoice::Id))
                .col(big_integer(Invoice::VendorOrgId))
                .col(string_len(Invoice::Currency, 3))
                .col(string_len(Invoice::Kind, 16))
                .col(string_len_null(Invoice::Month, 7))
                .col(string_len(Invoice::Status, 16))
                .col(big_integer(Invoice::TotalMinor))
                .col(integer(Invoice::LineCount))
                .col(timestamp_with_time_zone(Invoice::IssuedAt))
                .col(timestamp_with_time_zone_null(Invoice::PaidAt))
                .col(timestamp_with_time_zone_null(Invoice::FailedAt))
                .col(timestamp_with_time_zone_null(Invoice::VoidedAt))
                .col(text_null(Invoice::FailureReason))
                .col(string_len_null(Invoice::PaymentReference, 200))
                .col(integer(Invoice::Version))
                .col(timestamp_with_time_zone(Invoice::UpdatedAt))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_invoice_month")
                .table(Invoice::Table)
                .col(Invoice::VendorOrgId)
                .col(Invoice::Currency)
                .col(Invoice::Month)
                .unique()
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_invoice_vendor")
                .table(Invoice::Table)
                .col(Invoice::VendorOrgId)
                .col(Invoice::IssuedAt)
                .col(Invoice::Id)
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(InvoiceLine::Table)
                .col(big_pk_auto(InvoiceLine::Id))
                .col(big_integer(InvoiceLine::InvoiceId))
                .col(big_integer(InvoiceLine::RewardId))
                .col(big_integer(InvoiceLine::ReferralId))
                .col(big_integer_null(InvoiceLine::PartnerId))
                .col(big_integer(InvoiceLine::AmountMinor))
                .col(boolean(InvoiceLine::Live))
                .col(timestamp_with_time_zone(InvoiceLine::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_invoice_line_invoice")
                        .from(InvoiceLine::Table, InvoiceLine::InvoiceId)
                        .to(Invoice::Table, Invoice::Id),
                )
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_invoice_line_invoice")
                .table(InvoiceLine::Table)
                .col(InvoiceLine::InvoiceId)
                .col(InvoiceLine::Id)
                .take(),
        )
        .await?;
        // Partial unique indexes: the same statement on both databases.
        m.get_connection()
            .execute_unprepared("CREATE UNIQUE INDEX ux_invoice_line_reward ON invoice_line (reward_id) WHERE live")
            .await?;
        m.alter_table(
            Table::alter()
                .table(Organization::Table)
                .add_column(big_integer_null(Organization::BillingThresholdMinor))
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter().table(Organization::Table).drop_column(Organization::BillingThresholdMinor).take(),
        )
        .await?;
        m.drop_table(Table::drop().table(InvoiceLine::Table).take()).await?;
        m.drop_table(Table::drop().table(Invoice::Table).take()).await
    }
}
