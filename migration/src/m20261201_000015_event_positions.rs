//! Events in visibility order, and the inbox's read state (PRODUCT.md §9).
//!
//! - `notification.position`: the event's place in one sequence shared by
//!   every stream, in the order events became visible. Writers leave it
//!   NULL; the sequencer (`events::sequence`) stamps committed rows after
//!   the fact, so an id allocated early by a transaction that commits late
//!   still gets a later position than everything visible before it.
//! - `event_sequence`: one row, the last position given and the replay
//!   horizon (`replay_after`: positions up to it were pruned from replay).
//! - `notification_read_mark` (per user: everything addressed to them up to
//!   a position is read) and `notification_read` (items read above it).
//! - `notification.read_at` goes: one time per row cannot serve several
//!   users of one organization, and nothing wrote it.
//!
//! On SQLite one transaction writes at a time, so ids — and a position
//! taken at insert time — already follow commit order: a trigger stamps
//! each row as it is inserted, from the same counter, and no separate
//! stamping writer competes with the application's (a second process on
//! the same file would turn its deferred transactions into SQLITE_BUSY).
//!
//! Existing events are stamped in id order.

use sea_orm_migration::sea_orm::DbBackend;

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Notification {
    Table,
    Position,
}

#[derive(DeriveIden)]
enum EventSequence {
    Table,
    Id,
    LastPosition,
    ReplayAfter,
}

#[derive(DeriveIden)]
enum NotificationReadMark {
    Table,
    UserId,
    Position,
    MarkedAt,
}

#[derive(DeriveIden)]
enum NotificationRead {
    Table,
    UserId,
    NotificationId,
    Position,
    ReadAt,
}

/// (name, how to create it) of each index this migration adds.
const INDEXES: &[(&str, &str)] = &[
    ("ux_notification_position", "CREATE UNIQUE INDEX ux_notification_position ON notification (position)"),
    // The sequencer's work: committed rows not yet stamped, by id.
    ("ix_notification_unstamped", "CREATE INDEX ix_notification_unstamped ON notification (id) WHERE position IS NULL"),
    // Replay of a vendor's and of a partner organization's events.
    (
        "ix_notification_vendor_position",
        "CREATE INDEX ix_notification_vendor_position ON notification (vendor_org_id, position)",
    ),
    (
        "ix_notification_partner_position",
        "CREATE INDEX ix_notification_partner_position ON notification (partner_org_id, position)",
    ),
    // The inbox: an organization's and a user's items, by position.
    (
        "ix_notification_org_position",
        "CREATE INDEX ix_notification_org_position ON notification (recipient_org_id, position)",
    ),
    (
        "ix_notification_user_position",
        "CREATE INDEX ix_notification_user_position ON notification (recipient_user_id, position)",
    ),
];

/// SQLite: each row takes the next position as it is inserted.
const SQLITE_STAMP: &str = "CREATE TRIGGER notification_position AFTER INSERT ON notification
    FOR EACH ROW WHEN NEW.position IS NULL
    BEGIN
        UPDATE event_sequence SET last_position = last_position + 1 WHERE id = 1;
        UPDATE notification SET position = (SELECT last_position FROM event_sequence WHERE id = 1)
        WHERE id = NEW.id;
    END";

/// Indexes the new ones replace: (name, how to create it again).
const REPLACED: &[(&str, &str)] = &[
    ("ix_notification_org", "CREATE INDEX ix_notification_org ON notification (recipient_org_id, id)"),
    ("ix_notification_user", "CREATE INDEX ix_notification_user ON notification (recipient_user_id, id)"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        m.alter_table(
            Table::alter().table(Notification::Table).add_column(big_integer_null(Notification::Position)).take(),
        )
        .await?;
        db.execute_unprepared("UPDATE notification SET position = id").await?;
        db.execute_unprepared("ALTER TABLE notification DROP COLUMN read_at").await?;
        m.create_table(
            Table::create()
                .table(EventSequence::Table)
                .col(integer(EventSequence::Id).primary_key())
                .col(big_integer(EventSequence::LastPosition))
                .col(big_integer(EventSequence::ReplayAfter).default(0))
                .take(),
        )
        .await?;
        db.execute_unprepared(
            "INSERT INTO event_sequence (id, last_position, replay_after) \
             SELECT 1, COALESCE(MAX(position), 0), 0 FROM notification",
        )
        .await?;
        for (_, create) in INDEXES {
            db.execute_unprepared(create).await?;
        }
        for (name, _) in REPLACED {
            db.execute_unprepared(&format!("DROP INDEX {name}")).await?;
        }
        if db.get_database_backend() == DbBackend::Sqlite {
            db.execute_unprepared(SQLITE_STAMP).await?;
        }
        m.create_table(
            Table::create()
                .table(NotificationReadMark::Table)
                .col(big_integer(NotificationReadMark::UserId).primary_key())
                .col(big_integer(NotificationReadMark::Position))
                .col(timestamp_with_time_zone(NotificationReadMark::MarkedAt))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(NotificationRead::Table)
                .col(big_integer(NotificationRead::UserId))
                .col(big_integer(NotificationRead::NotificationId))
                .col(big_integer(NotificationRead::Position))
                .col(timestamp_with_time_zone(NotificationRead::ReadAt))
                .primary_key(Index::create().col(NotificationRead::UserId).col(NotificationRead::NotificationId))
                .take(),
        )
        .await?;
        db.execute_unprepared("CREATE INDEX ix_notification_read_position ON notification_read (user_id, position)")
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        m.drop_table(Table::drop().table(NotificationRead::Table).take()).await?;
        m.drop_table(Table::drop().table(NotificationReadMark::Table).take()).await?;
        if db.get_database_backend() == DbBackend::Sqlite {
            db.execute_unprepared("DROP TRIGGER notification_position").await?;
        }
        for (_, create) in REPLACED {
            db.execute_unprepared(create).await?;
        }
        for (name, _) in INDEXES {
            db.execute_unprepared(&format!("DROP INDEX {name}")).await?;
        }
        m.drop_table(Table::drop().table(EventSequence::Table).take()).await?;
        m.alter_table(
            Table::alter()
                .table(Alias::new("notification"))
                .add_column(timestamp_with_time_zone_null(Alias::new("read_at")))
                .take(),
        )
        .await?;
        db.execute_unprepared("ALTER TABLE notification DROP COLUMN position").await?;
        Ok(())
    }
}
