//! Every event names a record a client can open with `node(id:)`. The
//! overdue report-back notice named its job run, which vendors cannot open;
//! it now names the vendor organization (its follow-up list). Earlier
//! notices are moved the same way. Irreversible by nature: `down` leaves
//! them as they are.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE notification SET subject = 'ORGANIZATION', subject_id = recipient_org_id
                 WHERE subject = 'JOB_RUN'",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}
