//! No foreign keys on the two tables a bulk import fills row by row:
//! `import_row` (to its batch) and `note` (to its referral).
//!
//! PostgreSQL checks a foreign key with a trigger per inserted row, which
//! also locks the referenced row. Measured on this project's import bench:
//! 10,000 previewed rows took 74 ms to insert with the key and 38 ms
//! without; 100,000 import notes took 530 ms with the key and 213 ms
//! without, and their referrals' UPDATE no longer meets rows locked by the
//! check. Together that was the difference between 37,000 and 50,000 rows/s.
//!
//! What the keys guarded, the code guarantees: a previewed row is written
//! only by the preview, with the id of the batch its own transaction has
//! just created, and batches are never deleted; a note is written only for
//! a referral loaded in the same transaction, and referrals are never
//! deleted (a future erasure must delete its notes itself, as the key's
//! ON DELETE CASCADE used to).
//!
//! SQLite cannot drop a constraint, so there each table is rebuilt as the
//! SQLite manual prescribes: new table, copy, drop, rename, indexes.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
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
    Outcome,
    InvalidReason,
    InvalidReasonText,
    ReportBack,
}

#[derive(DeriveIden, Clone, Copy)]
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
enum ImportBatch {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Referral {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [import_row(), note()] {
            if m.get_database_backend() == DbBackend::Postgres {
                let name = table.foreign_key.get_foreign_key().get_name().unwrap_or_default().to_owned();
                m.drop_foreign_key(ForeignKey::drop().name(name).table(table.name).to_owned()).await?;
            } else {
                table.rebuild(m, false).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [import_row(), note()] {
            if m.get_database_backend() == DbBackend::Postgres {
                m.create_foreign_key(table.foreign_key).await?;
            } else {
                table.rebuild(m, true).await?;
            }
        }
        Ok(())
    }
}

/// A table as its migrations left it, with the foreign key this one drops.
struct Shape {
    name: DynIden,
    columns: Vec<ColumnDef>,
    index: IndexCreateStatement,
    foreign_key: ForeignKeyCreateStatement,
}

/// `import_row` as migrations 000004 and 000007 made it.
fn import_row() -> Shape {
    use ImportRow as R;
    Shape {
        name: R::Table.into_iden(),
        columns: vec![
            big_pk_auto(R::Id),
            big_integer(R::BatchId),
            integer(R::RowNumber),
            big_integer(R::ReferralId),
            big_integer(R::ProgramId),
            integer(R::ReferralVersion),
            big_integer_null(R::PartnerOrgId),
            string_len_null(R::StatusFrom, 16),
            string_len_null(R::StatusTo, 16),
            string_len_null(R::StageFrom, 100),
            string_len_null(R::StageTo, 100),
            text_null(R::Note),
            big_integer_null(R::SaleAmountMinor),
            boolean(R::EverQualified),
            boolean(R::Changes),
            string_len_null(R::Outcome, 16),
            string_len_null(R::InvalidReason, 16),
            string_len_null(R::InvalidReasonText, 500),
            string_len_null(R::ReportBack, 8),
        ],
        index: Index::create()
            .name("ux_import_row_referral")
            .table(R::Table)
            .col(R::BatchId)
            .col(R::ReferralId)
            .unique()
            .take(),
        foreign_key: ForeignKey::create()
            .name("fk_import_row_batch")
            .from(R::Table, R::BatchId)
            .to(ImportBatch::Table, ImportBatch::Id)
            .on_delete(ForeignKeyAction::Cascade)
            .take(),
    }
}

/// `note` as migration 000002 made it.
fn note() -> Shape {
    Shape {
        name: Note::Table.into_iden(),
        columns: vec![
            big_pk_auto(Note::Id),
            big_integer(Note::ReferralId),
            big_integer(Note::VendorOrgId),
            big_integer_null(Note::AuthorUserId),
            big_integer_null(Note::AuthorOrgId),
            string_len_null(Note::AuthorRole, 32),
            string_len(Note::Visibility, 16),
            text(Note::Body),
            timestamp_with_time_zone(Note::CreatedAt),
        ],
        index: Index::create().name("ix_note_referral").table(Note::Table).col(Note::ReferralId).col(Note::Id).take(),
        foreign_key: ForeignKey::create()
            .name("fk_note_referral")
            .from(Note::Table, Note::ReferralId)
            .to(Referral::Table, Referral::Id)
            .on_delete(ForeignKeyAction::Cascade)
            .take(),
    }
}

impl Shape {
    /// SQLite: the table again under its name, with or without the key,
    /// holding the same rows (ids kept).
    async fn rebuild(mut self, m: &SchemaManager<'_>, with_key: bool) -> Result<(), DbErr> {
        let next = Alias::new(format!("{}_next", self.name));
        let names: Vec<Alias> = self.columns.iter().map(|c| Alias::new(c.get_column_name())).collect();
        let mut table = Table::create().table(next.clone()).take();
        for column in &mut self.columns {
            table.col(column);
        }
        if with_key {
            table.foreign_key(&mut self.foreign_key);
        }
        m.create_table(table).await?;
        let copy = Query::insert()
            .into_table(next.clone())
            .columns(names.clone())
            .select_from(Query::select().columns(names).from(self.name.clone()).take())
            .map_err(|e| DbErr::Migration(e.to_string()))?
            .take();
        m.exec_stmt(copy).await?;
        m.drop_table(Table::drop().table(self.name.clone()).take()).await?;
        m.rename_table(Table::rename().table(next, self.name).take()).await?;
        m.create_index(self.index).await
    }
}
