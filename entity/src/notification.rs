use sea_orm::entity::prelude::*;

/// An outbox row: written in the same transaction as the change it reports.
/// Delivery channels (subscriptions, e-mail, webhooks) read from here.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notification")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The organization whose users receive it.
    pub recipient_org_id: Option<i64>,
    /// A single recipient, when the notice is personal (a task reminder).
    pub recipient_user_id: Option<i64>,
    /// A contact e-mail, for a partner not yet linked to an organization.
    pub recipient_email: Option<String>,
    /// e.g. TASK_DUE, PARTNER_STATUS_CHANGED.
    pub kind: String,
    pub subject: Option<crate::Subject>,
    pub subject_id: Option<i64>,
    pub message: String,
    pub payload: Json,
    pub job_run_id: Option<i64>,
    pub created_at: DateTimeUtc,
    /// The vendor whose program the event belongs to.
    pub vendor_org_id: Option<i64>,
    /// The partnership the event concerns, and its partner organization
    /// when linked (at the time of the event).
    pub partner_id: Option<i64>,
    pub partner_org_id: Option<i64>,
    /// Whether the partner side may see the event (subscriptions).
    pub partner_visible: bool,
    /// When the dispatcher created its e-mail and webhook deliveries.
    pub fanned_out_at: Option<DateTimeUtc>,
    /// The event's place in the one sequence of all events, in the order
    /// they became visible; NULL until the sequencer stamps it
    /// (`events::sequence`). Clients see it as the opaque `cursor`.
    pub position: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
