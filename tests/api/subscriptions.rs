//! Live events over `graphql-transport-ws`: the protocol's rules, who
//! receives what, and events crossing servers that share a database.

use crate::common::{self, *};
use chrono::Duration;
use serde_json::{Value, json};

const REFERRAL_EVENTS: &str = "subscription($f: ReferralEventFilter) { referralEvents(filter: $f) { kind referralId referenceId status message } }";
const PARTNER_EVENTS: &str = "subscription { partnerEvents { kind partnerId status } }";

#[tokio::test]
async fn protocol_rules_close_with_the_specified_codes() {
    let app = spawn_app_with(|c| c.ws_init_timeout_secs = 1).await;
    let token = app.admin();

    // No connection_init in time.
    let mut ws = Ws::connect(&app).await;
    assert_eq!(ws.closed().await, 4408);
    // A bad token.
    let mut ws = Ws::connect(&app).await;
    ws.send(json!({ "type": "connection_init", "payload": { "Authorization": "Bearer nope" } })).await;
    assert_eq!(ws.closed().await, 4403);
    // No token at all: subscriptions need a caller.
    let mut ws = Ws::connect(&app).await;
    ws.send(json!({ "type": "connection_init" })).await;
    assert_eq!(ws.closed().await, 4403);
    // A second init.
    let mut ws = Ws::init(&app, &token).await;
    ws.send(json!({ "type": "connection_init", "payload": {} })).await;
    assert_eq!(ws.closed().await, 4429);
    // Subscribe before the ack.
    let mut ws = Ws::connect(&app).await;
    ws.subscribe("1", PARTNER_EVENTS, json!({})).await;
    assert_eq!(ws.closed().await, 4401);
    // A duplicate id.
    let mut ws = Ws::init(&app, &token).await;
    ws.subscribe("a", PARTNER_EVENTS, json!({})).await;
    ws.subscribe("a", PARTNER_EVENTS, json!({})).await;
    assert_eq!(ws.closed().await, 4409);
    // An invalid message.
    let mut ws = Ws::init(&app, &token).await;
    ws.send(json!({ "type": "hello" })).await;
    assert_eq!(ws.closed().await, 4400);
    let mut ws = Ws::init(&app, &token).await;
    ws.send(json!("not an object")).await;
    assert_eq!(ws.closed().await, 4400);
    // Ping gets pong.
    let mut ws = Ws::init(&app, &token).await;
    ws.send(json!({ "type": "ping" })).await;
    assert_eq!(ws.recv().await, json!({ "type": "pong" }));
}

#[tokio::test]
async fn a_socket_closes_when_its_token_expires() {
    let app = spawn_app().await;
    let org = app.organization("Acme", "VENDOR").await;
    let req = referral_hub::auth::MintRequest {
        subject: "short".into(),
        role: "VENDOR".into(),
        org: Some(org),
        lifetime: Duration::seconds(1),
        name: None,
        email: None,
    };
    let token = app.keys.mint(&req, app.clock.now_utc()).unwrap();
    let mut ws = Ws::init(&app, &token).await;
    assert_eq!(ws.closed().await, 4403);
}

#[tokio::test]
async fn queries_errors_and_limits_over_the_socket() {
    let app = spawn_app().await;
    let mut ws = Ws::init(&app, &app.admin()).await;
    ws.subscribe("q", "{ me { role } }", json!({})).await;
    assert_eq!(
        ws.recv().await,
        json!({ "type": "next", "id": "q", "payload": { "data": { "me": { "role": "ADMIN" } } } })
    );
    assert_eq!(ws.recv().await, json!({ "type": "complete", "id": "q" }));
    ws.subscribe("bad", "subscription { nope }", json!({})).await;
    let err = ws.recv().await;
    assert_eq!((err["type"].as_str(), err["id"].as_str()), (Some("error"), Some("bad")));
    for i in 0..32 {
        ws.subscribe(&format!("s{i}"), PARTNER_EVENTS, json!({})).await;
    }
    ws.subscribe("one-too-many", PARTNER_EVENTS, json!({})).await;
    let err = ws.recv().await;
    assert_eq!((err["type"].as_str(), err["id"].as_str()), (Some("error"), Some("one-too-many")));
    // Completing one frees a place.
    ws.send(json!({ "type": "complete", "id": "s0" })).await;
    ws.send(json!({ "type": "ping" })).await;
    assert_eq!(ws.recv().await["type"], "pong");
}

// Vendor Acme with Partner A (`partner`, its user `partner_user`) and
// Partner B's user, each linked to its own organization.
local_world!(user_b: String);

/// Lets the relay publish what earlier requests wrote, so that a new
/// subscription starts after them (events are delivered from the moment of
/// subscribing).
async fn settle() {
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
}

async fn world(app: TestApp) -> World {
    let base = common::World::build().on(app).partner_named("A").done().await;
    let (_, user_b) = base.app.linked_partner_named(&base.vendor, &base.program, "B").await;
    settle().await;
    World { base, user_b }
}

async fn submit(app: &TestApp, token: &str, partner: &str, name: &str) -> String {
    let q = "mutation($i: SubmitReferralInput!) { submitReferral(input: $i) { id } }";
    let data = app.ok(token, q, json!({ "i": { "partnerId": partner, "lead": { "name": name } } })).await;
    data["submitReferral"]["id"].as_str().unwrap().to_owned()
}

async fn next_event(ws: &mut Ws) -> Value {
    let msg = ws.recv().await;
    assert_eq!(msg["type"], "next", "{msg}");
    let data = &msg["payload"]["data"];
    data.as_object().unwrap().values().next().unwrap().clone()
}

#[tokio::test]
async fn each_subscriber_receives_what_it_may_see_and_nothing_else() {
    let w = world(spawn_app().await).await;
    let app = &w.app;
    let mut vendor = Ws::init(app, &w.vendor).await;
    let mut a = Ws::init(app, &w.partner_user).await;
    let mut b = Ws::init(app, &w.user_b).await;
    let (_, stranger, _) = app.vendor("Stranger").await;
    let mut other_vendor = Ws::init(app, &stranger).await;
    for ws in [&mut vendor, &mut a, &mut b, &mut other_vendor] {
        ws.subscribe("r", REFERRAL_EVENTS, json!({})).await;
    }
    settle().await;

    let id = submit(app, &w.partner_user, &w.partner, "Lead of A").await;
    let seen = next_event(&mut vendor).await;
    assert_eq!(
        (seen["kind"].as_str(), seen["referralId"].as_str(), seen["status"].as_str()),
        (Some("REFERRAL_SUBMITTED"), Some(id.as_str()), Some("PENDING"))
    );
    assert_eq!(next_event(&mut a).await["kind"], "REFERRAL_SUBMITTED");

    // An INTERNAL note is not an event; a status change is.
    app.ok(
        &w.vendor,
        "mutation($id: ID!) { addNote(referralId: $id, body: \"internal\", visibility: INTERNAL) { id } }",
        json!({ "id": id }),
    )
    .await;
    app.ok(
        &w.vendor,
        "mutation($id: ID!) { setReferralStatus(id: $id, status: QUALIFIED) { status } }",
        json!({ "id": id }),
    )
    .await;
    let changed = next_event(&mut a).await;
    assert_eq!(
        (changed["kind"].as_str(), changed["status"].as_str()),
        (Some("REFERRAL_STATUS_CHANGED"), Some("QUALIFIED"))
    );
    assert_eq!(next_event(&mut vendor).await["kind"], "REFERRAL_STATUS_CHANGED");

    // B and the other vendor saw none of it: their first event is their own.
    let partner_b = app.ok(&w.user_b, "{ partners { edges { node { id } } } }", json!({})).await["partners"]["edges"]
        [0]["node"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    submit(app, &w.user_b, &partner_b, "Lead of B").await;
    let first_of_b = next_event(&mut b).await;
    assert!(first_of_b["referenceId"].is_string());
    assert_ne!(first_of_b["referralId"], json!(id), "B never sees A's referral");
    let (_, stranger_program) =
        (0, app.ok(&stranger, "{ programs { id } }", json!({})).await["programs"][0]["id"].clone());
    let direct = json!({ "i": { "programId": stranger_program, "lead": { "name": "Own lead" } } });
    app.ok(&stranger, "mutation($i: SubmitReferralInput!) { submitReferral(input: $i) { id } }", direct).await;
    let first_of_stranger = next_event(&mut other_vendor).await;
    assert_ne!(first_of_stranger["referralId"], json!(id));
    assert_eq!(first_of_stranger["kind"], "REFERRAL_SUBMITTED");
}

#[tokio::test]
async fn partner_events_and_the_notifications_feed() {
    let w = world(spawn_app().await).await;
    let app = &w.app;
    let mut a = Ws::init(app, &w.partner_user).await;
    a.subscribe("p", PARTNER_EVENTS, json!({})).await;
    a.subscribe("n", "subscription { notifications { kind message } }", json!({})).await;
    let mut vendor = Ws::init(app, &w.vendor).await;
    vendor.subscribe("p", PARTNER_EVENTS, json!({})).await;
    settle().await;

    app.ok(&w.vendor, "mutation($id: ID!) { recordTermsSigned(id: $id) { status } }", json!({ "id": w.partner })).await;
    let mut kinds = Vec::new();
    for _ in 0..2 {
        let msg = a.recv().await;
        kinds.push((msg["id"].as_str().unwrap().to_owned(), msg["payload"]["data"].to_string()));
    }
    kinds.sort();
    assert!(kinds[0].1.contains("PARTNER_STATUS_CHANGED") && kinds[0].0 == "n", "{kinds:?}");
    assert!(kinds[1].1.contains("PARTNER_STATUS_CHANGED") && kinds[1].0 == "p", "{kinds:?}");
    let seen = next_event(&mut vendor).await;
    assert_eq!(
        (seen["kind"].as_str(), seen["partnerId"].as_str()),
        (Some("PARTNER_STATUS_CHANGED"), Some(w.partner.as_str()))
    );

    // A lapse is the vendor's own classification: partners do not see it.
    let id = submit(app, &w.partner_user, &w.partner, "Lead").await;
    let _ = id;
    // Drain the submission notice to the vendor side (A does not get it: it made the change).
    run_job(app, "LAPSE_PARTNERS", app.clock.now_utc() + Duration::days(31)).await;
    let lapsed = next_event(&mut vendor).await;
    assert_eq!((lapsed["kind"].as_str(), lapsed["status"].as_str()), (Some("PARTNER_LAPSED"), Some("LAPSED")));
    app.ok(&w.vendor, "mutation($id: ID!) { endPartner(id: $id) { status } }", json!({ "id": w.partner })).await;
    let next = a.recv().await;
    assert!(
        next["payload"]["data"].to_string().contains("PARTNER_STATUS_CHANGED"),
        "A's next event is the end, not the lapse: {next}"
    );
}

#[tokio::test]
async fn events_reach_subscribers_on_another_server_sharing_the_database() {
    let w = world(spawn_app().await).await;
    let second = spawn_peer(&w.app).await;
    let mut ws = Ws::init(&second, &w.partner_user).await;
    ws.subscribe("r", REFERRAL_EVENTS, json!({ "f": { "partnerId": w.partner } })).await;
    settle().await;
    // The change happens on the first server.
    let id = submit(&w.app, &w.partner_user, &w.partner, "Across").await;
    let seen = next_event(&mut ws).await;
    assert_eq!((seen["kind"].as_str(), seen["referralId"].as_str()), (Some("REFERRAL_SUBMITTED"), Some(id.as_str())));
    let _ = &w.program;
}
