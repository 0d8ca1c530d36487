//! Billing (PRODUCT.md §6): month-end and threshold invoices per (vendor,
//! currency), unique keys against double billing, the invoice lifecycle and
//! what it does to rewards.

use crate::common::{self, *};
use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use serde_json::{Value, json};

local_world!();

/// A vendor with a FLAT 1000 program rewarding on APPROVED, and a linked partner.
async fn world() -> World {
    World::on(spawn_app().await).await
}

impl World {
    async fn on(app: TestApp) -> World {
        let program = json!({ "rewardModel": "FLAT", "rewardAmountMinor": 1000, "rewardTrigger": "APPROVED" });
        World { base: common::World::build().on(app).program(program).done().await }
    }
}

const INVOICE: &str = "id kind month status totalMinor lineCount paymentReference failureReason
    lines { totalCount edges { node { amountMinor live } } }";

impl World {
    /// A referral submitted and approved: one reward earned now.
    async fn approved(&self, name: &str) -> String {
        let input = json!({ "partnerId": self.partner, "lead": { "name": name } });
        let q = "mutation($i: SubmitReferralInput!) { submitReferral(input: $i) { id } }";
        let id = self.app.ok(&self.vendor, q, json!({ "i": input })).await["submitReferral"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        self.set_status(&id, "APPROVED").await;
        id
    }

    async fn set_status(&self, id: &str, status: &str) {
        let q = "mutation($id: ID!, $s: ReferralStatus!) { setReferralStatus(id: $id, status: $s) { status } }";
        self.app.ok(&self.vendor, q, json!({ "id": id, "s": status })).await;
    }

    async fn invoices(&self, token: &str) -> Vec<Value> {
        let q = format!("{{ invoices {{ totalCount edges {{ node {{ {INVOICE} }} }} }} }}");
        let data = self.app.ok(token, &q, json!({})).await;
        data["invoices"]["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect()
    }

    async fn reward_statuses(&self) -> Vec<String> {
        let q = "{ rewards { edges { node { status } } } }";
        let data = self.app.ok(&self.vendor, q, json!({})).await;
        let mut s: Vec<String> = data["rewards"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["status"].as_str().unwrap().to_owned())
            .collect();
        s.sort();
        s
    }

    async fn admin_move(&self, mutation: &str, id: &Value, extra: &str) -> Result<Value, Value> {
        let q = format!("mutation($id: ID!) {{ {mutation}(id: $id{extra}) {{ {INVOICE} }} }}");
        let (_, body) = self.app.post(Some(&self.app.admin()), &q, json!({ "id": id })).await;
        if body["errors"].is_array() { Err(body["errors"][0].clone()) } else { Ok(body["data"][mutation].clone()) }
    }
}

/// 01:00 on the first of the month after `t`.
fn next_month(t: DateTime<Utc>) -> DateTime<Utc> {
    let (y, m) = if t.month() == 12 { (t.year() + 1, 1) } else { (t.year(), t.month() + 1) };
    Utc.with_ymd_and_hms(y, m, 1, 1, 0, 0).unwrap()
}

#[tokio::test]
async fn month_end_bills_once_and_payment_pays_the_partner() {
    let w = world().await;
    let a = w.approved("Ann").await;
    w.approved("Bob").await;
    let now = w.app.clock.now_utc();
    let close = next_month(now);
    // Twice, and twice at once as two servers would: one invoice.
    let first = run_job(&w.app, "BILL_MONTH_END", close).await;
    assert_eq!(first["itemsTouched"], 2);
    let (x, y) = tokio::join!(run_job(&w.app, "BILL_MONTH_END", close), run_job(&w.app, "BILL_MONTH_END", close));
    assert_eq!((x["itemsTouched"].as_i64(), y["itemsTouched"].as_i64()), (Some(0), Some(0)));
    let invoices = w.invoices(&w.vendor).await;
    assert_eq!(invoices.len(), 1);
    let inv = &invoices[0];
    let month = format!("{:04}-{:02}", now.year(), now.month());
    assert_eq!(
        (&inv["kind"], &inv["month"], &inv["status"], &inv["totalMinor"], &inv["lineCount"]),
        (&json!("MONTH_END"), &json!(month), &json!("OPEN"), &json!(2000), &json!(2))
    );
    assert_eq!(w.reward_statuses().await, ["BILLED", "BILLED"]);
    // A reward earned after the month closed waits for the next month end.
    w.app.clock.advance(Duration::days(40));
    w.approved("Cid").await;
    run_job(&w.app, "BILL_MONTH_END", close).await;
    assert_eq!(w.invoices(&w.vendor).await.len(), 1);
    let later = run_job(&w.app, "BILL_MONTH_END", next_month(w.app.clock.now_utc())).await;
    assert_eq!(later["itemsTouched"], 1);
    assert_eq!(w.invoices(&w.vendor).await.len(), 2);
    // Payment (ADMIN, the manual gateway) pays the rewards out.
    let paid = w.admin_move("markInvoicePaid", &inv["id"], ", paymentReference: \"wire 42\"").await.unwrap();
    assert_eq!((&paid["status"], &paid["paymentReference"]), (&json!("PAID"), &json!("wire 42")));
    assert_eq!(w.reward_statuses().await, ["BILLED", "PAID_OUT", "PAID_OUT"]);
    let view = "query($id: ID!) { referral(id: $id) { payoutView } }";
    assert_eq!(w.app.ok(&w.vendor, view, json!({ "id": a })).await["referral"]["payoutView"], "PAID_OUT");
    assert_eq!(w.app.notices(&w.partner_user, "REWARDS_PAID_OUT").await.len(), 1);
    // Paying again changes nothing; a paid invoice is final.
    assert_eq!(w.admin_move("markInvoicePaid", &inv["id"], "").await.unwrap()["status"], "PAID");
    let refused = w.admin_move("voidInvoice", &inv["id"], "").await.unwrap_err();
    assert_eq!(refused["extensions"]["code"], "INVALID_TRANSITION");
}

#[tokio::test]
async fn invoices_belong_to_their_vendor_and_only_admin_moves_them() {
    let w = world().await;
    w.approved("Ann").await;
    run_job(&w.app, "BILL_MONTH_END", next_month(w.app.clock.now_utc())).await;
    let inv = w.invoices(&w.vendor).await[0].clone();
    let (_, other, _) = w.app.vendor("Other").await;
    assert!(w.invoices(&other).await.is_empty());
    assert_eq!(w.invoices(&w.app.admin()).await.len(), 1);
    let read = "query($id: ID!) { invoice(id: $id) { id } }";
    assert_eq!(w.app.code(Some(&other), read, json!({ "id": inv["id"] })).await, "NOT_FOUND");
    assert_eq!(w.app.code(Some(&w.partner_user), "{ invoices { totalCount } }", json!({})).await, "FORBIDDEN");
    let pay = "mutation($id: ID!) { markInvoicePaid(id: $id) { status } }";
    assert_eq!(w.app.code(Some(&w.vendor), pay, json!({ "id": inv["id"] })).await, "FORBIDDEN");
    let threshold = "mutation($v: ID!) { setBillingThreshold(vendorId: $v, thresholdMinor: 100) { id } }";
    let vendor_id = w.vendor_id();
    assert_eq!(w.app.code(Some(&w.vendor), threshold, json!({ "v": vendor_id })).await, "FORBIDDEN");
}

#[tokio::test]
async fn the_threshold_bills_at_once_and_a_void_invoice_gives_its_rewards_back() {
    let w = world().await;
    let vendor_id = w.vendor_id();
    let set = "mutation($v: ID!, $t: MinorUnits) { setBillingThreshold(vendorId: $v, thresholdMinor: $t) { billingThresholdMinor } }";
    let bad = w.app.error(Some(&w.app.admin()), set, json!({ "v": vendor_id, "t": 0 })).await;
    assert_eq!(bad["extensions"]["code"], "VALIDATION");
    let data = w.app.ok(&w.app.admin(), set, json!({ "v": vendor_id, "t": 2500 })).await;
    assert_eq!(data["setBillingThreshold"]["billingThresholdMinor"], 2500);
    w.approved("Ann").await;
    w.approved("Bob").await;
    let now = w.app.clock.now_utc();
    assert_eq!(run_job(&w.app, "BILL_THRESHOLD", now).await["itemsTouched"], 0, "2000 is under 2500");
    w.approved("Cid").await;
    assert_eq!(run_job(&w.app, "BILL_THRESHOLD", w.app.clock.now_utc()).await["itemsTouched"], 3);
    let inv = w.invoices(&w.vendor).await[0].clone();
    assert_eq!((&inv["kind"], &inv["month"], &inv["totalMinor"]), (&json!("THRESHOLD"), &Value::Null, &json!(3000)));
    // FAILED → (no payment) → OPEN → VOID.
    let failed = w.admin_move("markInvoiceFailed", &inv["id"], ", reason: \"card declined\"").await.unwrap();
    assert_eq!((&failed["status"], &failed["failureReason"]), (&json!("FAILED"), &json!("card declined")));
    let refused = w.admin_move("markInvoicePaid", &inv["id"], "").await.unwrap_err();
    assert_eq!(refused["extensions"]["code"], "INVALID_TRANSITION");
    assert_eq!(w.admin_move("reopenInvoice", &inv["id"], "").await.unwrap()["status"], "OPEN");
    // Reopening an OPEN invoice is refused, not a silent no-op.
    let again = w.admin_move("reopenInvoice", &inv["id"], "").await.unwrap_err();
    assert_eq!(again["extensions"]["code"], "INVALID_TRANSITION", "{again}");
    let void = w.admin_move("voidInvoice", &inv["id"], ", reason: \"wrong terms\"").await.unwrap();
    assert_eq!(void["status"], "VOID");
    assert!(void["lines"]["edges"].as_array().unwrap().iter().all(|l| l["node"]["live"] == false));
    assert_eq!(w.reward_statuses().await, ["EARNED", "EARNED", "EARNED"]);
    // The rewards are billable again, on a new invoice.
    assert_eq!(run_job(&w.app, "BILL_THRESHOLD", w.app.clock.now_utc()).await["itemsTouched"], 3);
    let all = w.invoices(&w.vendor).await;
    assert_eq!(all.iter().map(|i| i["status"].as_str().unwrap()).collect::<Vec<_>>(), ["OPEN", "VOID"]);
    // Lifting the threshold leaves month end only.
    let data = w.app.ok(&w.app.admin(), set, json!({ "v": vendor_id, "t": null })).await;
    assert_eq!(data["setBillingThreshold"]["billingThresholdMinor"], Value::Null);
}

#[tokio::test]
async fn holds_minimum_payouts_and_clawbacks_shape_what_is_billed() {
    let w = world().await;
    w.set_program(json!({ "holdDays": 10, "minimumPayoutMinor": 1500 })).await;
    let a = w.approved("Ann").await;
    let march = next_month(w.app.clock.now_utc());
    // Past its hold, but 1000 is under the partner's minimum payout.
    assert_eq!(run_job(&w.app, "BILL_MONTH_END", march).await["itemsTouched"], 0);
    // Bob's reward is still on hold when April closes.
    w.app.clock.set(march + Duration::days(24));
    w.approved("Bob").await;
    let april = next_month(w.app.clock.now_utc());
    assert_eq!(run_job(&w.app, "BILL_MONTH_END", april).await["itemsTouched"], 0);
    let may = next_month(april);
    assert_eq!(run_job(&w.app, "BILL_MONTH_END", may).await["itemsTouched"], 2);
    // Denied after billing: a clawback, billed as a negative line once the
    // balance is above zero again.
    // (Only ADMIN may move an APPROVED referral, with a reason.)
    w.app.clock.set(may + Duration::days(2));
    let deny =
        "mutation($id: ID!) { setReferralStatus(id: $id, status: DENIED, overrideReason: \"fraud\") { status } }";
    w.app.ok(&w.app.admin(), deny, json!({ "id": a })).await;
    assert_eq!(w.reward_statuses().await, ["BILLED", "BILLED", "EARNED"]);
    w.set_program(json!({ "holdDays": 0, "minimumPayoutMinor": 0 })).await;
    let june = next_month(w.app.clock.now_utc());
    assert_eq!(run_job(&w.app, "BILL_MONTH_END", june).await["itemsTouched"], 0, "a balance of -1000 is not billed");
    w.app.clock.set(june + Duration::days(2));
    w.approved("Cid").await;
    w.approved("Dee").await;
    assert_eq!(run_job(&w.app, "BILL_MONTH_END", next_month(june)).await["itemsTouched"], 3);
    let newest = &w.invoices(&w.vendor).await[0];
    assert_eq!((&newest["totalMinor"], &newest["lineCount"]), (&json!(1000), &json!(3)));
}

/// The payment gateway's signed webhook records payments and failures; a
/// repeated report changes nothing; a bad signature, body or invoice, or a
/// move the invoice cannot make, is refused with its code.
#[tokio::test]
async fn the_payment_gateway_reports_through_a_signed_webhook() {
    const SECRET: &str = "gateway-secret";
    let app = spawn_app_with(|c| c.payment_webhook_secret = Some(SECRET.into())).await;
    let w = World::on(app).await;
    w.approved("Ann").await;
    w.approved("Bob").await;
    run_job(&w.app, "BILL_MONTH_END", next_month(w.app.clock.now_utc())).await;
    let inv = w.invoices(&w.vendor).await[0].clone();
    let paid = json!({ "invoiceId": inv["id"], "status": "PAID", "reference": "ch_123" });
    assert_eq!(report(&w.app, paid.clone(), "wrong-secret").await.0, 401);
    assert_eq!(report(&w.app, json!({ "invoiceId": inv["id"], "status": "LOST" }), SECRET).await.0, 400);
    assert_eq!(report(&w.app, json!({ "invoiceId": "999999", "status": "PAID" }), SECRET).await.0, 404);
    assert_eq!(
        report(
            &w.app,
            json!({ "invoiceId": inv["id"], "status": "FAILED", "reference": "insufficient funds" }),
            SECRET
        )
        .await
        .0,
        200
    );
    let (status, body) = report(&w.app, paid.clone(), SECRET).await;
    assert_eq!((status, &body["errors"][0]["extensions"]["code"]), (409, &json!("INVALID_TRANSITION")), "{body}");
    w.admin_move("reopenInvoice", &inv["id"], "").await.unwrap();
    // The invoice's number, as a JSON number, names it as well as its id.
    let number = referral_hub::ids::decode("Invoice", inv["id"].as_str().unwrap()).unwrap();
    let by_number = json!({ "invoiceId": number, "status": "PAID", "reference": "ch_123" });
    let (status, body) = report(&w.app, by_number, SECRET).await;
    assert_eq!((status, &body["status"]), (200, &json!("PAID")), "{body}");
    assert_eq!(report(&w.app, paid, SECRET).await.0, 200, "a repeated report is a no-op");
    let q = "query($id: ID!) { invoice(id: $id) { status paymentReference failureReason } }";
    let read = w.app.ok(&w.vendor, q, json!({ "id": inv["id"] })).await["invoice"].clone();
    assert_eq!(read, json!({ "status": "PAID", "paymentReference": "ch_123", "failureReason": "insufficient funds" }));
    assert_eq!(w.reward_statuses().await, ["PAID_OUT", "PAID_OUT"]);
}

/// POSTs a payment report signed with `secret`.
async fn report(app: &TestApp, body: Value, secret: &str) -> (u16, Value) {
    use referral_hub::events::webhook;
    let body = body.to_string();
    let signature = webhook::sign(secret, app.clock.now_utc().timestamp(), body.as_bytes());
    let response = app
        .client
        .post(format!("{}/payments/webhook", app.base))
        .header(webhook::SIGNATURE_HEADER, signature)
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json::<Value>().await.unwrap())
}

/// A void planned from a ledger read before a billing run committed must
/// not undo the billing: only EARNED rewards are voided, and a plan that
/// finds its reward billed meanwhile is refused as a conflict (the change
/// is retried against the new ledger, which claws back instead).
#[tokio::test]
async fn a_stale_void_never_overwrites_a_billed_reward() {
    use referral_hub::service::rewards::{Write, write_all};
    use sea_orm::{EntityTrait, TransactionTrait};
    let w = world().await;
    w.approved("Ann").await;
    run_job(&w.app, "BILL_MONTH_END", next_month(w.app.clock.now_utc())).await;
    let reward = entity::reward::Entity::find().one(&w.app.ctx.db).await.unwrap().unwrap();
    assert_eq!(reward.status, entity::RewardStatus::Billed);
    let tx = w.app.ctx.db.begin().await.unwrap();
    let refused = write_all(&tx, vec![Write::Void { id: reward.id }], w.app.clock.now_utc()).await.unwrap_err();
    assert_eq!(refused.code(), "CONFLICT");
    drop(tx);
    assert_eq!(w.reward_statuses().await, ["BILLED"]);
}
