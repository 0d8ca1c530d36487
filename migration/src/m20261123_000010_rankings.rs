//! Ranking snapshots (PRODUCT.md §8): each run of the `rank` job writes one
//! snapshot per kind, and each row keeps the inputs that put it where it
//! is, so rankings have history and explain themselves.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RankingSnapshot {
    Table,
    Id,
    Kind,
    AsOf,
    WindowDays,
    JobRunId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum RankingRow {
    Table,
    Id,
    SnapshotId,
    ProgramId,
    VendorOrgId,
    SubjectId,
    SubjectName,
    SubjectCreatedAt,
    Position,
    Ranked,
    Referrals,
    ValidReferrals,
    InvalidReferrals,
    Approved,
    RevenueMinor,
    PaidMinor,
    AvgPaidPerValidMinor,
    ReportBackRateBp,
    Overdue,
    ConversionBp,
    InvalidRateBp,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(RankingSnapshot::Table)
                .col(big_pk_auto(RankingSnapshot::Id))
                .col(string_len(RankingSnapshot::Kind, 16))
                .col(timestamp_with_time_zone(RankingSnapshot::AsOf))
                .col(integer(RankingSnapshot::WindowDays))
                .col(big_integer_null(RankingSnapshot::JobRunId))
                .col(timestamp_with_time_zone(RankingSnapshot::CreatedAt))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_ranking_snapshot_kind")
                .table(RankingSnapshot::Table)
                .col(RankingSnapshot::Kind)
                .col(RankingSnapshot::AsOf)
                .col(RankingSnapshot::Id)
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(RankingRow::Table)
                .col(big_pk_auto(RankingRow::Id))
                .col(big_integer(RankingRow::SnapshotId))
                .col(big_integer_null(RankingRow::ProgramId))
                .col(big_integer(RankingRow::VendorOrgId))
                .col(big_integer(RankingRow::SubjectId))
                .col(string_len(RankingRow::SubjectName, 200))
                .col(timestamp_with_time_zone(RankingRow::SubjectCreatedAt))
                .col(integer(RankingRow::Position))
                .col(integer(RankingRow::Ranked))
                .col(big_integer(RankingRow::Referrals))
                .col(big_integer(RankingRow::ValidReferrals))
                .col(big_integer(RankingRow::InvalidReferrals))
                .col(big_integer(RankingRow::Approved))
                .col(big_integer(RankingRow::RevenueMinor))
                .col(big_integer(RankingRow::PaidMinor))
                .col(big_integer_null(RankingRow::AvgPaidPerValidMinor))
                .col(integer_null(RankingRow::ReportBackRateBp))
                .col(big_integer(RankingRow::Overdue))
                .col(integer_null(RankingRow::ConversionBp))
                .col(integer_null(RankingRow::InvalidRateBp))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_ranking_row_snapshot")
                        .from(RankingRow::Table, RankingRow::SnapshotId)
                        .to(RankingSnapshot::Table, RankingSnapshot::Id),
                )
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_ranking_row_position")
                .table(RankingRow::Table)
                .col(RankingRow::SnapshotId)
                .col(RankingRow::ProgramId)
                .col(RankingRow::Position)
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_ranking_row_vendor")
                .table(RankingRow::Table)
                .col(RankingRow::SnapshotId)
                .col(RankingRow::VendorOrgId)
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(RankingRow::Table).take()).await?;
        m.drop_table(Table::drop().table(RankingSnapshot::Table).take()).await
    }
}
