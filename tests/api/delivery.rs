//! E-mail and webhook delivery: the other side's users get one e-mail per
//! change, vendors' endpoints get signed POSTs, failures retry with backoff
//! and never block the change, and a dispatcher that was down catches up
//! exactly once.

use std::sync::{Arc, Mutex};

use crate::common::*;
use axum::http::{HeaderMap, StatusCode};
use chrono::Duration;
use entity::{delivery, delivery_attempt};
use referral_hub::events::webhook;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// One message as the SMTP server received it.
#[derive(Debug, Clone)]
struct Mail {
    to: Vec<String>,
    data: String,
}

/// A minimal SMTP server: enough of RFC 5321 for lettre to hand over mail.
async fn smtp_server() -> (String, Arc<Mutex<Vec<Mail>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("smtp://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let inbox = Arc::new(Mutex::new(Vec::new()));
    let store = inbox.clone();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else { return };
            let store = store.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                let _ = write.write_all(b"220 test ESMTP\r\n").await;
                let mut to = Vec::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    let upper = line.to_ascii_uppercase();
                    let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                        b"250 test\r\n"
                    } else if upper.starts_with("RCPT TO:") {
                        to.push(line[8..].trim().trim_matches(|c| c == '<' || c == '>').to_owned());
                        b"250 OK\r\n"
                    } else if upper.starts_with("DATA") {
                        let _ = write.write_all(b"354 go ahead\r\n").await;
                        let mut data = String::new();
                        while let Ok(Some(l)) = lines.next_line().await {
                            if l == "." {
                                break;
                            }
                            data.push_str(&l);
                            data.push('\n');
                        }
                        store.lock().unwrap().push(Mail { to: std::mem::take(&mut to), data });
                        b"250 OK queued\r\n"
                    } else if upper.starts_with("QUIT") {
                        let _ = write.write_all(b"221 bye\r\n").await;
                        return;
                    } else {
                        b"250 OK\r\n"
                    };
                    if write.write_all(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, inbox)
}

/// One POST as the webhook receiver got it.
#[derive(Debug, Clone)]
struct Hook {
    headers: HeaderMap,
    body: String,
}

/// A webhook receiver that answers `status` and records each request.
async fn webhook_receiver(status: u16) -> (String, Arc<Mutex<Vec<Hook>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let store = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let store = store.clone();
            async move {
                store.lock().unwrap().push(Hook { headers, body });
                StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://127.0.0.1:{}/hook", listener.local_addr().unwrap().port());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

/// A token whose user has an e-mail address (users are provisioned from it).
fn token_with_email(app: &TestApp, role: &str, org: i64, sub: &str, email: &str) -> String {
    let req = referral_hub::auth::MintRequest {
        subject: sub.into(),
        role: role.into(),
        org: Some(org),
        lifetime: Duration::days(3650),
        name: None,
        email: Some(email.into()),
    };
    app.keys.mint(&req, app.clock.now_utc()).unwrap()
}

struct World {
    vendor: String,
    vendor_org: i64,
    partner: String,
    partner_users: Vec<String>,
}

/// A vendor (its staff has an e-mail) and a partner organization with two
/// users with e-mail, linked to one partner record.
async fn world(app: &TestApp) -> World {
    let vendor_org = app.organization("Acme", "VENDOR").await;
    let vendor = token_with_email(app, "VENDOR", vendor_org, "dana", "dana@acme.example");
    let program = app.ok(&vendor, "mutation { createProgram(input: { name: \"Main\" }) { id } }", json!({})).await["createProgram"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let partner = app.partner(&vendor, &program, "Realty", "LIVE").await;
    let invite = app.read_partner(&vendor, &partner, "inviteCode").await["inviteCode"].as_str().unwrap().to_owned();
    let org = app.organization("Realty Inc", "PARTNER").await;
    let users: Vec<String> = ["ann", "bob"]
        .iter()
        .map(|u| token_with_email(app, "PARTNER", org, u, &format!("{u}@realty.example")))
        .collect();
    for u in &users {
        app.ok(u, "{ me { id } }", json!({})).await;
    }
    app.ok(&users[0], "mutation($c: String!) { acceptPartnerInvite(code: $c) { id } }", json!({ "c": invite })).await;
    World { vendor, vendor_org, partner, partner_users: users }
}

async fn submit(app: &TestApp, w: &World, name: &str) -> String {
    let q = "mutation($i: SubmitReferralInput!) { submitReferral(input: $i) { id } }";
    let data =
        app.ok(&w.partner_users[0], q, json!({ "i": { "partnerId": w.partner, "lead": { "name": name } } })).await;
    data["submitReferral"]["id"].as_str().unwrap().to_owned()
}

async fn dispatch(app: &TestApp) -> Value {
    run_job(app, "NOTIFICATION_DISPATCH", app.clock.now_utc()).await
}

#[tokio::test]
async fn the_other_sides_users_get_one_email_per_change() {
    let (smtp, inbox) = smtp_server().await;
    let app = spawn_app_with(|c| c.smtp_url = Some(smtp.clone())).await;
    let w = world(&app).await;
    let id = submit(&app, &w, "Jane").await;
    dispatch(&app).await;
    inbox.lock().unwrap().clear();
    app.ok(
        &w.vendor,
        "mutation($id: ID!) { setReferralStatus(id: $id, status: QUALIFIED) { status } }",
        json!({ "id": id }),
    )
    .await;
    let run = dispatch(&app).await;
    assert_eq!(run["error"], json!(null));
    let mut to: Vec<String> = inbox.lock().unwrap().iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    assert_eq!(to, ["ann@realty.example", "bob@realty.example"], "both partner users, not the vendor who acted");
    let mail = inbox.lock().unwrap()[0].data.clone();
    assert!(mail.contains("is now QUALIFIED"), "{mail}");
    // Running again sends nothing more.
    dispatch(&app).await;
    assert_eq!(inbox.lock().unwrap().len(), 2);
    let attempts = delivery_attempt::Entity::find().count(&app.ctx.db).await.unwrap();
    let deliveries = delivery::Entity::find().count(&app.ctx.db).await.unwrap();
    assert_eq!(attempts, deliveries, "every delivery was tried once and recorded");
}

#[tokio::test]
async fn an_smtp_outage_never_blocks_the_change_and_is_retried_with_backoff() {
    // An SMTP server that hangs up at once. The port stays bound, so no
    // parallel test's listener can take it over (a freed port once did, and
    // the send waited for a greeting that never came).
    let down = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("smtp://127.0.0.1:{}", down.local_addr().unwrap().port());
    tokio::spawn(async move {
        while let Ok((socket, _)) = down.accept().await {
            drop(socket);
        }
    });
    let app = spawn_app_with(|c| c.smtp_url = Some(url.clone())).await;
    let w = world(&app).await;
    submit(&app, &w, "Jane").await;
    let run = dispatch(&app).await;
    assert_eq!(run["error"], json!(null), "a failed send is the delivery's problem, not the run's");
    let rows = delivery::Entity::find().all(&app.ctx.db).await.unwrap();
    let mail = rows.iter().find(|d| d.recipient == "dana@acme.example").expect("the vendor is e-mailed");
    assert_eq!((mail.attempts, mail.status), (1, entity::DeliveryStatus::Pending));
    assert_eq!(mail.next_attempt_at, app.clock.now_utc() + Duration::seconds(30));
    // Not due yet: no new attempt.
    dispatch(&app).await;
    let again = delivery::Entity::find_by_id(mail.id).one(&app.ctx.db).await.unwrap().unwrap();
    assert_eq!(again.attempts, 1);
    app.clock.advance(Duration::seconds(31));
    dispatch(&app).await;
    let later = delivery::Entity::find_by_id(mail.id).one(&app.ctx.db).await.unwrap().unwrap();
    assert_eq!(later.attempts, 2);
    assert_eq!(later.next_attempt_at, app.clock.now_utc() + Duration::seconds(60));
}

#[tokio::test]
async fn webhooks_are_signed_and_their_deliveries_queryable() {
    let (url, received) = webhook_receiver(200).await;
    let app = spawn_app().await;
    let w = world(&app).await;
    // An endpoint receives the events from its registration on.
    app.clock.advance(Duration::seconds(1));
    let created = app
        .ok(
            &w.vendor,
            "mutation($u: String!) { createWebhookEndpoint(url: $u) { secret endpoint { id active } } }",
            json!({ "u": url }),
        )
        .await["createWebhookEndpoint"]
        .clone();
    let secret = created["secret"].as_str().unwrap().to_owned();
    dispatch(&app).await;
    assert!(received.lock().unwrap().is_empty(), "nothing from before the registration");
    submit(&app, &w, "Hooked").await;
    dispatch(&app).await;
    let hooks = received.lock().unwrap().clone();
    assert_eq!(hooks.len(), 1);
    let hook = &hooks[0];
    let signature = hook.headers[webhook::SIGNATURE_HEADER].to_str().unwrap();
    assert!(webhook::verify(&secret, signature, hook.body.as_bytes(), app.clock.now_utc().timestamp()));
    assert!(!webhook::verify("whsec_wrong", signature, hook.body.as_bytes(), app.clock.now_utc().timestamp()));
    let body: Value = serde_json::from_str(&hook.body).unwrap();
    assert_eq!(body["kind"], "REFERRAL_SUBMITTED");
    assert_eq!(hook.headers[webhook::EVENT_HEADER], "REFERRAL_SUBMITTED");
    let q =
        "{ webhookEndpoints { deliveries { totalCount edges { node { status channel attempts { ok detail } } } } } }";
    let listed = app.ok(&w.vendor, q, json!({})).await;
    let d = &listed["webhookEndpoints"][0]["deliveries"];
    assert_eq!(d["totalCount"], 1);
    assert_eq!(
        d["edges"][0]["node"],
        json!({ "status": "SENT", "channel": "WEBHOOK", "attempts": [{ "ok": true, "detail": "HTTP 200" }] })
    );
    // Partners have no webhooks.
    assert_eq!(app.code(Some(&w.partner_users[0]), "{ webhookEndpoints { id } }", json!({})).await, "FORBIDDEN");
}

#[tokio::test]
async fn a_failing_endpoint_is_retried_and_then_disabled() {
    let (url, received) = webhook_receiver(500).await;
    let app = spawn_app().await;
    let w = world(&app).await;
    app.ok(&w.vendor, "mutation($u: String!) { createWebhookEndpoint(url: $u) { secret } }", json!({ "u": url })).await;
    for i in 0..10 {
        submit(&app, &w, &format!("Lead {i}")).await;
    }
    dispatch(&app).await;
    let q = "{ webhookEndpoints { id active consecutiveFailures disabledAt } }";
    let e = app.ok(&w.vendor, q, json!({})).await["webhookEndpoints"][0].clone();
    assert_eq!((e["active"].as_bool(), e["consecutiveFailures"].as_i64()), (Some(false), Some(10)));
    assert!(e["disabledAt"].is_string());
    let tried = received.lock().unwrap().len();
    // Later retries of a disabled endpoint give up without calling it.
    app.clock.advance(Duration::hours(7));
    dispatch(&app).await;
    assert_eq!(received.lock().unwrap().len(), tried);
    let dead = delivery::Entity::find().all(&app.ctx.db).await.unwrap();
    assert!(
        dead.iter()
            .filter(|d| d.channel == entity::DeliveryChannel::Webhook)
            .all(|d| d.status == entity::DeliveryStatus::Dead)
    );
    // Enabling it again resets the count.
    let enabled = app
        .ok(
            &w.vendor,
            "mutation($id: ID!) { enableWebhookEndpoint(id: $id) { active consecutiveFailures } }",
            json!({ "id": e["id"] }),
        )
        .await;
    assert_eq!(enabled["enableWebhookEndpoint"], json!({ "active": true, "consecutiveFailures": 0 }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dispatcher_that_was_down_catches_up_exactly_once() {
    let (smtp, inbox) = smtp_server().await;
    let (url, received) = webhook_receiver(200).await;
    let app = spawn_app_with(|c| c.smtp_url = Some(smtp.clone())).await;
    let w = world(&app).await;
    app.ok(&w.vendor, "mutation($u: String!) { createWebhookEndpoint(url: $u) { secret } }", json!({ "u": url })).await;
    dispatch(&app).await;
    inbox.lock().unwrap().clear();
    received.lock().unwrap().clear();
    // The change commits while no dispatcher runs…
    let id = submit(&app, &w, "While down").await;
    app.ok(
        &w.vendor,
        "mutation($id: ID!) { setReferralStatus(id: $id, status: DENIED) { status } }",
        json!({ "id": id }),
    )
    .await;
    assert!(inbox.lock().unwrap().is_empty());
    // …then two servers (the restarted one and another) dispatch at once, twice.
    let second = spawn_peer(&app).await;
    let peer_smtp = referral_hub::outbound::Channels::new(Some(&smtp), "hub@example.com", true).unwrap();
    let second_ctx = second.ctx.clone().with_channels(peer_smtp);
    let as_of = app.clock.now_utc();
    for _ in 0..2 {
        let (a, b) = tokio::join!(
            referral_hub::events::dispatch::run(&app.ctx, as_of),
            referral_hub::events::dispatch::run(&second_ctx, as_of)
        );
        a.unwrap();
        b.unwrap();
    }
    let mails = inbox.lock().unwrap().clone();
    let mut to: Vec<String> = mails.iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    // The submission went to the vendor; the denial to both partner users.
    assert_eq!(to, ["ann@realty.example", "bob@realty.example", "dana@acme.example"]);
    let kinds: Vec<String> = received
        .lock()
        .unwrap()
        .iter()
        .map(|h| serde_json::from_str::<Value>(&h.body).unwrap()["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds.len(), 2, "one webhook per event: {kinds:?}");
    assert!(kinds.contains(&"REFERRAL_SUBMITTED".to_owned()) && kinds.contains(&"REFERRAL_STATUS_CHANGED".to_owned()));
}

/// Outside development a vendor's webhook URL must not reach this server's
/// own network: registration refuses loopback, private and link-local
/// addresses and localhost names, and delivery refuses an endpoint stored
/// with one all the same, recording why.
#[tokio::test]
async fn webhooks_never_reach_private_addresses() {
    use sea_orm::{ActiveModelTrait, Set};
    let (url, received) = webhook_receiver(200).await;
    let app = spawn_app_with(|c| c.webhook_private_targets = false).await;
    let w = world(&app).await;
    let create = "mutation($u: String!) { createWebhookEndpoint(url: $u) { secret } }";
    for target in
        [url.as_str(), "http://169.254.169.254/latest/meta-data", "http://[::1]:8080/", "http://localhost:3000/"]
    {
        let e = app.error(Some(&w.vendor), create, json!({ "u": target })).await;
        assert_eq!(e["extensions"]["code"], "VALIDATION", "{target}: {e}");
        assert!(e["message"].as_str().unwrap().contains("non-public"), "{e}");
    }
    // An endpoint stored before the check (or by hand) is refused at delivery.
    entity::webhook_endpoint::ActiveModel {
        vendor_org_id: Set(w.vendor_org),
        url: Set(url.clone()),
        secret: Set("whsec_test".into()),
        active: Set(true),
        consecutive_failures: Set(0),
        disabled_at: Set(None),
        created_at: Set(app.clock.now_utc()),
        ..Default::default()
    }
    .insert(&app.ctx.db)
    .await
    .unwrap();
    submit(&app, &w, "Probe").await;
    dispatch(&app).await;
    assert!(received.lock().unwrap().is_empty());
    let q = "{ webhookEndpoints { deliveries { edges { node { attempts { ok detail } } } } } }";
    let listed = app.ok(&w.vendor, q, json!({})).await;
    let attempt = &listed["webhookEndpoints"][0]["deliveries"]["edges"][0]["node"]["attempts"][0];
    assert_eq!(attempt["ok"], false);
    assert!(attempt["detail"].as_str().unwrap().contains("non-public"), "{attempt}");
}

/// The webhook client resolves names to public addresses only, so a name
/// that points at this machine fails at connection time; with private
/// targets allowed the same request arrives.
#[tokio::test]
async fn the_webhook_client_connects_to_public_addresses_only() {
    use referral_hub::outbound::Channels;
    let (url, received) = webhook_receiver(200).await;
    let by_name = url.replace("127.0.0.1", "localhost");
    let strict = Channels::new(None, "hub@example.com", false).unwrap();
    let refused = strict.http.post(&by_name).body("{}").send().await.unwrap_err();
    assert!(format!("{refused:?}").contains("no public address"), "{refused:?}");
    assert!(received.lock().unwrap().is_empty());
    let open = Channels::new(None, "hub@example.com", true).unwrap();
    assert_eq!(open.http.post(&by_name).body("{}").send().await.unwrap().status(), 200);
    assert_eq!(received.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_partner_not_yet_linked_is_mailed_each_change_on_the_first_dispatch() {
    let (smtp, inbox) = smtp_server().await;
    let app = spawn_app_with(|c| c.smtp_url = Some(smtp.clone())).await;
    let (_, vendor, program) = app.vendor("Acme").await;
    let q = "mutation($p: ID!) { createPartner(input: { programId: $p, name: \"Solo\", contactEmail: \"solo@partner.example\" }) { id } }";
    let partner = app.ok(&vendor, q, json!({ "p": program })).await["createPartner"]["id"].clone();
    // The dispatcher's run started a moment before the change committed
    // (its asOf is earlier than the delivery's creation): still sent now.
    let dispatch_from_before = || run_job(&app, "NOTIFICATION_DISPATCH", app.clock.now_utc() - Duration::seconds(1));
    dispatch_from_before().await;
    assert!(inbox.lock().unwrap().is_empty(), "creating the record is the vendor's own bookkeeping");
    for (mutation, expect) in
        [("sendTerms", "SEND_TERMS"), ("recordTermsSigned", "TERMS_SIGNED"), ("endPartner", "END")]
    {
        let q = format!("mutation($id: ID!) {{ {mutation}(id: $id) {{ id }} }}");
        app.ok(&vendor, &q, json!({ "id": partner })).await;
        dispatch_from_before().await;
        let mails = inbox.lock().unwrap().clone();
        let last = mails.last().unwrap_or_else(|| panic!("no mail after {mutation}"));
        assert_eq!(last.to, ["solo@partner.example"]);
        assert!(last.data.contains(expect), "{mutation}: {}", last.data);
    }
    assert_eq!(inbox.lock().unwrap().len(), 3, "one mail per change");
}

#[tokio::test]
async fn emails_are_written_for_people_with_the_note_and_a_link() {
    let (smtp, inbox) = smtp_server().await;
    let app = spawn_app_with(|c| {
        c.smtp_url = Some(smtp.clone());
        c.public_app_url = Some("https://app.example.com".into());
    })
    .await;
    let w = world(&app).await;
    let id = submit(&app, &w, "Jane").await;
    dispatch(&app).await;
    inbox.lock().unwrap().clear();
    let q = "mutation($id: ID!) { setReferralStatus(id: $id, status: REQUIRES_INFO, note: \"Which budget?\") { referenceId } }";
    let reference = app.ok(&w.vendor, q, json!({ "id": id })).await["setReferralStatus"]["referenceId"].clone();
    dispatch(&app).await;
    let mail = quoted_printable(&inbox.lock().unwrap()[0].data);
    let subject = mail.lines().find(|l| l.starts_with("Subject:")).unwrap().to_owned();
    assert!(subject.contains(reference.as_str().unwrap()) && subject.contains("REQUIRES_INFO"), "{subject}");
    assert!(mail.contains("> Which budget?"), "{mail}");
    let encoded = id.replace('/', "%2F");
    assert!(mail.contains(&format!("Open it: https://app.example.com/referrals/{encoded}")), "{mail}");
    assert!(!mail.contains("Details: {"), "no JSON dump: {mail}");
}

/// The text of a quoted-printable body (soft line breaks joined, `=XX` decoded).
fn quoted_printable(data: &str) -> String {
    let joined = data.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len() + 1
            && let Ok(b) = u8::from_str_radix(&joined[i + 1..(i + 3).min(joined.len())], 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
