//! Idempotency keys of the referral update integration.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum IdempotencyKey {
    Table,
    Id,
    VendorOrgId,
    Key,
    RequestHash,
    ReferralId,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(IdempotencyKey::Table)
                .col(big_pk_auto(IdempotencyKey::Id))
                .col(big_integer(IdempotencyKey::VendorOrgId))
                .col(string_len(IdempotencyKey::Key, 255))
                .col(string_len(IdempotencyKey::RequestHash, 64))
                .col(big_integer_null(IdempotencyKey::ReferralId))
                .col(timestamp_with_time_zone(IdempotencyKey::CreatedAt))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_idempotency_key")
                .table(IdempotencyKey::Table)
                .col(IdempotencyKey::VendorOrgId)
                .col(IdempotencyKey::Key)
                .unique()
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_idempotency_created")
                .table(IdempotencyKey::Table)
                .col(IdempotencyKey::VendorOrgId)
                .col(IdempotencyKey::CreatedAt)
                .take(),
        )
        .await?;
        Ok(())
    }
}
