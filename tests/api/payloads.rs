//! Every id a client receives in an event — a notification's `subjectId`,
//! the ids inside its payload, a webhook body — is a Relay global id that
//! `node(id:)` resolves for that recipient (PRODUCT.md §9, "Payloads").

use std::collections::BTreeSet;

use crate::common::*;
use chrono::Duration;
use serde_json::{Value, json};

const NOTIFICATIONS: &str = "{ notifications(first: 100) { edges { node { kind subject subjectId payload } } } }";

async fn submit(app: &TestApp, token: &str, partner: &str, name: &str) -> String {
    let q = "mutation($i: SubmitReferralInput!) { submitReferral(input: $i) { id referenceId } }";
    let input = json!({ "partnerId": partner, "lead": { "name": name, "email": format!("{name}@lead.example") } });
    app.ok(token, q, json!({ "i": input })).await["submitReferral"]["id"].as_str().unwrap().to_owned()
}

async fn set_status(app: &TestApp, token: &str, id: &str, status: &str, note: Option<&str>) {
    let q = "mutation($id: ID!, $s: ReferralStatus!, $n: String) { setReferralStatus(id: $id, status: $s, note: $n) { id } }";
    app.ok(token, q, json!({ "id": id, "s": status, "n": note })).await;
}

/// Every string in a payload under a key ending in `Id` or `Ids` (but
/// `referenceId`, the human reference such as `R-7KQ2M9`).
fn payload_ids(payload: &Value) -> Vec<String> {
    let Some(map) = payload.as_object() else { return vec![] };
    let mut out = Vec::new();
    for (key, value) in map.iter().filter(|(k, _)| *k != "referenceId") {
        if key.ends_with("Id") {
            if let Some(s) = value.as_str() {
                out.push(s.to_owned());
            } else {
                assert!(value.is_null(), "{key} is not a global id: {value}");
            }
        } else if key.ends_with("Ids") {
            for v in value.as_array().unwrap() {
                out.push(v.as_str().unwrap_or_else(|| panic!("{key} holds a database id: {v}")).to_owned());
            }
        }
    }
    out
}

/// The kinds of the recipient's notifications, after checking that every
/// id in them resolves for the recipient.
async fn check_inbox(app: &TestApp, token: &str) -> BTreeSet<String> {
    app.stamp().await;
    let data = app.ok(token, NOTIFICATIONS, json!({})).await;
    let mut kinds = BTreeSet::new();
    for edge in data["notifications"]["edges"].as_array().unwrap() {
        let n = &edge["node"];
        let kind = n["kind"].as_str().unwrap().to_owned();
        let subject = n["subjectId"].as_str().unwrap_or_else(|| panic!("{kind} has no subject: {n}"));
        let mut ids = vec![subject.to_owned()];
        ids.extend(payload_ids(&n["payload"]));
        for id in ids {
            let (status, body) =
                app.post(Some(token), "query($id: ID!) { node(id: $id) { id } }", json!({ "id": id })).await;
            assert_eq!(body["data"]["node"]["id"], json!(id), "{kind}: {id} does not resolve ({status}): {body}");
        }
        kinds.insert(kind);
    }
    kinds
}

#[tokio::test]
async fn every_notification_kind_names_records_the_recipient_can_open() {
    let app = spawn_app().await;
    let (vendor_org, vendor, program) = app.vendor("Acme").await;
    let q = "mutation($id: ID!, $i: ProgramInput!) { updateProgram(id: $id, input: $i) { id } }";
    let settings =
        json!({ "rewardModel": "FLAT", "rewardAmountMinor": 1000, "rewardTrigger": "APPROVED", "reportBackDays": 14 });
    app.ok(&vendor, q, json!({ "id": program, "i": settings })).await;
    let (partner, partner_user) = app.linked_partner(&vendor, &program).await;

    // Referral events, both ways.
    let r1 = submit(&app, &partner_user, &partner, "ann").await;
    set_status(&app, &vendor, &r1, "REQUIRES_INFO", Some("Please add the budget.")).await;
    let edit = "mutation($id: ID!) { editReferral(id: $id, lead: { details: \"Budget 10k\" }) { id } }";
    app.ok(&partner_user, edit, json!({ "id": r1 })).await;
    set_status(&app, &vendor, &r1, "QUALIFIED", None).await;
    let stage = "mutation($id: ID!) { setReferralStage(id: $id, stage: \"Demo\") { id } }";
    app.ok(&vendor, stage, json!({ "id": r1 })).await;
    let note = "mutation($id: ID!) { addNote(referralId: $id, body: \"Spoke to them\") { id } }";
    app.ok(&partner_user, note, json!({ "id": r1 })).await;
    let sold = "mutation($id: ID!) { reportOutcome(id: $id, input: { outcome: SOLD, note: \"Signed\" }) { id } }";
    app.ok(&vendor, sold, json!({ "id": r1 })).await;

    // An import, a digest to the partner.
    let r2 = submit(&app, &partner_user, &partner, "bob").await;
    let rid = app.ok(&vendor, "query($id: ID!) { referral(id: $id) { referenceId } }", json!({ "id": r2 })).await;
    let csv = format!("referralkey_ID,status\n{},QUALIFIED\n", rid["referral"]["referenceId"].as_str().unwrap());
    let preview = "mutation($c: String!) { previewReferralImport(csv: $c) { id } }";
    let batch = app.ok(&vendor, preview, json!({ "c": csv })).await["previewReferralImport"]["id"].clone();
    app.ok(&vendor, "mutation($b: ID!) { commitReferralImport(batchId: $b) { id } }", json!({ "b": batch })).await;

    // Partner events: a second partnership linked to the same organization, terms sent.
    let prospect = app.partner(&vendor, &program, "Second", "PROSPECT").await;
    let invite = app.read_partner(&vendor, &prospect, "inviteCode").await["inviteCode"].clone();
    app.ok(&partner_user, "mutation($c: String!) { acceptPartnerInvite(code: $c) { id } }", json!({ "c": invite }))
        .await;
    app.ok(&vendor, "mutation($id: ID!) { sendTerms(id: $id) { id } }", json!({ "id": prospect })).await;
    app.ok(&vendor, "mutation($id: ID!) { recordTermsSigned(id: $id) { id } }", json!({ "id": prospect })).await;

    // A task falls due; the partner lapses; report backs are overdue.
    let task = "mutation($p: ID!, $d: DateTime!) { createTask(partnerId: $p, title: \"Call\", dueAt: $d) { id } }";
    let due = app.clock.now_utc() + Duration::hours(1);
    app.ok(&vendor, task, json!({ "p": partner, "d": due.to_rfc3339() })).await;
    run_job(&app, "TASK_REMINDERS", due).await;
    run_job(&app, "REPORT_BACK_OVERDUE", app.clock.now_utc() + Duration::days(20)).await;
    // The intake policy warns (and, after the month-end run below, pauses).
    run_job(&app, "ENFORCE_INTAKE_POLICY", app.clock.now_utc() + Duration::days(26)).await;
    run_job(&app, "LAPSE_PARTNERS", app.clock.now_utc() + Duration::days(40)).await;

    // Intake suspended and resumed.
    let suspend =
        "mutation($v: ID!, $s: Boolean) { suspendVendorIntake(vendorId: $v, suspended: $s, reason: \"test\") { id } }";
    let vendor_id = referral_hub::ids::encode("Organization", vendor_org);
    app.ok(&app.admin(), suspend, json!({ "v": vendor_id, "s": true })).await;
    app.ok(&app.admin(), suspend, json!({ "v": vendor_id, "s": false })).await;

    // Assigned referrals: offered, accepted, updated, withdrawn; offered,
    // declined (to the pool: the only partner had it); offered, reminded, expired.
    let create = "mutation($p: ID!, $n: String!) { createAssignedReferral(input: { programId: $p, tenantName: $n, tenantSource: VENDOR, assignNow: true }) { currentAssignment { id } } }";
    let offer = |name: &'static str| {
        let (app, vendor, program) = (&app, vendor.clone(), program.clone());
        async move {
            app.ok(&vendor, create, json!({ "p": program, "n": name })).await["createAssignedReferral"]["currentAssignment"]["id"].clone()
        }
    };
    let respond =
        "mutation($id: ID!, $a: Boolean!) { respondToAssignment(id: $id, accept: $a, declineReason: BUDGET) { id } }";
    let first = offer("Globex").await;
    app.ok(&partner_user, respond, json!({ "id": first, "a": true })).await;
    let update = "mutation($id: ID!) { updateAssignedReferral(id: $id, input: { note: \"Kick-off booked\" }) { id } }";
    app.ok(&vendor, update, json!({ "id": first })).await;
    app.ok(
        &vendor,
        "mutation($id: ID!) { withdrawAssignment(id: $id, reason: \"wait\") { id } }",
        json!({ "id": first }),
    )
    .await;
    let second = offer("Initech").await;
    app.ok(&partner_user, respond, json!({ "id": second, "a": false })).await;
    offer("Umbrella").await;
    run_job(&app, "REASSIGN_EXPIRED", app.clock.now_utc() + Duration::days(6) + Duration::hours(1)).await;
    run_job(&app, "REASSIGN_EXPIRED", app.clock.now_utc() + Duration::days(7)).await;

    // Billing: the month's invoice, paid.
    run_job(&app, "BILL_MONTH_END", app.clock.now_utc() + Duration::days(62)).await;
    let invoices = app.ok(&vendor, "{ invoices { edges { node { id } } } }", json!({})).await;
    let invoice = invoices["invoices"]["edges"][0]["node"]["id"].clone();
    app.ok(&app.admin(), "mutation($id: ID!) { markInvoicePaid(id: $id) { id } }", json!({ "id": invoice })).await;

    let mut kinds = check_inbox(&app, &vendor).await;
    kinds.extend(check_inbox(&app, &partner_user).await);
    kinds.extend(check_inbox(&app, &app.admin()).await);
    let expected = [
        "ASSIGNMENT_ACCEPTED",
        "ASSIGNMENT_DECLINED",
        "ASSIGNMENT_EXPIRED",
        "ASSIGNMENT_OFFERED",
        "ASSIGNMENT_REMINDER",
        "ASSIGNMENT_RETURNED_TO_POOL",
        "ASSIGNMENT_UPDATED",
        "ASSIGNMENT_WITHDRAWN",
        "INTAKE_PAUSED",
        "INTAKE_RESUMED",
        "INTAKE_SUSPENDED",
        "INTAKE_WARNING",
        "INVOICE_ISSUED",
        "INVOICE_PAID",
        "NOTE_ADDED",
        "PARTNER_LAPSED",
        "PARTNER_LINKED",
        "PARTNER_STATUS_CHANGED",
        "PARTNER_TERMS_SENT",
        "REFERRALS_IMPORTED",
        "REFERRAL_INFO_SUPPLIED",
        "REFERRAL_OUTCOME_REPORTED",
        "REFERRAL_STAGE_CHANGED",
        "REFERRAL_STATUS_CHANGED",
        "REFERRAL_SUBMITTED",
        "REPORT_BACKS_OVERDUE",
        "REWARDS_PAID_OUT",
        "TASK_DUE",
    ];
    for kind in expected {
        assert!(kinds.contains(kind), "no {kind} among {kinds:?}");
    }
    // The shared note travels with its change.
    app.stamp().await;
    let data = app.ok(&partner_user, NOTIFICATIONS, json!({})).await;
    let asked = data["notifications"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["kind"] == "REFERRAL_STATUS_CHANGED" && e["node"]["payload"]["status"] == "REQUIRES_INFO")
        .expect("the partner was told");
    assert_eq!(asked["node"]["payload"]["note"], "Please add the budget.");
}

#[tokio::test]
async fn a_webhook_body_names_records_by_global_ids() {
    let app = spawn_app().await;
    let (_, vendor, program) = app.vendor("Acme").await;
    let (partner, partner_user) = app.linked_partner(&vendor, &program).await;
    let r = submit(&app, &partner_user, &partner, "ann").await;
    use sea_orm::{EntityTrait, QueryOrder};
    let n = entity::notification::Entity::find()
        .order_by_desc(entity::notification::Column::Id)
        .one(&app.ctx.db)
        .await
        .unwrap()
        .expect("an event");
    let body = referral_hub::events::dispatch::webhook_body(&n);
    assert_eq!(body["subjectId"], json!(r));
    assert_eq!(body["payload"]["referralId"], json!(r));
    assert_eq!(body["subject"], "REFERRAL");
    assert_eq!(referral_hub::ids::parse(body["id"].as_str().unwrap()).unwrap().0, "Notification");
}
