//! Rankings (PRODUCT.md §8): snapshots written by the `rank` job, their
//! order and inputs, who may see which rows, and past snapshots.

use crate::common::*;
use chrono::Duration;
use serde_json::{Value, json};

const ROWS: &str = "query($k: RankingKind!, $a: DateTime, $p: ID) { rankings(kind: $k, asOf: $a, programId: $p) {
    kind asOf windowDays rows { totalCount edges { node { position ranked name referrals validReferrals
    invalidReferrals approved paidMinor avgPaidPerValidMinor reportBackRateBasisPoints overdue
    conversionBasisPoints invalidRateBasisPoints } } } } }";

async fn submit(app: &TestApp, token: &str, partner: &str, name: &str) -> String {
    let q = "mutation($i: SubmitReferralInput!) { submitReferral(input: $i) { id } }";
    let input = json!({ "partnerId": partner, "lead": { "name": name } });
    app.ok(token, q, json!({ "i": input })).await["submitReferral"]["id"].as_str().unwrap().to_owned()
}

async fn approve(app: &TestApp, token: &str, id: &str) {
    let q = "mutation($id: ID!) { setReferralStatus(id: $id, status: APPROVED) { status } }";
    app.ok(token, q, json!({ "id": id })).await;
}

/// NO_SALE with an invalid reason: the referral is invalid (and DENIED).
async fn invalid(app: &TestApp, token: &str, id: &str) {
    let q =
        "mutation($id: ID!) { reportOutcome(id: $id, input: { outcome: NO_SALE, invalidReason: SPAM }) { status } }";
    app.ok(token, q, json!({ "id": id })).await;
}

/// Submits `n` referrals for the partner, approves `approved` of them and
/// reports `invalid` of the rest invalid.
async fn referrals(app: &TestApp, token: &str, partner: &str, n: usize, approved: usize, invalids: usize) {
    for i in 0..n {
        let id = submit(app, token, partner, &format!("Lead {i}")).await;
        if i < approved {
            approve(app, token, &id).await;
        } else if i < approved + invalids {
            invalid(app, token, &id).await;
        }
    }
}

async fn rows(app: &TestApp, token: &str, vars: Value) -> Vec<Value> {
    let data = app.ok(token, ROWS, vars).await;
    data["rankings"]["rows"]["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect()
}

fn names(rows: &[Value]) -> Vec<&str> {
    rows.iter().map(|r| r["name"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn partners_rank_by_valid_referrals_then_conversion_and_past_snapshots_stay() {
    let app = spawn_app().await;
    let (org, vendor, program) = app.vendor("Acme").await;
    let mut partners = Vec::new();
    for name in ["Able", "Baker", "Cole", "Dunn"] {
        partners.push(app.partner(&vendor, &program, name, "LIVE").await);
    }
    referrals(&app, &vendor, &partners[0], 3, 1, 0).await; // valid 3, conversion 1/3
    referrals(&app, &vendor, &partners[1], 3, 2, 0).await; // valid 3, conversion 2/3
    referrals(&app, &vendor, &partners[2], 4, 0, 2).await; // valid 2, invalid rate 1/2
    let before = app.ok(&vendor, ROWS, json!({ "k": "PARTNER" })).await;
    assert_eq!(before["rankings"], Value::Null, "no snapshot before the first run");
    let first_run = app.clock.now_utc();
    let run = run_job(&app, "RANK", first_run).await;
    assert_eq!(run["error"], Value::Null);
    let ranked = rows(&app, &vendor, json!({ "k": "PARTNER", "p": program })).await;
    assert_eq!(names(&ranked), ["Baker", "Able", "Cole", "Dunn"]);
    assert_eq!(ranked.iter().map(|r| r["position"].as_i64().unwrap()).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert!(ranked.iter().all(|r| r["ranked"] == 4));
    assert_eq!(
        (&ranked[0]["validReferrals"], &ranked[0]["approved"], &ranked[0]["conversionBasisPoints"]),
        (&json!(3), &json!(2), &json!(6666))
    );
    assert_eq!(
        (&ranked[2]["invalidReferrals"], &ranked[2]["invalidRateBasisPoints"], &ranked[2]["conversionBasisPoints"]),
        (&json!(2), &json!(5000), &json!(0))
    );
    assert_eq!((&ranked[3]["referrals"], &ranked[3]["conversionBasisPoints"]), (&json!(0), &Value::Null));
    // The vendor's executives see it; partners, report viewers and other vendors do not.
    let exec = app.token("EXECUTIVE_REPORT_VIEWER", Some(org), "boss");
    assert_eq!(rows(&app, &exec, json!({ "k": "PARTNER" })).await.len(), 4);
    let viewer = app.token("REPORT_VIEWER", Some(org), "analyst");
    assert_eq!(app.code(Some(&viewer), ROWS, json!({ "k": "PARTNER" })).await, "FORBIDDEN");
    let partner_org = app.organization("Able Inc", "PARTNER").await;
    let partner_user = app.token("PARTNER", Some(partner_org), "able");
    assert_eq!(app.code(Some(&partner_user), ROWS, json!({ "k": "PARTNER" })).await, "FORBIDDEN");
    let (_, other, _) = app.vendor("Other").await;
    assert!(rows(&app, &other, json!({ "k": "PARTNER" })).await.is_empty());
    // A window later nobody has referrals: the newest snapshot says so, the
    // first one is still there as of its time.
    app.clock.advance(Duration::days(100));
    run_job(&app, "RANK", app.clock.now_utc()).await;
    let now = rows(&app, &vendor, json!({ "k": "PARTNER", "p": program })).await;
    assert!(now.iter().all(|r| r["referrals"] == 0));
    assert_eq!(names(&now), ["Able", "Baker", "Cole", "Dunn"], "then the oldest partner first");
    let then = rows(&app, &vendor, json!({ "k": "PARTNER", "p": program, "a": first_run.to_rfc3339() })).await;
    assert_eq!(names(&then), ["Baker", "Able", "Cole", "Dunn"]);
}

#[tokio::test]
async fn vendors_rank_by_average_paid_per_valid_referral_and_see_only_their_own_row() {
    let app = spawn_app().await;
    let program_rule = "mutation($id: ID!, $a: MinorUnits!) { updateProgram(id: $id, input: { rewardModel: FLAT, rewardAmountMinor: $a, rewardTrigger: APPROVED }) { id } }";
    let mut vendors = Vec::new();
    for (name, amount) in [("Xeno", 1000), ("Yarn", 3000), ("Zinc", 500)] {
        let (_, token, program) = app.vendor(name).await;
        app.ok(&token, program_rule, json!({ "id": program, "a": amount })).await;
        let partner = app.partner(&token, &program, &format!("{name} partner"), "LIVE").await;
        vendors.push((token, partner));
    }
    referrals(&app, &vendors[0].0, &vendors[0].1, 2, 2, 0).await; // 2000 over 2 valid: 1000
    referrals(&app, &vendors[1].0, &vendors[1].1, 2, 1, 1).await; // 3000 over 1 valid: 3000
    run_job(&app, "RANK", app.clock.now_utc()).await;
    let all = rows(&app, &app.admin(), json!({ "k": "VENDOR" })).await;
    assert_eq!(names(&all), ["Yarn", "Xeno", "Zinc"]);
    assert_eq!(
        (&all[0]["avgPaidPerValidMinor"], &all[0]["paidMinor"], &all[0]["validReferrals"], &all[0]["invalidReferrals"]),
        (&json!(3000), &json!(3000), &json!(1), &json!(1))
    );
    assert_eq!((&all[1]["avgPaidPerValidMinor"], &all[1]["reportBackRateBasisPoints"]), (&json!(1000), &json!(10000)));
    assert_eq!((&all[2]["avgPaidPerValidMinor"], &all[2]["referrals"]), (&Value::Null, &json!(0)));
    // A vendor sees its own row, its rank and how many are ranked.
    let own = rows(&app, &vendors[0].0, json!({ "k": "VENDOR" })).await;
    assert_eq!(own.len(), 1);
    assert_eq!((&own[0]["name"], &own[0]["position"], &own[0]["ranked"]), (&json!("Xeno"), &json!(2), &json!(3)));
}

#[tokio::test]
async fn a_referral_denied_as_a_duplicate_counts_in_neither_ranking() {
    let app = spawn_app().await;
    let (_, vendor, program) = app.vendor("Acme").await;
    let first = app.partner(&vendor, &program, "First", "LIVE").await;
    let late = app.partner(&vendor, &program, "Late", "LIVE").await;
    let q = "mutation($i: SubmitReferralInput!) { submitReferral(input: $i) { id } }";
    let lead = json!({ "name": "Ann", "email": "ann@ann.io" });
    app.ok(&vendor, q, json!({ "i": { "partnerId": first, "lead": lead } })).await;
    let dup =
        app.ok(&vendor, q, json!({ "i": { "partnerId": late, "lead": lead } })).await["submitReferral"]["id"].clone();
    // Another invalid one of the late partner still counts, as invalid.
    let spam = submit(&app, &vendor, &late, "Spam").await;
    invalid(&app, &vendor, &spam).await;
    let deny = "mutation($id: ID!) { denyAsDuplicate(referralId: $id) { status } }";
    app.ok(&vendor, deny, json!({ "id": dup })).await;
    run_job(&app, "RANK", app.clock.now_utc()).await;
    let partners = rows(&app, &vendor, json!({ "k": "PARTNER", "p": program })).await;
    let of = |name: &str| partners.iter().find(|r| r["name"] == name).unwrap().clone();
    assert_eq!((&of("Late")["referrals"], &of("Late")["invalidReferrals"]), (&json!(1), &json!(1)));
    assert_eq!(of("First")["referrals"], 1);
    let vendors = rows(&app, &app.admin(), json!({ "k": "VENDOR" })).await;
    assert_eq!((&vendors[0]["referrals"], &vendors[0]["invalidReferrals"]), (&json!(2), &json!(1)));
}
