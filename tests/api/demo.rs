//! `demo-data` shows the product: every feature is populated for a new user.

use std::collections::BTreeSet;

use crate::common::*;
use serde_json::{Value, json};

fn values(data: &Value, path: &[&str], field: &str) -> BTreeSet<String> {
    let mut list = data;
    for p in path {
        list = &list[p];
    }
    list["edges"].as_array().unwrap().iter().map(|e| e["node"][field].as_str().unwrap_or("null").to_owned()).collect()
}

#[tokio::test]
async fn the_demo_populates_every_area() {
    let app = spawn_app().await;
    let demo = referral_hub::demo::load(&app.ctx).await.expect("the demo loads");
    let vendor = app.token("VENDOR", Some(demo.vendor_org_id), "demo-vendor");
    let q = "{ programs { name rewardRule { model } }
               partners(first: 50) { edges { node { status } } }
               referrals(first: 100) { edges { node { outcome status payoutView reportBackOverdue recurring } } }
               rewards(first: 100) { edges { node { status kind } } }
               invoices { edges { node { status } } }
               rankings(kind: PARTNER) { rows { totalCount } }
               webhookEndpoints { url } }";
    let data = app.ok(&vendor, q, json!({})).await;
    assert_eq!(data["programs"].as_array().unwrap().len(), 2);
    let set = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(
        values(&data, &["partners"], "status"),
        set(&["ACTIVE", "ARCHIVED", "ENDED", "LAPSED", "LIVE", "PROSPECT", "PROSPECT_TERMS_SENT"])
    );
    assert!(values(&data, &["referrals"], "outcome").is_superset(&set(&["SOLD", "NO_SALE", "IN_PROGRESS"])));
    assert!(values(&data, &["referrals"], "status").is_superset(&set(&[
        "PENDING",
        "REQUIRES_INFO",
        "QUALIFIED",
        "APPROVED",
        "DENIED"
    ])));
    assert_eq!(
        values(&data, &["referrals"], "payoutView"),
        set(&["NONE", "READY_FOR_PAYOUT", "PAID_OUT", "RECURRING"])
    );
    let referrals = data["referrals"]["edges"].as_array().unwrap();
    assert!(referrals.iter().any(|e| e["node"]["reportBackOverdue"] == true), "an overdue report back");
    assert_eq!(values(&data, &["rewards"], "status"), set(&["EARNED", "BILLED", "PAID_OUT", "VOID"]));
    assert_eq!(values(&data, &["rewards"], "kind"), set(&["TRIGGER", "RECURRING", "CLAWBACK"]));
    assert_eq!(values(&data, &["invoices"], "status"), set(&["OPEN", "PAID", "FAILED", "VOID"]));
    assert!(data["rankings"]["rows"]["totalCount"].as_i64().unwrap() > 0, "a ranking snapshot");
    assert_eq!(data["webhookEndpoints"].as_array().unwrap().len(), 1);
    // Assigned referrals in every acceptance state, and one in the pool.
    let q = "{ assignedReferrals(first: 100) { edges { node { acceptance } } } }";
    let offers = app.ok(&vendor, q, json!({})).await;
    assert_eq!(
        values(&offers, &["assignedReferrals"], "acceptance"),
        set(&["PENDING", "ACCEPTED", "DECLINED", "EXPIRED", "WITHDRAWN"])
    );
    // The partner side has its referrals, notes and notifications.
    let partner = app.token("PARTNER", Some(demo.partner_org_id), "demo-partner");
    let q = "{ referrals(first: 100) { totalCount edges { node { id } } } notifications { totalCount } }";
    app.stamp().await;
    let seen = app.ok(&partner, q, json!({})).await;
    assert!(seen["referrals"]["totalCount"].as_i64().unwrap() >= 8, "{seen}");
    assert!(seen["notifications"]["totalCount"].as_i64().unwrap() > 0);
    let first =
        seen["referrals"]["edges"].as_array().unwrap().iter().map(|e| e["node"]["id"].clone()).collect::<Vec<_>>();
    let mut notes = 0;
    for id in first {
        let t = app.ok(&partner, "query($id: ID!) { referralTimeline(id: $id) { kind } }", json!({ "id": id })).await;
        notes += t["referralTimeline"].as_array().unwrap().iter().filter(|e| e["kind"] == "NOTE").count();
    }
    assert!(notes > 0, "timeline notes");
}
