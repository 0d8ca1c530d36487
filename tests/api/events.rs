//! Subscriptions that never lose an event (PRODUCT.md §9): one sequence in
//! visibility order, resuming from a cursor across servers, expiry, and the
//! notifications inbox with per-user read state.

use crate::common::{self, *};
use chrono::Duration;
use entity::{Subject, notification};
use referral_hub::auth::Principal;
use referral_hub::events::{self, Audience, Event, EventKind, sequence};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait};
use serde_json::{Value, json};

const REFERRAL_EVENTS: &str = "subscription($a: String) { referralEvents(after: $a) { cursor kind referralId } }";

// Vendor Acme with Partner A (`partner`, its user `partner_user`) and
// Partner B, each linked to its own organization.
local_world!(partner_b: String, user_b: String);

async fn world() -> World {
    let base = common::World::build().partner_named("A").done().await;
    let (partner_b, user_b) = base.app.linked_partner_named(&base.vendor, &base.program, "B").await;
    World { base, partner_b, user_b }
}

async fn submit(app: &TestApp, token: &str, partner: &str, name: &str) -> String {
    let q = "mutation($i: SubmitReferralInput!) { submitReferral(input: $i) { id } }";
    let data = app.ok(token, q, json!({ "i": { "partnerId": partner, "lead": { "name": name } } })).await;
    data["submitReferral"]["id"].as_str().unwrap().to_owned()
}

/// The next `n` events of subscription `id`.
async fn take(ws: &mut Ws, n: usize) -> Vec<Value> {
    let mut out = Vec::new();
    while out.len() < n {
        let msg = ws.recv().await;
        assert_eq!(msg["type"], "next", "{msg}");
        out.push(msg["payload"]["data"].as_object().unwrap().values().next().unwrap().clone());
    }
    out
}

/// The vendor's cursor at this moment: the last event it may see.
async fn cursor_now(w: &World) -> String {
    w.app.stamp().await;
    let last = sequence::last_position(&w.app.ctx.db).await.unwrap();
    referral_hub::ids::event_cursor(last)
}

#[tokio::test]
async fn a_client_that_reconnects_gets_exactly_what_it_missed_across_two_servers() {
    let w = world().await;
    let second = spawn_peer(&w.app).await;
    let mut ws = Ws::init(&w.app, &w.vendor).await;
    ws.subscribe("r", REFERRAL_EVENTS, json!({})).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    submit(&w.app, &w.partner_user, &w.partner, "Seen live").await;
    let seen = take(&mut ws, 1).await;
    let cursor = seen[0]["cursor"].as_str().unwrap().to_owned();
    drop(ws);

    // Ten changes while the socket is down, half on each server.
    let mut missed = Vec::new();
    for i in 0..10 {
        let server = if i % 2 == 0 { &w.app } else { &second };
        missed.push(submit(server, &w.partner_user, &w.partner, &format!("Missed {i}")).await);
    }
    let mut ws = Ws::init(&second, &w.vendor).await;
    ws.subscribe("r", REFERRAL_EVENTS, json!({ "a": cursor })).await;
    let replayed = take(&mut ws, 10).await;
    let ids: Vec<&str> = replayed.iter().map(|e| e["referralId"].as_str().unwrap()).collect();
    assert_eq!(ids, missed.iter().map(String::as_str).collect::<Vec<_>>(), "exactly the ten, in order");
    assert!(replayed.iter().all(|e| e["kind"] == "REFERRAL_SUBMITTED"));

    // Then live, with no duplicate: the next event is the next change.
    let after = submit(&w.app, &w.partner_user, &w.partner, "Live again").await;
    let next = take(&mut ws, 1).await;
    assert_eq!(next[0]["referralId"], json!(after));
    let positions: Vec<i64> = replayed
        .iter()
        .chain(&next)
        .map(|e| referral_hub::ids::event_position(e["cursor"].as_str().unwrap()).unwrap())
        .collect();
    assert!(positions.windows(2).all(|p| p[0] < p[1]), "cursors rise: {positions:?}");
}

#[tokio::test]
async fn events_written_during_the_replay_arrive_once_and_in_order() {
    let w = world().await;
    let cursor = cursor_now(&w).await;
    for i in 0..30 {
        submit(&w.app, &w.partner_user, &w.partner, &format!("Before {i}")).await;
    }
    let mut ws = Ws::init(&w.app, &w.vendor).await;
    ws.subscribe("r", REFERRAL_EVENTS, json!({ "a": cursor })).await;
    // More changes while the replay runs.
    let app = &w.app;
    let (writes, got) = tokio::join!(
        async {
            for i in 0..30 {
                submit(app, &w.partner_user, &w.partner, &format!("During {i}")).await;
            }
        },
        take(&mut ws, 60)
    );
    let _: () = writes;
    let positions: Vec<i64> =
        got.iter().map(|e| referral_hub::ids::event_position(e["cursor"].as_str().unwrap()).unwrap()).collect();
    assert!(positions.windows(2).all(|p| p[0] < p[1]), "in order, no duplicate: {positions:?}");
    let mut ids: Vec<&str> = got.iter().map(|e| e["referralId"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 60);
}

/// Kinds no step of these tests produces otherwise (only jobs they do not
/// run write them), so a test counts exactly its own events.
const TEST_KIND: EventKind = EventKind::TaskDue;
const GRID_KIND: EventKind = EventKind::IntakeWarning;

fn test_event(vendor_org: i64, message: &str) -> Event {
    Event {
        recipient_org_id: Some(vendor_org),
        ..Event::new(TEST_KIND, Subject::Organization, vendor_org, vendor_org, message.into())
    }
}

async fn position_of(app: &TestApp, id: i64) -> Option<i64> {
    notification::Entity::find_by_id(id).one(&app.ctx.db).await.unwrap().unwrap().position
}

/// On PostgreSQL two transactions overlap: the one that took the smaller
/// id commits last, and gets the later position; a client that resumed
/// after the other one still receives it. SQLite has one writer at a time:
/// the second writer waits, so its id and its position both come later.
#[tokio::test]
async fn an_event_that_commits_late_gets_a_later_position_and_is_not_skipped() {
    let w = world().await;
    let app = &w.app;
    let now = app.ctx.now();
    let early = app.ctx.db.begin().await.unwrap();
    let first = events::record(&early, test_event(w.vendor_org, "took its id first"), now).await.unwrap();
    if !is_postgres() {
        let db = app.ctx.db.clone();
        let vendor_org = w.vendor_org;
        let waiting = tokio::spawn(async move {
            let other = db.begin().await.unwrap();
            let second = events::record(&other, test_event(vendor_org, "waited"), now).await.unwrap();
            other.commit().await.unwrap();
            second.id
        });
        early.commit().await.unwrap();
        let second = waiting.await.unwrap();
        app.stamp().await;
        assert!(first.id < second);
        assert!(position_of(app, first.id).await.unwrap() < position_of(app, second).await.unwrap());
        return;
    }
    let other = app.ctx.db.begin().await.unwrap();
    let second = events::record(&other, test_event(w.vendor_org, "committed first"), now).await.unwrap();
    other.commit().await.unwrap();
    app.stamp().await;
    let uncommitted = notification::Entity::find_by_id(first.id).one(&app.ctx.db).await.unwrap();
    assert!(uncommitted.is_none(), "not committed: nobody sees it, nobody stamps it");
    let between = position_of(app, second.id).await.unwrap();
    // A client resumes after the event that committed first…
    let mut ws = Ws::init(app, &w.vendor).await;
    ws.subscribe(
        "n",
        "subscription($a: String) { notifications(after: $a) { cursor kind message } }",
        json!({ "a": referral_hub::ids::event_cursor(between) }),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    early.commit().await.unwrap();
    // …and still receives the one that took its id earlier and committed later.
    let got = take(&mut ws, 1).await;
    assert_eq!(got[0]["message"], "took its id first");
    app.stamp().await;
    assert!(first.id < second.id, "the early transaction took the smaller id");
    assert!(position_of(app, first.id).await.unwrap() > between, "and the later position");
}

#[tokio::test]
async fn replay_shows_each_subscriber_only_what_it_may_see() {
    let w = world().await;
    let app = &w.app;
    let cursor = cursor_now(&w).await;
    let of_a = submit(app, &w.partner_user, &w.partner, "A's lead").await;
    let of_b = submit(app, &w.user_b, &w.partner_b, "B's lead").await;
    app.ok(
        &w.vendor,
        "mutation($id: ID!) { addNote(referralId: $id, body: \"internal\", visibility: INTERNAL) { id } }",
        json!({ "id": of_a }),
    )
    .await;
    app.ok(
        &w.vendor,
        "mutation($id: ID!) { setReferralStatus(id: $id, status: QUALIFIED) { status } }",
        json!({ "id": of_a }),
    )
    .await;
    let (stranger_org, stranger, _) = app.vendor("Stranger").await;
    let _ = stranger_org;
    let marker = submit(app, &w.user_b, &w.partner_b, "B's second").await;

    let mut a = Ws::init(app, &w.partner_user).await;
    a.subscribe("r", REFERRAL_EVENTS, json!({ "a": cursor })).await;
    let seen_by_a = take(&mut a, 2).await;
    assert_eq!(
        seen_by_a.iter().map(|e| (e["kind"].as_str().unwrap(), e["referralId"].as_str().unwrap())).collect::<Vec<_>>(),
        vec![("REFERRAL_SUBMITTED", of_a.as_str()), ("REFERRAL_STATUS_CHANGED", of_a.as_str())],
        "A's own events only: not B's, no INTERNAL note"
    );
    let mut b = Ws::init(app, &w.user_b).await;
    b.subscribe("r", REFERRAL_EVENTS, json!({ "a": cursor })).await;
    let seen_by_b = take(&mut b, 2).await;
    assert_eq!(seen_by_b[0]["referralId"], json!(of_b));
    assert_eq!(seen_by_b[1]["referralId"], json!(marker));
    // Another vendor replays nothing of Acme's: its first event is its own.
    let mut other = Ws::init(app, &stranger).await;
    other.subscribe("r", REFERRAL_EVENTS, json!({ "a": cursor })).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let program = app.ok(&stranger, "{ programs { id } }", json!({})).await["programs"][0]["id"].clone();
    let own = app
        .ok(
            &stranger,
            "mutation($i: SubmitReferralInput!) { submitReferral(input: $i) { id } }",
            json!({ "i": { "programId": program, "lead": { "name": "Own lead" } } }),
        )
        .await["submitReferral"]["id"]
        .clone();
    assert_eq!(take(&mut other, 1).await[0]["referralId"], own);
}

/// The SQL form of each visibility rule (replay, the inbox) admits exactly
/// the rows the Rust form (live delivery) admits.
#[tokio::test]
async fn the_sql_and_the_live_visibility_rules_agree_row_by_row() {
    let w = world().await;
    let app = &w.app;
    let db = &app.ctx.db;
    let (org_1, org_2, user_1) = (w.vendor_org, w.vendor_org + 1000, 77);
    let mut rows = Vec::new();
    for recipient_user in [None, Some(user_1), Some(user_1 + 1)] {
        for recipient_org in [None, Some(org_1), Some(org_2)] {
            for partner_org in [None, Some(org_1), Some(org_2)] {
                for partner_visible in [false, true] {
                    for vendor in [org_1, org_2] {
                        rows.push(Event {
                            partner_org_id: partner_org,
                            partner_visible,
                            recipient_org_id: recipient_org,
                            recipient_user_id: recipient_user,
                            ..Event::new(GRID_KIND, Subject::Referral, 1, vendor, "grid".into())
                        });
                    }
                }
            }
        }
    }
    let tx = db.begin().await.unwrap();
    for row in rows {
        events::record(&tx, row, app.ctx.now()).await.unwrap();
    }
    tx.commit().await.unwrap();
    app.stamp().await;
    let grid = notification::Entity::find()
        .filter(notification::Column::Kind.eq(GRID_KIND.as_str()))
        .order_by_asc(notification::Column::Id)
        .all(db)
        .await
        .unwrap();
    let principal = |role: entity::Role, org: Option<i64>, kind: Option<entity::OrganizationKind>| Principal {
        user_id: user_1,
        org_id: org,
        org_kind: kind,
        role,
        name: None,
        expires_at: None,
    };
    use entity::OrganizationKind as K;
    use entity::Role as R;
    let principals = [
        principal(R::Admin, None, None),
        principal(R::Vendor, Some(org_1), Some(K::Vendor)),
        principal(R::Partner, Some(org_1), Some(K::Partner)),
        principal(R::Partner, Some(org_2), Some(K::Partner)),
    ];
    for p in &principals {
        for audience in [Audience::Visible, Audience::Addressed] {
            let by_sql: Vec<i64> = notification::Entity::find()
                .filter(notification::Column::Kind.eq(GRID_KIND.as_str()))
                .filter(audience.condition(p))
                .order_by_asc(notification::Column::Id)
                .all(db)
                .await
                .unwrap()
                .into_iter()
                .map(|n| n.id)
                .collect();
            let by_rust: Vec<i64> = grid.iter().filter(|n| audience.admits(p, n)).map(|n| n.id).collect();
            assert_eq!(by_sql, by_rust, "{audience:?} for {:?} {:?}", p.role, p.org_id);
            assert!(!by_rust.is_empty() || audience == Audience::Addressed);
        }
    }
}

/// The code of the error a subscription ends with (an execution error
/// arrives as `next` with `errors`, then `complete`).
async fn refusal(ws: &mut Ws) -> String {
    let msg = ws.recv().await;
    assert_eq!((msg["type"].as_str(), &msg["payload"]["data"]), (Some("next"), &Value::Null), "{msg}");
    let code = msg["payload"]["errors"][0]["extensions"]["code"].as_str().unwrap().to_owned();
    assert_eq!(ws.recv().await["type"], "complete");
    code
}

async fn expect_expired(app: &TestApp, token: &str, cursor: &str) {
    let mut ws = Ws::init(app, token).await;
    ws.subscribe("r", REFERRAL_EVENTS, json!({ "a": cursor })).await;
    assert_eq!(refusal(&mut ws).await, "CURSOR_EXPIRED");
}

#[tokio::test]
async fn a_cursor_past_the_retention_or_too_far_behind_expires() {
    let w = world().await;
    let app = &w.app;
    let old = cursor_now(&w).await;
    submit(app, &w.partner_user, &w.partner, "Old news").await;
    let recent = cursor_now(&w).await;

    // Too far behind: more than 10,000 events the vendor may see.
    let tx = app.ctx.db.begin().await.unwrap();
    let events: Vec<Event> = (0..10_001).map(|i| test_event(w.vendor_org, &format!("bulk {i}"))).collect();
    events::record_many(&tx, events, app.ctx.now()).await.unwrap();
    tx.commit().await.unwrap();
    app.stamp().await;
    expect_expired(app, &w.vendor, &old).await;
    // The partner saw none of those: it may still resume from the same cursor.
    let mut a = Ws::init(app, &w.partner_user).await;
    a.subscribe("r", REFERRAL_EVENTS, json!({ "a": old })).await;
    assert_eq!(take(&mut a, 1).await[0]["kind"], "REFERRAL_SUBMITTED");

    // Past the retention: after prune-events a week and a day later, both
    // cursors are gone; one from after the prune still resumes.
    let later = app.clock.now_utc() + Duration::days(8);
    app.clock.set(later);
    run_job(app, "PRUNE_EVENTS", later).await;
    expect_expired(app, &w.partner_user, &recent).await;
    let fresh = submit(app, &w.partner_user, &w.partner, "Fresh").await;
    let _ = fresh;
    let now_cursor = cursor_now(&w).await;
    let last = submit(app, &w.partner_user, &w.partner, "After the prune").await;
    let mut a = Ws::init(app, &w.partner_user).await;
    a.subscribe("r", REFERRAL_EVENTS, json!({ "a": now_cursor })).await;
    assert_eq!(take(&mut a, 1).await[0]["referralId"], json!(last));
    // Garbage is a validation error, not an expiry.
    let mut a = Ws::init(app, &w.partner_user).await;
    a.subscribe("r", REFERRAL_EVENTS, json!({ "a": "not-a-cursor" })).await;
    assert_eq!(refusal(&mut a).await, "VALIDATION");
}

const INBOX: &str = "query($s: String, $u: Boolean) { unreadCount notifications(first: 50, since: $s, unreadOnly: $u) {
    totalCount edges { node { id cursor kind message read readAt } } } }";

async fn inbox(app: &TestApp, token: &str, since: Option<&str>, unread_only: bool) -> (i64, Vec<Value>) {
    app.stamp().await;
    let data = app.ok(token, INBOX, json!({ "s": since, "u": unread_only })).await;
    let items = data["notifications"]["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect();
    (data["unreadCount"].as_i64().unwrap(), items)
}

const MARK: &str =
    "mutation($ids: [ID!], $up: String) { markNotificationsRead(ids: $ids, upTo: $up) { unreadCount readUpTo } }";

#[tokio::test]
async fn each_user_of_an_organization_has_their_own_inbox_read_state() {
    let w = world().await;
    let app = &w.app;
    let colleague = app.token("VENDOR", Some(w.vendor_org), "colleague");
    // A first lead may change the partner's status too: done before counting.
    let warm_up = submit(app, &w.partner_user, &w.partner, "Warm-up").await;
    app.ok(
        &w.vendor,
        "mutation($id: ID!) { setReferralStatus(id: $id, status: QUALIFIED) { status } }",
        json!({ "id": warm_up }),
    )
    .await;
    let (start, _) = inbox(app, &w.vendor, None, false).await;
    for i in 0..4 {
        submit(app, &w.partner_user, &w.partner, &format!("Lead {i}")).await;
    }
    let (unread, items) = inbox(app, &w.vendor, None, false).await;
    assert_eq!(unread, start + 4);
    let newest_first: Vec<&str> = items.iter().map(|i| i["message"].as_str().unwrap()).collect();
    assert!(newest_first[0].contains("Lead 3"), "{newest_first:?}");

    // The vendor reads the oldest of the four by id, then everything up to
    // the third.
    let oldest = items[3].clone();
    let marked = app.ok(&w.vendor, MARK, json!({ "ids": [oldest["id"]] })).await;
    assert_eq!(marked["markNotificationsRead"]["unreadCount"], start + 3);
    let third = items[1]["cursor"].as_str().unwrap().to_owned();
    let marked = app.ok(&w.vendor, MARK, json!({ "up": third })).await;
    assert_eq!(
        (marked["markNotificationsRead"]["unreadCount"].as_i64(), marked["markNotificationsRead"]["readUpTo"].as_str()),
        (Some(1), Some(third.as_str()))
    );
    // An older mark changes nothing: the mark only rises.
    let marked = app.ok(&w.vendor, MARK, json!({ "up": items[3]["cursor"] })).await;
    assert_eq!(marked["markNotificationsRead"]["readUpTo"], json!(third));
    let (unread, unread_items) = inbox(app, &w.vendor, None, true).await;
    assert_eq!((unread, unread_items.len()), (1, 1));
    assert_eq!(unread_items[0]["id"], items[0]["id"]);
    let (_, all) = inbox(app, &w.vendor, None, false).await;
    assert!(all[1]["read"].as_bool().unwrap() && !all[0]["read"].as_bool().unwrap() && all[1]["readAt"].is_string());

    // The colleague of the same organization has read nothing.
    let (colleague_unread, _) = inbox(app, &colleague, None, false).await;
    assert_eq!(colleague_unread, start + 4);

    // `since` catches up on what is newer, oldest first.
    submit(app, &w.partner_user, &w.partner, "Lead 4").await;
    submit(app, &w.partner_user, &w.partner, "Lead 5").await;
    let (_, newer) = inbox(app, &w.vendor, Some(items[0]["cursor"].as_str().unwrap()), false).await;
    let messages: Vec<&str> = newer.iter().map(|i| i["message"].as_str().unwrap()).collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(messages[0].contains("Lead 4") && messages[1].contains("Lead 5"), "{messages:?}");

    // Someone else's item cannot be marked; nothing is half-written.
    let (_, of_a) = inbox(app, &w.partner_user, None, false).await;
    let theirs = of_a.first().expect("A was told of the status change");
    let code = app.code(Some(&w.vendor), MARK, json!({ "ids": [items[0]["id"], theirs["id"]] })).await;
    assert_eq!(code, "NOT_FOUND");
    assert_eq!(inbox(app, &w.vendor, None, false).await.0, 3);
    assert_eq!(app.code(Some(&w.vendor), MARK, json!({ "up": "garbage" })).await, "VALIDATION");
}

#[tokio::test]
async fn the_notifications_subscription_keeps_an_unread_count_current() {
    let w = world().await;
    let app = &w.app;
    let (unread, items) = inbox(app, &w.vendor, None, false).await;
    let since = items.first().map(|i| i["cursor"].as_str().unwrap().to_owned());
    let mut ws = Ws::init(app, &w.vendor).await;
    ws.subscribe(
        "n",
        "subscription($a: String) { notifications(after: $a) { cursor kind read } }",
        json!({ "a": since }),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    submit(app, &w.partner_user, &w.partner, "Counted").await;
    let got = take(&mut ws, 1).await;
    assert_eq!(got[0]["read"], false);
    assert_eq!(inbox(app, &w.vendor, None, false).await.0, unread + 1, "one more unread, as the event said");
}

#[tokio::test]
async fn prune_events_keeps_the_inbox_for_ninety_days_and_deliveries_forever() {
    let w = world().await;
    let app = &w.app;
    submit(app, &w.partner_user, &w.partner, "Kept a while").await;
    let (_, before) = inbox(app, &w.vendor, None, false).await;
    assert!(!before.is_empty());
    let deliveries = |db: sea_orm::DatabaseConnection| async move {
        db.query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM delivery",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap()
    };
    // A delivery of one of those items (as the dispatcher writes them).
    use sea_orm::{ActiveModelTrait, Set};
    let now = app.ctx.now();
    entity::delivery::ActiveModel {
        notification_id: Set(row_id(&before[0]["id"])),
        channel: Set(entity::DeliveryChannel::Email),
        recipient: Set("ops@acme.example".into()),
        status: Set(entity::DeliveryStatus::Sent),
        attempts: Set(1),
        next_attempt_at: Set(now),
        sent_at: Set(Some(now)),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&app.ctx.db)
    .await
    .unwrap();
    let sent = deliveries(app.ctx.db.clone()).await;

    let month = app.clock.now_utc() + Duration::days(30);
    run_job(app, "PRUNE_EVENTS", month).await;
    assert_eq!(inbox(app, &w.vendor, None, false).await.1.len(), before.len(), "inbox items live 90 days");
    let later = app.clock.now_utc() + Duration::days(91);
    let run = run_job(app, "PRUNE_EVENTS", later).await;
    assert!(run["itemsTouched"].as_i64().unwrap() >= before.len() as i64, "{run}");
    assert!(inbox(app, &w.vendor, None, false).await.1.is_empty());
    assert_eq!(deliveries(app.ctx.db.clone()).await, sent, "deliveries are never pruned");
    let rerun = run_job(app, "PRUNE_EVENTS", later).await;
    assert_eq!(rerun["itemsTouched"], 0);
}

/// A subscriber that reads nothing while more events pass than the hub
/// keeps for it (here 4) still receives every one, in order: what it fell
/// behind on is read from the outbox.
#[tokio::test]
async fn a_subscriber_that_falls_behind_the_hub_loses_nothing() {
    use futures_util::StreamExt;
    use referral_hub::events::{Hub, replay};
    let w = world().await;
    let app = &w.app;
    app.stamp().await;
    let start = sequence::last_position(&app.ctx.db).await.unwrap();
    let hub = Hub::with_capacity(4);
    let (rx, _) = hub.subscribe();
    let vendor = Principal {
        user_id: 1,
        org_id: Some(w.vendor_org),
        org_kind: Some(entity::OrganizationKind::Vendor),
        role: entity::Role::Vendor,
        name: None,
        expires_at: None,
    };
    let from = replay::From::Now(start);
    let stream = replay::follow(
        std::sync::Arc::new(app.ctx.clone()),
        std::sync::Arc::new(vendor),
        Audience::Addressed,
        hub.clone(),
        rx,
        from,
        |_, n| n.kind == TEST_KIND.as_str(),
    );
    let tx = app.ctx.db.begin().await.unwrap();
    let burst: Vec<Event> = (0..20).map(|i| test_event(w.vendor_org, &format!("burst {i}"))).collect();
    events::record_many(&tx, burst, app.ctx.now()).await.unwrap();
    tx.commit().await.unwrap();
    app.stamp().await;
    // Published while nobody reads the stream: the hub keeps only the last 4.
    let written = notification::Entity::find()
        .filter(notification::Column::Position.gt(start))
        .order_by_asc(notification::Column::Position)
        .all(&app.ctx.db)
        .await
        .unwrap();
    for row in written {
        hub.publish(row);
    }
    let read = stream.take(20).map(|n| n.unwrap().message.clone()).collect::<Vec<String>>();
    let got = tokio::time::timeout(std::time::Duration::from_secs(10), read).await.expect("all 20 within 10 s");
    assert_eq!(got, (0..20).map(|i| format!("burst {i}")).collect::<Vec<_>>());
}
