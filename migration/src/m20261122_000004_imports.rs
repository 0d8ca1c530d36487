//! Bulk updates by CSV: a previewed batch and its validated rows, applied
//! set-based on commit.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ImportBatch {
    Table,
    Id,
    VendorOrgId,
    CreatedBy,
    Status,
    RowCount,
    ValidCount,
    ErrorCount,
    Errors,
    Result,
    CreatedAt,
    CommittedAt,
}

#[derive(DeriveIden)]
enum ImportRow {
    Table,
    Id,
    BatchId,
    RowNumber,
    ReferralId,
    ProgramId,
    ReferralVersion,
    PartnerOrgId,
    StatusFrom,
    StatusTo,
    StageFrom,
    StageTo,
    Note,
    SaleAmountMinor,
    EverQualified,
    Changes,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(ImportBatch::Table)
                .col(big_pk_auto(ImportBatch::Id))
                .col(big_integer(ImportBatch::VendorOrgId))
                .col(big_integer_null(ImportBatch::CreatedBy))
                .col(string_len(ImportBatch::Status, 16))
                .col(integer(ImportBatch::RowCount))
                .col(integer(ImportBatch::ValidCount))
                .col(integer(ImportBatch::ErrorCount))
                .col(json(ImportBatch::Errors))
                .col(json_null(ImportBatch::Result))
                .col(timestamp_with_time_zone(ImportBatch::CreatedAt))
                .col(timestamp_with_time_zone_null(ImportBatch::CommittedAt))
                .take(),
        )
        .await?;
        // Only valid rows are kept: what commit applies.
        m.create_table(
            Table::create()
                .table(ImportRow::Table)
                .col(big_pk_auto(ImportRow::Id))
                .col(big_integer(ImportRow::BatchId))
                .col(integer(ImportRow::RowNumber))
                .col(big_integer(ImportRow::ReferralId))
                .col(big_integer(ImportRow::ProgramId))
                .col(integer(ImportRow::ReferralVersion))
                .col(big_integer_null(ImportRow::PartnerOrgId))
                .col(string_len_null(ImportRow::StatusFrom, 16))
                .col(string_len_null(ImportRow::StatusTo, 16))
                .col(string_len_null(ImportRow::StageFrom, 100))
                .col(string_len_null(ImportRow::StageTo, 100))
                .col(text_null(ImportRow::Note))
                .col(big_integer_null(ImportRow::SaleAmountMinor))
                .col(boolean(ImportRow::EverQualified))
                .col(boolean(ImportRow::Changes))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_import_row_batch")
                        .from(ImportRow::Table, ImportRow::BatchId)
                        .to(ImportBatch::Table, ImportBatch::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_import_row_referral")
                .table(ImportRow::Table)
                .col(ImportRow::BatchId)
                .col(ImportRow::ReferralId)
                .unique()
                .take(),
        )
        .await?;
        Ok(())
    }
}
