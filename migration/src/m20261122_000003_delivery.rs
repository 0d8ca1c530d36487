//! Change alerts: the outbox gains what subscriptions need to decide who may
//! see an event, and the delivery channels (e-mail, signed webhooks) get
//! their endpoints, deliveries and a record of every attempt.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Notification {
    Table,
    VendorOrgId,
    PartnerId,
    PartnerOrgId,
    PartnerVisible,
    FannedOutAt,
}

#[derive(DeriveIden)]
enum WebhookEndpoint {
    Table,
    Id,
    VendorOrgId,
    Url,
    Secret,
    Active,
    ConsecutiveFailures,
    DisabledAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Delivery {
    Table,
    Id,
    NotificationId,
    Channel,
    Recipient,
    EndpointId,
    Status,
    Attempts,
    NextAttemptAt,
    LockedUntil,
    LastError,
    SentAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum DeliveryAttempt {
    Table,
    Id,
    DeliveryId,
    AttemptedAt,
    Ok,
    Detail,
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
        // SQLite adds one column per ALTER TABLE.
        for col in [
            big_integer_null(Notification::VendorOrgId),
            big_integer_null(Notification::PartnerId),
            big_integer_null(Notification::PartnerOrgId),
            boolean(Notification::PartnerVisible).default(false).take(),
            timestamp_with_time_zone_null(Notification::FannedOutAt),
        ] {
            m.alter_table(Table::alter().table(Notification::Table).add_column(col).take()).await?;
        }
        m.create_index(index("ix_notification_fan_out", Notification::Table, &["fanned_out_at", "id"])).await?;

        m.create_table(
            Table::create()
                .table(WebhookEndpoint::Table)
                .col(big_pk_auto(WebhookEndpoint::Id))
                .col(big_integer(WebhookEndpoint::VendorOrgId))
                .col(string_len(WebhookEndpoint::Url, 2000))
                .col(string_len(WebhookEndpoint::Secret, 128))
                .col(boolean(WebhookEndpoint::Active).default(true))
                .col(integer(WebhookEndpoint::ConsecutiveFailures).default(0))
                .col(timestamp_with_time_zone_null(WebhookEndpoint::DisabledAt))
                .col(timestamp_with_time_zone(WebhookEndpoint::CreatedAt))
                .take(),
        )
        .await?;
        m.create_index(index("ix_webhook_vendor", WebhookEndpoint::Table, &["vendor_org_id", "active"])).await?;

        m.create_table(
            Table::create()
                .table(Delivery::Table)
                .col(big_pk_auto(Delivery::Id))
                .col(big_integer(Delivery::NotificationId))
                .col(string_len(Delivery::Channel, 16))
                .col(string_len(Delivery::Recipient, 320))
                .col(big_integer_null(Delivery::EndpointId))
                .col(string_len(Delivery::Status, 16))
                .col(integer(Delivery::Attempts).default(0))
                .col(timestamp_with_time_zone(Delivery::NextAttemptAt))
                .col(timestamp_with_time_zone_null(Delivery::LockedUntil))
                .col(text_null(Delivery::LastError))
                .col(timestamp_with_time_zone_null(Delivery::SentAt))
                .col(timestamp_with_time_zone(Delivery::CreatedAt))
                .take(),
        )
        .await?;
        // One delivery per notification, channel and recipient: a message goes
        // out once per recipient however often the fan-out runs.
        m.create_index(
            index("ux_delivery_recipient", Delivery::Table, &["notification_id", "channel", "recipient"])
                .unique()
                .take(),
        )
        .await?;
        m.create_index(index("ix_delivery_due", Delivery::Table, &["status", "next_attempt_at"])).await?;
        m.create_index(index("ix_delivery_endpoint", Delivery::Table, &["endpoint_id", "id"])).await?;

        m.create_table(
            Table::create()
                .table(DeliveryAttempt::Table)
                .col(big_pk_auto(DeliveryAttempt::Id))
                .col(big_integer(DeliveryAttempt::DeliveryId))
                .col(timestamp_with_time_zone(DeliveryAttempt::AttemptedAt))
                .col(boolean(DeliveryAttempt::Ok))
                .col(text_null(DeliveryAttempt::Detail))
                .take(),
        )
        .await?;
        m.create_index(index("ix_attempt_delivery", DeliveryAttempt::Table, &["delivery_id", "id"])).await?;
        Ok(())
    }
}
