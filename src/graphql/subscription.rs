//! Subscriptions: live events, each delivered only to those who may see it.
//! Event fields come from the outbox row, so fanning one event out to many
//! subscribers costs no queries; `referral` / `partner` load on demand.

use std::sync::Arc;

use async_graphql::{Context, ID, InputObject, MergedObject, Object, Result, Subscription};
use chrono::{DateTime, Utc};
use entity::{Subject, notification};
use futures_util::{Stream, StreamExt};

use super::enums::{PartnerStatus, ReferralStatus};
use super::notification::Notification;
use super::partner::Partner;
use super::referral::Referral;
use super::{ids, principal, shared_principal, svc};
use crate::auth::Principal;
use crate::events::{Audience, Hub, replay};
use crate::service::{partners, referrals};

/// The events a subscriber may see, as a stream (`events::replay::follow`):
/// with a cursor, first every later event from the outbox, then live.
/// Nothing here awaits: async-graphql keeps the resolver's future beside
/// the stream for the subscription's life, so the resume check and every
/// database call happen inside the stream instead.
fn events<F>(
    ctx: &Context<'_>,
    audience: Audience,
    after: Option<String>,
    keep: F,
) -> Result<impl Stream<Item = Result<Arc<notification::Model>>> + use<F>>
where
    F: Fn(&Principal, &notification::Model) -> bool + Send + 'static,
{
    let p = shared_principal(ctx)?;
    let hub = ctx.data_unchecked::<Hub>().clone();
    let (rx, published) = hub.subscribe();
    let from = match after {
        Some(cursor) => replay::From::Cursor(ids::event_position("after", &cursor)?),
        None => replay::From::Now(published),
    };
    let c = ctx.data_unchecked::<Arc<crate::context::Ctx>>().clone();
    let stream = replay::follow(c, p, audience, hub, rx, from, keep);
    Ok(stream.map(|item| item.map_err(Into::into)))
}

/// A delivered event always has its position (the relay and replay only
/// read stamped rows).
pub(super) fn event_cursor(n: &notification::Model) -> String {
    crate::ids::event_cursor(n.position.unwrap_or_default())
}

fn payload_str(n: &notification::Model, key: &str) -> Option<String> {
    n.payload.get(key).and_then(|v| v.as_str()).map(str::to_owned)
}

/// A GraphQL enum value stored by name in the event's payload.
fn payload_enum<T: async_graphql::InputType>(n: &notification::Model, key: &str) -> Option<T> {
    let raw = payload_str(n, key)?;
    T::parse(Some(async_graphql::Value::Enum(async_graphql::Name::new(raw)))).ok()
}

/// What every event says, whatever it is about.
pub struct EventHeader(Arc<notification::Model>);

#[Object]
impl EventHeader {
    /// The event's id (the outbox row), for de-duplication.
    async fn id(&self) -> ID {
        ids::encode("Notification", self.0.id)
    }

    /// Where this event is in the sequence of all events: pass it as
    /// `after` to resume from here.
    async fn cursor(&self) -> String {
        event_cursor(&self.0)
    }

    /// What happened (docs/webhooks.md lists every kind): REFERRAL_…, NOTE_ADDED
    /// and ASSIGNMENT_… on `referralEvents`, PARTNER_… on `partnerEvents`.
    async fn kind(&self) -> &str {
        &self.0.kind
    }

    async fn message(&self) -> &str {
        &self.0.message
    }

    async fn at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// A change to a referral, or to an assigned referral's offer.
#[derive(MergedObject)]
pub struct ReferralEvent(EventHeader, ReferralEventDetails);

impl ReferralEvent {
    fn of(n: Arc<notification::Model>) -> Self {
        Self(EventHeader(n.clone()), ReferralEventDetails(n))
    }
}

pub struct ReferralEventDetails(Arc<notification::Model>);

#[Object]
impl ReferralEventDetails {
    /// The referral (null for an assigned referral's offer events: see
    /// `assignmentId`).
    async fn referral_id(&self) -> Option<ID> {
        self.0.subject_id.filter(|_| self.0.subject == Some(Subject::Referral)).map(|id| ids::encode("Referral", id))
    }

    /// The offer an assigned referral's event is about (ASSIGNMENT_OFFERED,
    /// …_REMINDER, …_ACCEPTED, …_DECLINED, …_EXPIRED, …_WITHDRAWN, …_UPDATED).
    async fn assignment_id(&self) -> Option<ID> {
        self.0
            .subject_id
            .filter(|_| self.0.subject == Some(Subject::Assignment))
            .map(|id| ids::encode("ReferralAssignment", id))
    }

    async fn reference_id(&self) -> Option<String> {
        payload_str(&self.0, "referenceId")
    }

    /// The status after the change.
    async fn status(&self) -> Option<ReferralStatus> {
        payload_enum(&self.0, "status")
    }

    async fn stage(&self) -> Option<String> {
        payload_str(&self.0, "stage")
    }

    /// The referral as it is now (a query; null if no longer visible).
    async fn referral(&self, ctx: &Context<'_>) -> Result<Option<Referral>> {
        let Some(id) = self.0.subject_id else { return Ok(None) };
        let (c, p) = (svc(ctx), principal(ctx)?);
        let found = match self.0.subject {
            Some(Subject::Assignment) => match crate::service::assigned::offer(c, p, id).await {
                Ok(o) => crate::service::assigned::referral_of(c, p, &o).await.ok(),
                Err(_) => None,
            },
            _ => referrals::get(c, p, id).await.ok(),
        };
        Ok(found.map(Referral::from))
    }
}

/// A change to a partner record.
#[derive(MergedObject)]
pub struct PartnerEvent(EventHeader, PartnerEventDetails);

impl PartnerEvent {
    fn of(n: Arc<notification::Model>) -> Self {
        Self(EventHeader(n.clone()), PartnerEventDetails(n))
    }
}

pub struct PartnerEventDetails(Arc<notification::Model>);

#[Object]
impl PartnerEventDetails {
    async fn partner_id(&self) -> Option<ID> {
        self.0.subject_id.map(|id| ids::encode("Partner", id))
    }

    async fn status(&self) -> Option<PartnerStatus> {
        payload_enum(&self.0, "status")
    }

    async fn partner(&self, ctx: &Context<'_>) -> Result<Option<Partner>> {
        let Some(id) = self.0.subject_id else { return Ok(None) };
        Ok(partners::get(svc(ctx), principal(ctx)?, id).await.ok().map(Partner))
    }
}

#[derive(InputObject, Default)]
pub struct ReferralEventFilter {
    pub referral_id: Option<ID>,
    pub partner_id: Option<ID>,
    /// Only these kinds.
    pub kinds: Option<Vec<String>>,
}

#[derive(InputObject, Default)]
pub struct PartnerEventFilter {
    pub partner_id: Option<ID>,
    pub kinds: Option<Vec<String>>,
}

fn wanted(kinds: &Option<Vec<String>>, n: &notification::Model) -> bool {
    kinds.as_ref().is_none_or(|k| k.contains(&n.kind))
}

#[derive(Default)]
pub struct SubscriptionRoot;

/// `after`: the `cursor` of the last event the client received; the
/// subscription first replays every later event the caller may see, in
/// order, then goes on live. CURSOR_EXPIRED when that is no longer
/// possible (older than `EVENT_RETENTION_DAYS`, or more than 10,000 events
/// behind): reload, then subscribe without a cursor.
#[Subscription]
impl SubscriptionRoot {
    /// Changes to referrals the caller may see: submissions, status and
    /// stage changes, shared notes.
    async fn referral_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<ReferralEventFilter>,
        after: Option<String>,
    ) -> Result<impl Stream<Item = Result<ReferralEvent>> + use<>> {
        let f = filter.unwrap_or_default();
        let referral = f.referral_id.map(|id| ids::decode("Referral", &id)).transpose()?;
        let partner = f.partner_id.map(|id| ids::decode("Partner", &id)).transpose()?;
        let kinds = f.kinds;
        let stream = events(ctx, Audience::Visible, after, move |_, n| {
            matches!(n.subject, Some(Subject::Referral | Subject::Assignment))
                && referral.is_none_or(|id| n.subject_id == Some(id))
                && partner.is_none_or(|id| n.partner_id == Some(id))
                && wanted(&kinds, n)
        })?;
        Ok(stream.map(|n| n.map(ReferralEvent::of)))
    }

    /// Changes to partner records the caller may see.
    async fn partner_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<PartnerEventFilter>,
        after: Option<String>,
    ) -> Result<impl Stream<Item = Result<PartnerEvent>> + use<>> {
        let f = filter.unwrap_or_default();
        let partner = f.partner_id.map(|id| ids::decode("Partner", &id)).transpose()?;
        let kinds = f.kinds;
        let stream = events(ctx, Audience::Visible, after, move |_, n| {
            n.subject == Some(Subject::Partner)
                && partner.is_none_or(|id| n.subject_id == Some(id))
                && wanted(&kinds, n)
        })?;
        Ok(stream.map(|n| n.map(PartnerEvent::of)))
    }

    /// Notifications addressed to the caller or its organization, as they
    /// happen: a client keeps its unread count current by adding one for
    /// each (its `cursor` is the inbox's `since`).
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
    ) -> Result<impl Stream<Item = Result<Notification>> + use<>> {
        let stream = events(ctx, Audience::Addressed, after, |_, _| true)?;
        Ok(stream.map(|n| n.map(|n| Notification::unread(n.as_ref().clone()))))
    }
}
