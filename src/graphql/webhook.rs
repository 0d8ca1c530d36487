//! Webhook endpoints and their deliveries (VENDOR).

use async_graphql::{Context, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{DeliveryChannel, DeliveryStatus, delivery, delivery_attempt, webhook_endpoint};

use super::connection::{Parts, connection};
use super::{ids, principal, svc};
use crate::service::page::PageRequest;
use crate::service::webhooks;

connection!(DeliveryConnection, DeliveryEdge, Delivery);

pub struct WebhookEndpoint(webhook_endpoint::Model);

#[Object]
impl WebhookEndpoint {
    async fn id(&self) -> ID {
        ids::encode("WebhookEndpoint", self.0.id)
    }

    async fn url(&self) -> &str {
        &self.0.url
    }

    /// Off after repeated failures (or by hand); turn on again with `enableWebhookEndpoint`.
    async fn active(&self) -> bool {
        self.0.active
    }

    async fn consecutive_failures(&self) -> i32 {
        self.0.consecutive_failures
    }

    async fn disabled_at(&self) -> Option<DateTime<Utc>> {
        self.0.disabled_at
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// Deliveries to this endpoint, newest first.
    #[graphql(complexity = "super::connection::list_cost(first, child_complexity)")]
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<DeliveryConnection> {
        let p = principal(ctx)?;
        let page = PageRequest::new(first, after.as_deref())?;
        let rows = webhooks::deliveries(svc(ctx), p, self.0.id, &page).await?;
        Ok(Parts::from_page(ctx, rows, Delivery, webhooks::count_deliveries(svc(ctx), p, self.0.id)).await?.into())
    }
}

/// A new endpoint with its signing secret, shown this once.
#[derive(SimpleObject)]
pub struct CreatedWebhookEndpoint {
    pub endpoint: WebhookEndpoint,
    /// HMAC-SHA256 key of the `x-referralhub-signature` header.
    pub secret: String,
}

pub struct Delivery(delivery::Model);

// Its lists go to the engine whole (`at_once`).
impl super::at_once::AtOnce for Delivery {}

#[Object]
impl Delivery {
    async fn id(&self) -> ID {
        ids::encode("Delivery", self.0.id)
    }

    async fn event_id(&self) -> ID {
        ids::encode("Notification", self.0.notification_id)
    }

    /// EMAIL or WEBHOOK.
    async fn channel(&self) -> &str {
        match self.0.channel {
            DeliveryChannel::Email => "EMAIL",
            DeliveryChannel::Webhook => "WEBHOOK",
        }
    }

    /// PENDING, SENT or DEAD.
    async fn status(&self) -> &str {
        match self.0.status {
            DeliveryStatus::Pending => "PENDING",
            DeliveryStatus::Sent => "SENT",
            DeliveryStatus::Dead => "DEAD",
        }
    }

    async fn attempt_count(&self) -> i32 {
        self.0.attempts
    }

    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        (self.0.status == DeliveryStatus::Pending).then_some(self.0.next_attempt_at)
    }

    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }

    async fn sent_at(&self) -> Option<DateTime<Utc>> {
        self.0.sent_at
    }

    /// Every try, oldest first.
    async fn attempts(&self, ctx: &Context<'_>) -> Result<Vec<DeliveryAttempt>> {
        Ok(webhooks::attempts(svc(ctx), self.0.id).await?.into_iter().map(DeliveryAttempt).collect())
    }
}

pub struct DeliveryAttempt(delivery_attempt::Model);

#[Object]
impl DeliveryAttempt {
    async fn at(&self) -> DateTime<Utc> {
        self.0.attempted_at
    }

    async fn ok(&self) -> bool {
        self.0.ok
    }

    /// The error, or the receiver's answer (e.g. `HTTP 200`).
    async fn detail(&self) -> Option<&str> {
        self.0.detail.as_deref()
    }
}

#[derive(Default)]
pub struct WebhookQuery;

#[Object]
impl WebhookQuery {
    /// The caller's vendor's webhook endpoints.
    async fn webhook_endpoints(&self, ctx: &Context<'_>) -> Result<Vec<WebhookEndpoint>> {
        Ok(webhooks::list(svc(ctx), principal(ctx)?).await?.into_iter().map(WebhookEndpoint).collect())
    }
}

#[derive(Default)]
pub struct WebhookMutation;

#[Object]
impl WebhookMutation {
    /// Registers a URL for the vendor's events; returns the signing secret once.
    async fn create_webhook_endpoint(&self, ctx: &Context<'_>, url: String) -> Result<CreatedWebhookEndpoint> {
        let e = webhooks::create(svc(ctx), principal(ctx)?, &url).await?;
        Ok(CreatedWebhookEndpoint { secret: e.secret.clone(), endpoint: WebhookEndpoint(e) })
    }

    async fn enable_webhook_endpoint(&self, ctx: &Context<'_>, id: ID) -> Result<WebhookEndpoint> {
        let id = ids::decode("WebhookEndpoint", &id)?;
        Ok(WebhookEndpoint(webhooks::set_active(svc(ctx), principal(ctx)?, id, true).await?))
    }

    async fn disable_webhook_endpoint(&self, ctx: &Context<'_>, id: ID) -> Result<WebhookEndpoint> {
        let id = ids::decode("WebhookEndpoint", &id)?;
        Ok(WebhookEndpoint(webhooks::set_active(svc(ctx), principal(ctx)?, id, false).await?))
    }

    /// Deletes an endpoint; its pending deliveries are dropped.
    async fn delete_webhook_endpoint(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        let row = ids::decode("WebhookEndpoint", &id)?;
        webhooks::delete(svc(ctx), principal(ctx)?, row).await?;
        Ok(id)
    }
}
