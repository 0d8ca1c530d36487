use sea_orm::entity::prelude::*;

use crate::{DeliveryChannel, DeliveryStatus};

/// One notification to one recipient over one channel. Unique per
/// (notification, channel, recipient), so it goes out once.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "delivery")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub notification_id: i64,
    pub channel: DeliveryChannel,
    /// An e-mail address, or the webhook endpoint id.
    pub recipient: String,
    pub endpoint_id: Option<i64>,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    /// A dispatcher holds it until then (claimed, being sent).
    pub locked_until: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    pub sent_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
