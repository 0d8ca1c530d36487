//! Intake paused by itself (PRODUCT.md §8, seed 002 "we will stop sending
//! you referrals … until you report back and pay"): the network's intake
//! policy, the `enforce-intake-policy` job, lifting at once, and manual and
//! policy suspensions side by side.

use crate::common::{self, *};
use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use serde_json::{Value, json};

local_world!();

const SUBMIT: &str = "mutation($i: SubmitReferralInput!) { submitReferral(input: $i) { id reportBackDueAt } }";
const REPORT: &str = "mutation($id: ID!, $i: ReportOutcomeInput!) { reportOutcome(id: $id, input: $i) { id } }";
const SUSPENSION: &str = "kind reason reasons note since overdueCount unpaidCount causes { reason id } liftedBy";
const POLICY: &str = "mutation($i: IntakePolicyInput!) { setIntakePolicy(input: $i) {
    maxOverdueDays maxUnpaidDays warnDaysBefore updatedAt } }";

/// Acme: a FLAT program rewarding on APPROVED (so each referral owes a
/// report back 14 days after it is submitted), and a linked partner.
async fn world() -> World {
    let program = json!({ "rewardModel": "FLAT", "rewardAmountMinor": 1000, "rewardTrigger": "APPROVED" });
    World { base: common::World::build().program(program).done().await }
}

impl World {
    /// The partner submits a lead; returns (id, report back due time).
    async fn submit(&self, name: &str) -> (String, DateTime<Utc>) {
        let input = json!({ "i": { "partnerId": self.partner, "lead": { "name": name } } });
        let r = self.app.ok(&self.partner_user, SUBMIT, input).await["submitReferral"].clone();
        let due = r["reportBackDueAt"].as_str().unwrap().parse().unwrap();
        (r["id"].as_str().unwrap().to_owned(), due)
    }

    /// The partner's submission's error, if refused.
    async fn refused(&self, token: &str) -> Option<Value> {
        let input = json!({ "i": { "partnerId": self.partner, "lead": { "name": "Next" } } });
        let (_, body) = self.app.post(Some(token), SUBMIT, input).await;
        body["errors"].is_array().then(|| body["errors"][0].clone())
    }

    /// Runs the job as of `at`, with the clock there too.
    async fn enforce(&self, at: DateTime<Utc>) -> Value {
        self.app.clock.set(at);
        run_job(&self.app, "ENFORCE_INTAKE_POLICY", at).await
    }

    async fn suspended(&self) -> bool {
        let q = "query($id: ID!) { node(id: $id) { ... on Organization { intakeSuspended } } }";
        self.app.ok(&self.app.admin(), q, json!({ "id": self.vendor_id() })).await["node"]["intakeSuspended"]
            .as_bool()
            .unwrap()
    }

    /// `intakeSuspension` as the vendor sees it.
    async fn suspension(&self) -> Value {
        let q = format!(
            "{{ me {{ organization {{ intakeSuspension {{ {SUSPENSION} }} intakeSuspensions {{ kind }} }} }} }}"
        );
        self.app.ok(&self.vendor, &q, json!({})).await["me"]["organization"].clone()
    }

    /// `intakeSuspension` as the partner sees it (through its program).
    async fn partner_view(&self) -> Value {
        let q = format!(
            "query($id: ID!) {{ partner(id: $id) {{ program {{ vendor {{ intakeSuspended intakeSuspension {{ {SUSPENSION} }} }} }} }} }}"
        );
        self.app.ok(&self.partner_user, &q, json!({ "id": self.partner })).await["partner"]["program"]["vendor"].clone()
    }

    async fn report(&self, id: &str, outcome: &str) {
        self.app.ok(&self.vendor, REPORT, json!({ "id": id, "i": { "outcome": outcome } })).await;
    }

    async fn manual(&self, suspended: bool) {
        let q = "mutation($v: ID!, $s: Boolean) { suspendVendorIntake(vendorId: $v, suspended: $s, reason: \"contract review\") { id } }";
        self.app.ok(&self.app.admin(), q, json!({ "v": self.vendor_id(), "s": suspended })).await;
    }
}

fn assert_refused(e: Option<Value>, kind: &str, reason: &str) {
    let e = e.expect("the submission is refused");
    assert_eq!(e["extensions"]["code"], "FORBIDDEN", "{e}");
    assert_eq!(e["extensions"]["reason"], "INTAKE_SUSPENDED", "{e}");
    assert_eq!(
        (e["extensions"]["kind"].as_str(), e["extensions"]["suspensionReason"].as_str()),
        (Some(kind), Some(reason))
    );
    assert!(e["message"].as_str().unwrap().contains("Acme is not accepting new referrals"), "{e}");
}

#[tokio::test]
async fn the_policy_is_admins_to_read_and_set_and_each_limit_can_be_switched_off() {
    let w = world().await;
    let read = "{ intakePolicy { maxOverdueDays maxUnpaidDays warnDaysBefore updatedAt } }";
    let p = w.app.ok(&w.app.admin(), read, json!({})).await["intakePolicy"].clone();
    assert_eq!(p, json!({ "maxOverdueDays": 14, "maxUnpaidDays": 30, "warnDaysBefore": 3, "updatedAt": null }));
    assert_eq!(w.app.code(Some(&w.vendor), read, json!({})).await, "FORBIDDEN");
    assert_eq!(w.app.code(Some(&w.vendor), POLICY, json!({ "i": { "maxOverdueDays": 7 } })).await, "FORBIDDEN");
    // Left out: kept; null: off.
    let p = w.app.ok(&w.app.admin(), POLICY, json!({ "i": { "maxUnpaidDays": null, "warnDaysBefore": 5 } })).await;
    let p = &p["setIntakePolicy"];
    assert_eq!(
        (&p["maxOverdueDays"], &p["maxUnpaidDays"], &p["warnDaysBefore"]),
        (&json!(14), &Value::Null, &json!(5))
    );
    assert!(p["updatedAt"].is_string());
    for bad in [json!({ "maxOverdueDays": 0 }), json!({ "warnDaysBefore": 99999 })] {
        let e = w.app.error(Some(&w.app.admin()), POLICY, json!({ "i": bad })).await;
        assert_eq!(e["extensions"]["code"], "VALIDATION", "{e}");
    }
    // The change is audited.
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let audited = entity::status_change::Entity::find()
        .filter(entity::status_change::Column::Event.eq("SET_INTAKE_POLICY"))
        .count(&w.app.ctx.db)
        .await
        .unwrap();
    assert_eq!(audited, 1);
}

/// The 14-day limit to the second, the warning exactly once, the refusal
/// everywhere a partner's lead comes in, what each side sees, and the lift
/// in the transaction that reports back.
#[tokio::test]
async fn an_overdue_report_back_pauses_intake_past_the_limit_and_reporting_back_resumes_it_at_once() {
    let w = world().await;
    let (late, due) = w.submit("Late Larry").await;
    // Warned once, 3 days ahead of the limit (due + 14 days).
    let warn_at = due + Duration::days(11);
    w.enforce(warn_at).await;
    assert!(w.app.notices(&w.vendor, "INTAKE_WARNING").await.is_empty());
    w.enforce(warn_at + Duration::seconds(1)).await;
    w.enforce(warn_at + Duration::days(1)).await;
    let warnings = w.app.notices(&w.vendor, "INTAKE_WARNING").await;
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("1 report backs near the overdue limit"), "{warnings:?}");
    assert_eq!(w.app.notices(&w.app.admin(), "INTAKE_WARNING").await.len(), 1);

    let limit = due + Duration::days(14);
    w.enforce(limit).await;
    assert!(!w.suspended().await, "exactly at the limit is not past it");
    let run = w.enforce(limit + Duration::seconds(1)).await;
    assert!(run["error"].is_null(), "{run}");
    assert!(w.suspended().await);

    // Refused for the partner, through the link, and for the vendor's entry.
    assert_refused(w.refused(&w.partner_user).await, "POLICY", "OVERDUE_REPORT_BACKS");
    assert_refused(w.refused(&w.vendor).await, "POLICY", "OVERDUE_REPORT_BACKS");
    let code =
        w.app.read_partner(&w.vendor, &w.partner, "referralCode").await["referralCode"].as_str().unwrap().to_owned();
    let link = "mutation($c: String!, $l: LeadInput!) { submitReferralViaLink(code: $c, lead: $l) { referenceId } }";
    let (_, body) = w.app.post(None, link, json!({ "c": code, "l": { "name": "Via link" } })).await;
    assert_refused(Some(body["errors"][0].clone()), "POLICY", "OVERDUE_REPORT_BACKS");
    // A vendor's own direct lead is not a referral from the network, and
    // assigned referrals (the vendor's customers for partners) go on.
    let direct = json!({ "i": { "programId": w.program, "lead": { "name": "Walk-in" } } });
    w.app.ok(&w.vendor, SUBMIT, direct).await;
    let assigned = "mutation($p: ID!) { createAssignedReferral(input: { programId: $p, tenantName: \"Globex\",
        tenantSource: VENDOR, assignNow: false }) { id } }";
    w.app.ok(&w.vendor, assigned, json!({ "p": w.program })).await;

    // The vendor sees why and what lifts it; the partner only that it is paused.
    let seen = w.suspension().await;
    let s = &seen["intakeSuspension"];
    assert_eq!((&s["kind"], &s["reason"]), (&json!("POLICY"), &json!("OVERDUE_REPORT_BACKS")));
    assert_eq!(s["causes"], json!([{ "reason": "OVERDUE_REPORT_BACKS", "id": late }]));
    assert_eq!((&s["overdueCount"], &s["unpaidCount"]), (&json!(1), &json!(0)));
    assert!(s["liftedBy"].as_str().unwrap().contains("reporting back"));
    assert_eq!(seen["intakeSuspensions"], json!([{ "kind": "POLICY" }]));
    let p = w.partner_view().await;
    assert_eq!(p["intakeSuspended"], true);
    let ps = &p["intakeSuspension"];
    assert_eq!((&ps["kind"], &ps["reason"]), (&json!("POLICY"), &json!("OVERDUE_REPORT_BACKS")));
    for hidden in ["reasons", "note", "since", "overdueCount", "unpaidCount", "causes", "liftedBy"] {
        assert_eq!(ps[hidden], Value::Null, "{hidden} is the vendor's");
    }
    // Told: the vendor, ADMIN, and the partner (with no vendor internals).
    let told = w.app.notices(&w.vendor, "INTAKE_SUSPENDED").await;
    assert_eq!(told.len(), 1);
    assert!(told[0].contains("1 report backs overdue by more than 14 days"), "{told:?}");
    assert_eq!(w.app.notices(&w.app.admin(), "INTAKE_SUSPENDED").await.len(), 1);
    assert_eq!(w.app.notices(&w.partner_user, "INTAKE_PAUSED").await, ["Acme has paused new referrals"]);
    // Running again changes nothing.
    w.enforce(limit + Duration::days(1)).await;
    assert_eq!(w.app.notices(&w.vendor, "INTAKE_SUSPENDED").await.len(), 1);
    assert_eq!(w.app.notices(&w.vendor, "INTAKE_WARNING").await.len(), 1);

    // Reporting back lifts it in the same commit: the next lead gets in.
    w.report(&late, "IN_PROGRESS").await;
    assert!(!w.suspended().await);
    assert!(w.refused(&w.partner_user).await.is_none());
    assert_eq!(w.suspension().await["intakeSuspension"], Value::Null);
    assert_eq!(w.app.notices(&w.vendor, "INTAKE_RESUMED").await.len(), 1);
    assert_eq!(w.app.notices(&w.partner_user, "INTAKE_RESUMED").await, ["Acme accepts new referrals"]);
    // The audit trail has both, with their cause.
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    let audit = entity::status_change::Entity::find()
        .filter(entity::status_change::Column::Field.eq("INTAKE"))
        .order_by_asc(entity::status_change::Column::Id)
        .all(&w.app.ctx.db)
        .await
        .unwrap();
    let events: Vec<_> = audit.iter().map(|a| a.event.as_str()).collect();
    assert_eq!(events, ["POLICY_SUSPEND", "POLICY_LIFT"]);
    assert!(audit[0].reason.as_deref().unwrap().contains("overdue"), "{audit:?}");
}

/// 01:00 on the first of the month after `t`.
fn next_month(t: DateTime<Utc>) -> DateTime<Utc> {
    let (y, m) = if t.month() == 12 { (t.year() + 1, 1) } else { (t.year(), t.month() + 1) };
    Utc.with_ymd_and_hms(y, m, 1, 1, 0, 0).unwrap()
}

#[tokio::test]
async fn an_unpaid_invoice_pauses_intake_and_paying_it_resumes_at_once_or_on_the_next_run() {
    let w = world().await;
    // Two approved referrals (no report back owed), billed at month end.
    for name in ["Ann", "Bob"] {
        let (id, _) = w.submit(name).await;
        let q = "mutation($id: ID!) { setReferralStatus(id: $id, status: APPROVED) { status } }";
        w.app.ok(&w.vendor, q, json!({ "id": id })).await;
    }
    let close = next_month(w.app.clock.now_utc());
    w.app.clock.set(close);
    // Billing runs are followed by the policy's run.
    run_job(&w.app, "BILL_MONTH_END", close).await;
    let q = "{ jobRuns(job: ENFORCE_INTAKE_POLICY) { edges { node { slot error } } } }";
    let runs = w.app.ok(&w.app.admin(), q, json!({})).await;
    assert_eq!(runs["jobRuns"]["edges"].as_array().unwrap().len(), 1, "{runs}");
    let invoice = w.app.ok(&w.vendor, "{ invoices { edges { node { id } } } }", json!({})).await["invoices"]["edges"]
        [0]["node"]["id"]
        .clone();
    w.enforce(close + Duration::days(30)).await;
    assert!(!w.suspended().await);
    w.enforce(close + Duration::days(30) + Duration::seconds(1)).await;
    assert_refused(w.refused(&w.partner_user).await, "POLICY", "UNPAID_INVOICES");
    let s = w.suspension().await["intakeSuspension"].clone();
    assert_eq!(s["causes"], json!([{ "reason": "UNPAID_INVOICES", "id": invoice }]));

    // A failed collection is still unpaid; paying lifts at once.
    let admin = w.app.admin();
    w.app.ok(&admin, "mutation($id: ID!) { markInvoiceFailed(id: $id) { status } }", json!({ "id": invoice })).await;
    w.enforce(close + Duration::days(31)).await;
    assert!(w.suspended().await);
    w.app.ok(&admin, "mutation($id: ID!) { reopenInvoice(id: $id) { status } }", json!({ "id": invoice })).await;
    assert!(w.suspended().await, "reopened is still unpaid");
    w.app.ok(&admin, "mutation($id: ID!) { markInvoicePaid(id: $id) { status } }", json!({ "id": invoice })).await;
    assert!(!w.suspended().await);
    assert!(w.refused(&w.partner_user).await.is_none());
}

/// A manual suspension is ADMIN's to lift; a policy one never hides it;
/// partners hear only when intake as a whole pauses or resumes.
#[tokio::test]
async fn manual_and_policy_suspensions_coexist() {
    let w = world().await;
    let (late, due) = w.submit("Late").await;
    let past = due + Duration::days(15);
    w.enforce(past).await;
    w.manual(true).await;
    let seen = w.suspension().await;
    assert_eq!(seen["intakeSuspension"]["kind"], "MANUAL");
    assert_eq!(seen["intakeSuspension"]["note"], "contract review");
    assert_eq!(seen["intakeSuspensions"], json!([{ "kind": "MANUAL" }, { "kind": "POLICY" }]));
    assert_refused(w.refused(&w.partner_user).await, "MANUAL", "MANUAL");
    // Reporting back lifts the policy's, not ADMIN's.
    w.report(&late, "IN_PROGRESS").await;
    assert!(w.suspended().await);
    assert_refused(w.refused(&w.partner_user).await, "MANUAL", "MANUAL");
    assert_eq!(w.suspension().await["intakeSuspensions"], json!([{ "kind": "MANUAL" }]));
    assert!(w.app.notices(&w.partner_user, "INTAKE_RESUMED").await.is_empty());
    assert_eq!(w.app.notices(&w.partner_user, "INTAKE_PAUSED").await.len(), 1);
    // A new overdue report back under ADMIN's pause, then ADMIN lifts: the
    // policy's pause is still there.
    let (_, due) = w.submit_while_paused(&late).await;
    w.enforce(due + Duration::days(15)).await;
    w.manual(false).await;
    assert!(w.suspended().await);
    assert_refused(w.refused(&w.partner_user).await, "POLICY", "OVERDUE_REPORT_BACKS");
    assert!(w.app.notices(&w.partner_user, "INTAKE_RESUMED").await.is_empty());
}

impl World {
    /// The report back of `id` falls due again (IN_PROGRESS 14 days on)
    /// while intake is paused: returns it with its new due time.
    async fn submit_while_paused(&self, id: &str) -> (String, DateTime<Utc>) {
        self.app.clock.advance(Duration::days(1));
        self.report(id, "IN_PROGRESS").await;
        let q = "query($id: ID!) { referral(id: $id) { reportBackDueAt } }";
        let due = self.app.ok(&self.vendor, q, json!({ "id": id })).await["referral"]["reportBackDueAt"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        (id.to_owned(), due)
    }
}

#[tokio::test]
async fn switching_a_limit_off_lifts_on_the_next_run_and_concurrent_runs_act_once() {
    let w = world().await;
    let (_, due) = w.submit("Late").await;
    let past = due + Duration::days(15);
    // Two runs at once (two ADMINs, or a manual run beside a scheduled one).
    w.app.clock.set(past);
    let (a, b) =
        tokio::join!(run_job(&w.app, "ENFORCE_INTAKE_POLICY", past), run_job(&w.app, "ENFORCE_INTAKE_POLICY", past));
    assert!(a["error"].is_null() && b["error"].is_null(), "{a} {b}");
    assert!(w.suspended().await);
    assert_eq!(w.app.notices(&w.vendor, "INTAKE_SUSPENDED").await.len(), 1);
    assert_eq!(w.app.notices(&w.partner_user, "INTAKE_PAUSED").await.len(), 1);
    // Two servers on one scheduled tick: one runs it.
    let slot = referral_hub::jobs::scheduled_slot(past);
    let ctx = &w.app.ctx;
    let run = |ctx| {
        let slot = slot.clone();
        async move {
            referral_hub::jobs::run(
                ctx,
                referral_hub::jobs::JobName::EnforceIntakePolicy,
                slot,
                entity::JobTrigger::Scheduled,
                past,
                None,
            )
            .await
            .unwrap()
        }
    };
    let (x, y) = tokio::join!(run(ctx), run(ctx));
    let ran = [x, y].iter().filter(|o| matches!(o, referral_hub::jobs::RunOutcome::Ran(_))).count();
    assert_eq!(ran, 1);

    w.app.ok(&w.app.admin(), POLICY, json!({ "i": { "maxOverdueDays": null } })).await;
    assert!(w.suspended().await, "a policy change takes effect on the next run");
    w.enforce(past + Duration::hours(1)).await;
    assert!(!w.suspended().await);
    assert!(w.refused(&w.partner_user).await.is_none());
}

/// A cause cleared outside the API's moves (here a direct database fix) is
/// noticed by the next run, which lifts.
#[tokio::test]
async fn the_job_lifts_a_suspension_whose_causes_are_gone() {
    use sea_orm::ConnectionTrait;
    let w = world().await;
    let (_, due) = w.submit("Late").await;
    w.enforce(due + Duration::days(15)).await;
    assert!(w.suspended().await);
    w.app.ctx.db.execute_unprepared("UPDATE referral SET report_back_due_at = NULL").await.unwrap();
    assert!(w.suspended().await, "nothing lifted it yet");
    let run = w.enforce(due + Duration::days(16)).await;
    assert_eq!(run["itemsTouched"], 1, "{run}");
    assert!(!w.suspended().await);
    assert!(w.refused(&w.partner_user).await.is_none());
    assert_eq!(w.app.notices(&w.vendor, "INTAKE_RESUMED").await.len(), 1);
    assert_eq!(w.app.notices(&w.app.admin(), "INTAKE_RESUMED").await.len(), 1);
}
