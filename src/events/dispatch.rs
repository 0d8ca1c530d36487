//! The dispatcher: fans outbox rows out to deliveries (one per recipient and
//! channel, unique), then sends due deliveries — e-mail over SMTP (lettre),
//! signed webhooks (reqwest) — recording every attempt and retrying with
//! exponential backoff. A failure never touches the change that caused it.
//!
//! Deliveries are claimed by setting `locked_until` (with `FOR UPDATE SKIP
//! LOCKED` on PostgreSQL), so several dispatchers share the work; a
//! dispatcher that dies mid-send leaves its claim to expire and the delivery
//! is retried. Delivery is therefore at least once; a receiver that must
//! not act twice dedupes on the `x-referralhub-delivery` id.

use std::collections::HashMap;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use entity::{DeliveryChannel, DeliveryStatus, delivery, delivery_attempt, notification, webhook_endpoint};
use lettre::message::Mailbox;
use lettre::{AsyncTransport, Message};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait,
};

use super::webhook;
use crate::context::Ctx;
use crate::db::{Limit, stmt};
use crate::error::AppResult;
use crate::outbound::{Mailer, targets};

/// Attempts before a delivery is given up (DEAD).
pub const MAX_ATTEMPTS: i32 = 8;
/// Consecutive failures after which a webhook endpoint is disabled.
pub const DISABLE_AFTER_FAILURES: i32 = 10;
/// How long a claim holds a delivery.
const CLAIM: i64 = 120;
const BATCH: u64 = 50;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    pub fanned_out: u64,
    pub sent: u64,
    pub failed: u64,
}

/// Backoff after the n-th failed attempt: 30 s, 1 min, 2 min, … capped at 6 h.
pub fn backoff(attempts: i32) -> Duration {
    let exp = attempts.clamp(1, 16) - 1;
    Duration::seconds((30_i64 << exp).min(6 * 3600))
}

pub async fn run(ctx: &Ctx, as_of: DateTime<Utc>) -> AppResult<Report> {
    let fanned_out = fan_out(ctx, as_of).await?;
    let (sent, failed) = send_due(ctx, as_of).await?;
    Ok(Report { fanned_out, sent, failed })
}

/// Creates the deliveries of every outbox row not yet fanned out, a batch
/// of rows per transaction, set-based. New deliveries are due at once, and
/// at the latest at the run's `as_of`, so this run sends them (the clock has
/// moved past `as_of` while the run started).
async fn fan_out(ctx: &Ctx, as_of: DateTime<Utc>) -> AppResult<u64> {
    let backend = ctx.db.get_database_backend();
    let mut total = 0;
    loop {
        let unsent = notification::Entity::find()
            .select_only()
            .column(notification::Column::Id)
            .filter(notification::Column::FannedOutAt.is_null())
            .order_by_asc(notification::Column::Id);
        let ids: Vec<i64> = Limit(500).rows(&ctx.db, &unsent, |row| row.try_get_by_index(0)).await?;
        if ids.is_empty() {
            return Ok(total);
        }
        let now = ctx.now();
        let due = now.min(as_of);
        // Integers only: safe to inline.
        let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        let tx = ctx.db.begin().await?;
        if ctx.channels.mail.is_some() {
            let sql = format!(
                "INSERT INTO delivery (notification_id, channel, recipient, endpoint_id, status, attempts, next_attempt_at, created_at)
                 SELECT id, 'EMAIL', email, NULL, 'PENDING', 0, $1, $2 FROM (
                   SELECT n.id, u.email FROM notification n JOIN app_user u ON u.id = n.recipient_user_id
                     WHERE n.id IN ({list}) AND u.email IS NOT NULL
                   UNION
                   SELECT n.id, u.email FROM notification n JOIN app_user u
                     ON n.recipient_user_id IS NULL AND u.organization_id = n.recipient_org_id
                     WHERE n.id IN ({list}) AND u.email IS NOT NULL
                   UNION
                   SELECT n.id, n.recipient_email FROM notification n
                     WHERE n.id IN ({list}) AND n.recipient_email IS NOT NULL
                 ) recipients WHERE true
                 ON CONFLICT (notification_id, channel, recipient) DO NOTHING"
            );
            tx.execute_raw(stmt(backend, &sql, vec![due.into(), now.into()])).await?;
        }
        // Webhooks get every event of their vendor since they were
        // registered, but personal reminders.
        let sql = format!(
            "INSERT INTO delivery (notification_id, channel, recipient, endpoint_id, status, attempts, next_attempt_at, created_at)
             SELECT n.id, 'WEBHOOK', CAST(w.id AS TEXT), w.id, 'PENDING', 0, $1, $2
             FROM notification n JOIN webhook_endpoint w
               ON w.vendor_org_id = n.vendor_org_id AND w.active = $3 AND n.created_at >= w.created_at
             WHERE n.id IN ({list}) AND n.recipient_user_id IS NULL
             ON CONFLICT (notification_id, channel, recipient) DO NOTHING"
        );
        tx.execute_raw(stmt(backend, &sql, vec![due.into(), now.into(), true.into()])).await?;
        notification::Entity::update_many()
            .col_expr(notification::Column::FannedOutAt, sea_orm::sea_query::Expr::value(now))
            .filter(notification::Column::Id.is_in(ids.iter().copied()))
            .exec(&tx)
            .await?;
        tx.commit().await?;
        total += ids.len() as u64;
    }
}

/// Claims due deliveries a batch at a time and sends them.
async fn send_due(ctx: &Ctx, as_of: DateTime<Utc>) -> AppResult<(u64, u64)> {
    let backend = ctx.db.get_database_backend();
    let skip_locked = if backend == DbBackend::Postgres { "FOR UPDATE SKIP LOCKED" } else { "" };
    let (mut sent, mut failed) = (0, 0);
    let mut after = 0_i64;
    loop {
        let now = ctx.now();
        let sql = format!(
            "UPDATE delivery SET locked_until = $1
             WHERE id IN (SELECT id FROM delivery
                          WHERE status = 'PENDING' AND next_attempt_at <= $2 AND id > $3
                            AND (locked_until IS NULL OR locked_until < $4)
                          ORDER BY id LIMIT {BATCH} {skip_locked})
               AND (locked_until IS NULL OR locked_until < $4)
             RETURNING *"
        );
        let values = vec![(now + Duration::seconds(CLAIM)).into(), as_of.into(), after.into(), now.into()];
        let mut claimed = delivery::Entity::find().from_raw_sql(stmt(backend, &sql, values)).all(&ctx.db).await?;
        if claimed.is_empty() {
            return Ok((sent, failed));
        }
        claimed.sort_by_key(|d| d.id);
        after = claimed.last().map(|d| d.id).unwrap_or(after);
        let notes: HashMap<i64, notification::Model> = notification::Entity::find()
            .filter(notification::Column::Id.is_in(claimed.iter().map(|d| d.notification_id)))
            .all(&ctx.db)
            .await?
            .into_iter()
            .map(|n| (n.id, n))
            .collect();
        let endpoints: HashMap<i64, webhook_endpoint::Model> = webhook_endpoint::Entity::find()
            .filter(webhook_endpoint::Column::Id.is_in(claimed.iter().filter_map(|d| d.endpoint_id)))
            .all(&ctx.db)
            .await?
            .into_iter()
            .map(|e| (e.id, e))
            .collect();
        let attempts = claimed
            .iter()
            .map(|d| attempt(ctx, d, notes.get(&d.notification_id), d.endpoint_id.and_then(|id| endpoints.get(&id))));
        let outcomes = futures_util::future::join_all(attempts).await;
        for (d, outcome) in claimed.into_iter().zip(outcomes) {
            match record(ctx, d, outcome).await? {
                true => sent += 1,
                false => failed += 1,
            }
        }
    }
}

/// What one attempt came to.
enum Outcome {
    Sent(String),
    Failed(String),
    /// Nothing to send any more (endpoint disabled, event gone).
    GiveUp(String),
}

async fn attempt(
    ctx: &Ctx,
    d: &delivery::Model,
    n: Option<&notification::Model>,
    endpoint: Option<&webhook_endpoint::Model>,
) -> Outcome {
    let Some(n) = n else { return Outcome::GiveUp("the event no longer exists".into()) };
    match d.channel {
        DeliveryChannel::Email => {
            let Some(mail) = &ctx.channels.mail else { return Outcome::Failed("SMTP is not configured".into()) };
            send_mail(mail, &d.recipient, n, ctx.channels.app_url.as_deref()).await
        }
        DeliveryChannel::Webhook => match endpoint {
            Some(e) if e.active => post_webhook(ctx, d, e, n).await,
            _ => Outcome::GiveUp("the webhook endpoint is disabled or deleted".into()),
        },
    }
}

async fn send_mail(mail: &Mailer, to: &str, n: &notification::Model, app_url: Option<&str>) -> Outcome {
    let Ok(to) = to.parse::<Mailbox>() else { return Outcome::GiveUp(format!("not an e-mail address: {to}")) };
    let (subject, body) = super::email::compose(n, app_url);
    let message = match Message::builder().from(mail.from.clone()).to(to).subject(subject).body(body) {
        Ok(m) => m,
        Err(e) => return Outcome::GiveUp(e.to_string()),
    };
    match mail.transport.send(message).await {
        Ok(response) => Outcome::Sent(format!("SMTP {}", response.code())),
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

/// The JSON a webhook receives (`docs/webhooks.md`): every id is a Relay
/// global id that `node(id:)` resolves.
pub fn webhook_body(n: &notification::Model) -> serde_json::Value {
    serde_json::json!({
        "id": crate::ids::encode("Notification", n.id),
        "kind": n.kind,
        "subject": n.subject.map(|s| sea_orm::ActiveEnum::to_value(&s)),
        "subjectId": n.subject.zip(n.subject_id).map(|(s, id)| crate::ids::of_subject(s, id)),
        "message": n.message,
        "payload": n.payload,
        "createdAt": n.created_at,
    })
}

async fn post_webhook(ctx: &Ctx, d: &delivery::Model, e: &webhook_endpoint::Model, n: &notification::Model) -> Outcome {
    if !ctx.channels.private_targets
        && let Some(refused) = reqwest::Url::parse(&e.url).ok().as_ref().and_then(targets::refusal)
    {
        return Outcome::Failed(refused.to_owned());
    }
    let body = webhook_body(n).to_string();
    let signature = webhook::sign(&e.secret, ctx.now().timestamp(), body.as_bytes());
    let response = ctx
        .channels
        .http
        .post(&e.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(webhook::SIGNATURE_HEADER, signature)
        .header(webhook::EVENT_HEADER, &n.kind)
        .header(webhook::DELIVERY_HEADER, d.id.to_string())
        .body(body)
        .send()
        .await;
    match response {
        Ok(r) if r.status().is_success() => Outcome::Sent(format!("HTTP {}", r.status().as_u16())),
        Ok(r) => Outcome::Failed(format!("HTTP {}", r.status().as_u16())),
        Err(err) => Outcome::Failed(err.to_string()),
    }
}

/// Records the attempt and moves the delivery (and its endpoint) on.
async fn record(ctx: &Ctx, d: delivery::Model, outcome: Outcome) -> AppResult<bool> {
    let now = ctx.now();
    let tx = ctx.db.begin().await?;
    let (ok, detail) = match &outcome {
        Outcome::Sent(s) => (true, s.clone()),
        Outcome::Failed(s) | Outcome::GiveUp(s) => (false, s.clone()),
    };
    let channel = match d.channel {
        DeliveryChannel::Email => "email",
        DeliveryChannel::Webhook => "webhook",
    };
    let result = match &outcome {
        Outcome::Sent(_) => "sent",
        Outcome::Failed(_) => "failed",
        Outcome::GiveUp(_) => "gave_up",
    };
    metrics::counter!("deliveries_total", "channel" => channel, "outcome" => result).increment(1);
    delivery_attempt::ActiveModel {
        delivery_id: Set(d.id),
        attempted_at: Set(now),
        ok: Set(ok),
        detail: Set(Some(detail.clone())),
        ..Default::default()
    }
    .insert(&tx)
    .await?;
    let attempts = d.attempts + 1;
    let endpoint_id = d.endpoint_id;
    let mut m = d.into_active_model();
    m.attempts = Set(attempts);
    m.locked_until = Set(None);
    match outcome {
        Outcome::Sent(_) => {
            m.status = Set(DeliveryStatus::Sent);
            m.sent_at = Set(Some(now));
            m.last_error = Set(None);
        }
        Outcome::GiveUp(_) => {
            m.status = Set(DeliveryStatus::Dead);
            m.last_error = Set(Some(detail));
        }
        Outcome::Failed(_) => {
            m.status = Set(if attempts >= MAX_ATTEMPTS { DeliveryStatus::Dead } else { DeliveryStatus::Pending });
            m.next_attempt_at = Set(now + backoff(attempts));
            m.last_error = Set(Some(detail));
        }
    }
    m.update(&tx).await?;
    if let Some(id) = endpoint_id {
        endpoint_health(&tx, id, ok, now).await?;
    }
    tx.commit().await?;
    Ok(ok)
}

/// A success resets the endpoint's failure count; too many failures in a
/// row disable it.
async fn endpoint_health(tx: &impl ConnectionTrait, id: i64, ok: bool, now: DateTime<Utc>) -> AppResult<()> {
    let Some(e) = webhook_endpoint::Entity::find_by_id(id).one(tx).await? else { return Ok(()) };
    if !e.active {
        return Ok(());
    }
    let failures = if ok { 0 } else { e.consecutive_failures + 1 };
    let mut m = e.into_active_model();
    m.consecutive_failures = Set(failures);
    if failures >= DISABLE_AFTER_FAILURES {
        m.active = Set(false);
        m.disabled_at = Set(Some(now));
        tracing::warn!(endpoint = id, "webhook endpoint disabled after repeated failures");
    }
    m.update(tx).await?;
    Ok(())
}

/// Runs the dispatcher every `every` until the process ends.
pub fn spawn_loop(ctx: Ctx, every: StdDuration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = run(&ctx, ctx.now()).await {
                tracing::warn!(error = %e.message(), "dispatcher run failed");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(1), Duration::seconds(30));
        assert_eq!(backoff(2), Duration::seconds(60));
        assert_eq!(backoff(5), Duration::seconds(480));
        assert_eq!(backoff(30), Duration::hours(6));
    }
}
