//! Inbound referrals through the GraphQL API (PRODUCT.md §4, §5).

use crate::common::{self, *};
use chrono::Duration;
use serde_json::{Value, json};

// A vendor with a program, a LIVE partner linked to a partner organization.
local_world!();

async fn world() -> World {
    World { base: common::World::build().done().await }
}

const SUBMIT: &str = "mutation($i: SubmitReferralInput!) { submitReferral(input: $i) {
    id referenceId status source stage payoutView version partner { name status } } }";
const SET_STATUS: &str = "mutation($id: ID!, $s: ReferralStatus!, $n: String, $a: MinorUnits, $v: Int, $o: String) {
    setReferralStatus(id: $id, status: $s, note: $n, saleAmountMinor: $a, expectedVersion: $v, overrideReason: $o) {
        status version payoutView } }";

impl World {
    async fn submit(&self, token: &str, name: &str) -> Value {
        let input = json!({ "partnerId": self.partner, "lead": { "name": name, "email": format!("{}@example.com", name.to_lowercase().replace(' ', ".")) } });
        self.app.ok(token, SUBMIT, json!({ "i": input })).await["submitReferral"].clone()
    }

    async fn status(&self, id: &str, status: &str, extra: Value) -> Result<Value, Value> {
        let mut vars = json!({ "id": id, "s": status });
        for (k, v) in extra.as_object().unwrap() {
            vars[k] = v.clone();
        }
        let (_, body) = self.app.post(Some(&self.vendor), SET_STATUS, vars).await;
        if body["errors"].is_array() {
            Err(body["errors"][0].clone())
        } else {
            Ok(body["data"]["setReferralStatus"].clone())
        }
    }

    async fn timeline(&self, token: &str, id: &str) -> Vec<Value> {
        let q = "query($id: ID!) { referralTimeline(id: $id) { kind event from to source actorRole reason note { body visibility } } }";
        self.app.ok(token, q, json!({ "id": id })).await["referralTimeline"].as_array().unwrap().clone()
    }

    async fn rewards(&self, token: &str, id: &str) -> Value {
        let q = "query($id: ID!) { referral(id: $id) { payoutView rewards { kind status amountMinor reference } } }";
        self.app.ok(token, q, json!({ "id": id })).await["referral"].clone()
    }

    async fn commission_program(&self, basis_points: i32) {
        self.app
            .ok(
                &self.vendor,
                "mutation($id: ID!, $b: Int!) { updateProgram(id: $id, input: { rewardModel: COMMISSION, rewardBasisPoints: $b, rewardTrigger: APPROVED }) { id } }",
                json!({ "id": self.program, "b": basis_points }),
            )
            .await;
    }

    async fn flat_program(&self, amount: i64, trigger: &str) {
        self.app
            .ok(
                &self.vendor,
                "mutation($id: ID!, $a: MinorUnits!, $t: ReferralStatus!) { updateProgram(id: $id, input: { rewardModel: FLAT, rewardAmountMinor: $a, rewardTrigger: $t }) { id } }",
                json!({ "id": self.program, "a": amount, "t": trigger }),
            )
            .await;
    }
}

#[tokio::test]
async fn a_partner_submission_enters_pending_and_makes_the_partner_active() {
    let w = world().await;
    let r = w.submit(&w.partner_user, "Jane Doe").await;
    assert_eq!(r["status"], "PENDING");
    assert_eq!(r["source"], "MANUAL");
    assert_eq!(r["partner"]["status"], "ACTIVE");
    assert!(r["referenceId"].as_str().unwrap().starts_with("R-"));
    let timeline = w.timeline(&w.vendor, r["id"].as_str().unwrap()).await;
    assert_eq!(timeline[0]["event"], "SUBMIT");
    assert_eq!(timeline[0]["actorRole"], "PARTNER");
    // The vendor is told.
    w.app.stamp().await;
    let notes = w.app.ok(&w.vendor, "{ notifications { edges { node { kind } } } }", json!({})).await;
    assert_eq!(notes["notifications"]["edges"][0]["node"]["kind"], "REFERRAL_SUBMITTED");
}

#[tokio::test]
async fn vendors_submit_for_a_partner_or_as_a_direct_lead() {
    let w = world().await;
    let input =
        json!({ "partnerId": w.partner, "lead": { "name": "By vendor" }, "source": "API", "externalId": "crm-1" });
    let r = w.app.ok(&w.vendor, SUBMIT, json!({ "i": input })).await["submitReferral"].clone();
    assert_eq!((r["source"].as_str(), r["partner"]["status"].as_str()), (Some("API"), Some("ACTIVE")));
    let direct = json!({ "programId": w.program, "lead": { "name": "Walk-in" } });
    let d = w.app.ok(&w.vendor, SUBMIT, json!({ "i": direct })).await["submitReferral"].clone();
    assert_eq!(d["partner"], json!(null));
    // A duplicate external id is a conflict and writes nothing.
    let dup = json!({ "partnerId": w.partner, "lead": { "name": "Again" }, "externalId": "crm-1" });
    assert_eq!(w.app.code(Some(&w.vendor), SUBMIT, json!({ "i": dup })).await, "CONFLICT");
    let count = w.app.ok(&w.vendor, "{ referrals { totalCount } }", json!({})).await;
    assert_eq!(count["referrals"]["totalCount"], 2);
    // A partner must name its partnership, and only its own.
    let none = json!({ "lead": { "name": "X" } });
    assert_eq!(w.app.code(Some(&w.partner_user), SUBMIT, json!({ "i": none })).await, "VALIDATION");
    let other = w.app.partner(&w.vendor, &w.program, "Someone else", "LIVE").await;
    let theirs = json!({ "partnerId": other, "lead": { "name": "X" } });
    assert_eq!(w.app.code(Some(&w.partner_user), SUBMIT, json!({ "i": theirs })).await, "NOT_FOUND");
}

#[tokio::test]
async fn leads_for_ended_or_archived_partners_are_refused_and_bad_input_is_validation() {
    let w = world().await;
    w.app.ok(&w.vendor, "mutation($id: ID!) { endPartner(id: $id) { status } }", json!({ "id": w.partner })).await;
    let input = json!({ "partnerId": w.partner, "lead": { "name": "Late" } });
    let err = w.app.error(Some(&w.partner_user), SUBMIT, json!({ "i": input })).await;
    assert_eq!(err["extensions"]["code"], "INVALID_TRANSITION");
    assert!(err["message"].as_str().unwrap().contains("ENDED"));
    assert_eq!(w.app.ok(&w.vendor, "{ referrals { totalCount } }", json!({})).await["referrals"]["totalCount"], 0);
    w.app.ok(&w.vendor, "mutation($id: ID!) { reopenPartner(id: $id) { status } }", json!({ "id": w.partner })).await;
    for lead in
        [json!({ "name": "" }), json!({ "name": "A", "email": "not-an-email" }), json!({ "name": "x".repeat(201) })]
    {
        let input = json!({ "partnerId": w.partner, "lead": lead });
        assert_eq!(w.app.code(Some(&w.partner_user), SUBMIT, json!({ "i": input })).await, "VALIDATION", "{lead}");
    }
}

#[tokio::test]
async fn the_seed_rules_of_status_changes() {
    let w = world().await;
    let id = w.submit(&w.partner_user, "Lead").await["id"].as_str().unwrap().to_owned();
    // Same status: a no-op without an event.
    let same = w.status(&id, "PENDING", json!({})).await.unwrap();
    assert_eq!(same["version"], 1);
    // DENIED ↔ PENDING freely.
    w.status(&id, "DENIED", json!({})).await.unwrap();
    w.status(&id, "PENDING", json!({})).await.unwrap();
    w.status(&id, "DENIED", json!({})).await.unwrap();
    // DENIED → QUALIFIED while never QUALIFIED: allowed.
    w.status(&id, "QUALIFIED", json!({})).await.unwrap();
    w.status(&id, "DENIED", json!({})).await.unwrap();
    // …but not a second time.
    let err = w.status(&id, "QUALIFIED", json!({})).await.unwrap_err();
    assert_eq!(err["extensions"]["code"], "INVALID_TRANSITION");
    assert_eq!(err["extensions"]["from"], "DENIED");
    assert_eq!(err["extensions"]["to"], "QUALIFIED");
    assert!(err["extensions"]["rule"].as_str().unwrap().contains("never QUALIFIED"));
    // APPROVED is final.
    w.status(&id, "APPROVED", json!({})).await.unwrap();
    for to in ["PENDING", "QUALIFIED", "DENIED", "REQUIRES_INFO"] {
        let err = w.status(&id, to, json!({})).await.unwrap_err();
        assert_eq!(err["extensions"]["rule"], "nothing changes after APPROVED", "{to}");
    }
    let events: Vec<_> =
        w.timeline(&w.vendor, &id).await.iter().map(|e| e["to"].as_str().unwrap_or("").to_owned()).collect();
    assert_eq!(events, ["PENDING", "DENIED", "PENDING", "DENIED", "QUALIFIED", "DENIED", "APPROVED"]);
}

#[tokio::test]
async fn admins_override_a_refused_change_with_a_reason() {
    let w = world().await;
    let id = w.submit(&w.partner_user, "Lead").await["id"].as_str().unwrap().to_owned();
    w.status(&id, "APPROVED", json!({})).await.unwrap();
    let admin = w.app.admin();
    let vars = json!({ "id": id, "s": "PENDING", "o": "customer cancelled within a day, ticket 4411" });
    assert_eq!(w.app.code(Some(&w.vendor), SET_STATUS, vars.clone()).await, "FORBIDDEN", "only ADMIN overrides");
    let data = w.app.ok(&admin, SET_STATUS, vars).await;
    assert_eq!(data["setReferralStatus"]["status"], "PENDING");
    let last = w.timeline(&w.vendor, &id).await.last().unwrap().clone();
    assert_eq!(last["source"], "ADMIN_OVERRIDE");
    assert_eq!(last["actorRole"], "ADMIN");
    assert_eq!(last["reason"], "customer cancelled within a day, ticket 4411");
    // Without a reason even ADMIN is refused.
    w.status(&id, "APPROVED", json!({})).await.unwrap();
    let (_, body) = w.app.post(Some(&admin), SET_STATUS, json!({ "id": id, "s": "DENIED" })).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "INVALID_TRANSITION");
}

#[tokio::test]
async fn requires_info_loop_with_notes() {
    let w = world().await;
    let id = w.submit(&w.partner_user, "Lead").await["id"].as_str().unwrap().to_owned();
    let err = w.status(&id, "REQUIRES_INFO", json!({})).await.unwrap_err();
    assert_eq!(
        (err["extensions"]["code"].as_str(), err["extensions"]["field"].as_str()),
        (Some("VALIDATION"), Some("note"))
    );
    w.status(&id, "REQUIRES_INFO", json!({ "n": "Missing phone number" })).await.unwrap();
    // The partner sees the note and supplies the information.
    let seen = w.timeline(&w.partner_user, &id).await;
    assert!(seen.iter().any(|e| e["note"]["body"] == "Missing phone number" && e["note"]["visibility"] == "SHARED"));
    let edit =
        "mutation($id: ID!) { editReferral(id: $id, lead: { phone: \"+1 555 0100\" }) { status lead { phone } } }";
    w.app.clock.advance(Duration::minutes(5));
    let edited = w.app.ok(&w.partner_user, edit, json!({ "id": id })).await;
    assert_eq!(edited["editReferral"], json!({ "status": "PENDING", "lead": { "phone": "+1 555 0100" } }));
    let last = w.timeline(&w.vendor, &id).await.last().unwrap().clone();
    assert_eq!(
        (last["event"].as_str(), last["from"].as_str(), last["to"].as_str()),
        (Some("PARTNER_EDIT"), Some("REQUIRES_INFO"), Some("PENDING"))
    );
    w.app.stamp().await;
    let kinds = w.app.ok(&w.vendor, "{ notifications { edges { node { kind } } } }", json!({})).await;
    assert_eq!(kinds["notifications"]["edges"][0]["node"]["kind"], "REFERRAL_INFO_SUPPLIED");
    // Once qualified, the partner can no longer edit it; the vendor can.
    w.status(&id, "QUALIFIED", json!({})).await.unwrap();
    assert_eq!(w.app.code(Some(&w.partner_user), edit, json!({ "id": id })).await, "INVALID_TRANSITION");
    w.app.ok(&w.vendor, edit, json!({ "id": id })).await;
    // Partners never change statuses.
    let vars = json!({ "id": id, "s": "APPROVED" });
    assert_eq!(w.app.code(Some(&w.partner_user), SET_STATUS, vars).await, "FORBIDDEN");
}

#[tokio::test]
async fn available_transitions_and_versions() {
    let w = world().await;
    let id = w.submit(&w.partner_user, "Lead").await["id"].as_str().unwrap().to_owned();
    let q = "query($id: ID!) { referral(id: $id) { version availableTransitions { to allowed blockedBy requires } } }";
    let r = w.app.ok(&w.vendor, q, json!({ "id": id })).await["referral"].clone();
    let moves = r["availableTransitions"].as_array().unwrap();
    assert_eq!(moves.len(), 4);
    assert!(moves.iter().all(|m| m["allowed"] == true));
    let info = moves.iter().find(|m| m["to"] == "REQUIRES_INFO").unwrap();
    assert_eq!(info["requires"], json!(["note"]));
    let seen_by_partner = w.app.ok(&w.partner_user, q, json!({ "id": id })).await["referral"].clone();
    assert!(seen_by_partner["availableTransitions"].as_array().unwrap().iter().all(|m| m["allowed"] == false));
    let v = r["version"].as_i64().unwrap();
    w.status(&id, "QUALIFIED", json!({ "v": v })).await.unwrap();
    let err = w.status(&id, "DENIED", json!({ "v": v })).await.unwrap_err();
    assert_eq!(err["extensions"]["code"], "CONFLICT");
    w.status(&id, "DENIED", json!({})).await.unwrap();
    let r = w.app.ok(&w.vendor, q, json!({ "id": id })).await["referral"].clone();
    let qualified =
        r["availableTransitions"].as_array().unwrap().iter().find(|m| m["to"] == "QUALIFIED").unwrap().clone();
    assert_eq!(qualified["allowed"], false);
    assert!(qualified["blockedBy"].as_str().unwrap().contains("never QUALIFIED"));
}

#[tokio::test]
async fn stage_unlocks_at_qualified_and_follows_the_stage_editor() {
    let w = world().await;
    let id = w.submit(&w.partner_user, "Lead").await["id"].as_str().unwrap().to_owned();
    let set = "mutation($id: ID!, $s: String!) { setReferralStage(id: $id, stage: $s) { stage } }";
    let err = w.app.error(Some(&w.vendor), set, json!({ "id": id, "s": "Demo" })).await;
    assert_eq!(err["extensions"]["code"], "INVALID_TRANSITION");
    assert!(err["extensions"]["rule"].as_str().unwrap().contains("QUALIFIED"));
    w.status(&id, "QUALIFIED", json!({})).await.unwrap();
    assert_eq!(w.app.code(Some(&w.vendor), set, json!({ "id": id, "s": "Nope" })).await, "VALIDATION");
    // Default editor is the vendor.
    let data = w.app.ok(&w.vendor, set, json!({ "id": id, "s": "demo" })).await;
    assert_eq!(data["setReferralStage"]["stage"], "Demo");
    let err = w.app.error(Some(&w.partner_user), set, json!({ "id": id, "s": "Proposal" })).await;
    assert_eq!(err["extensions"]["code"], "FORBIDDEN");
    assert!(err["message"].as_str().unwrap().contains("only the vendor"));
    // Change the partnership's editor: create a partner with PARTNER / BOTH.
    for (editor, vendor_may, partner_may) in [("PARTNER", false, true), ("BOTH", true, true)] {
        let app = &w.app;
        let q = "mutation($p: ID!, $e: StageEditor!) { createPartner(input: { programId: $p, name: \"E\", status: LIVE, stageEditor: $e }) { id inviteCode } }";
        let p = app.ok(&w.vendor, q, json!({ "p": w.program, "e": editor })).await["createPartner"].clone();
        app.ok(
            &w.partner_user,
            "mutation($c: String!) { acceptPartnerInvite(code: $c) { id } }",
            json!({ "c": p["inviteCode"] }),
        )
        .await;
        let input = json!({ "partnerId": p["id"], "lead": { "name": format!("{editor} lead") } });
        let rid = app.ok(&w.partner_user, SUBMIT, json!({ "i": input })).await["submitReferral"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        w.status(&rid, "APPROVED", json!({})).await.unwrap();
        let by_vendor = app.post(Some(&w.vendor), set, json!({ "id": rid, "s": "Proposal" })).await.1;
        assert_eq!(by_vendor["errors"].is_null(), vendor_may, "{editor}: {by_vendor}");
        let by_partner = app.post(Some(&w.partner_user), set, json!({ "id": rid, "s": "Negotiation" })).await.1;
        assert_eq!(by_partner["errors"].is_null(), partner_may, "{editor}: {by_partner}");
    }
    let stages: Vec<_> = w.timeline(&w.vendor, &id).await.into_iter().filter(|e| e["kind"] == "STAGE_CHANGE").collect();
    assert_eq!(stages.len(), 1);
    assert_eq!(stages[0]["to"], "Demo");
}

#[tokio::test]
async fn notes_are_shared_or_internal_and_the_timeline_interleaves_them() {
    let w = world().await;
    let id = w.submit(&w.partner_user, "Lead").await["id"].as_str().unwrap().to_owned();
    let add = "mutation($id: ID!, $b: String!, $v: NoteVisibility = SHARED) { addNote(referralId: $id, body: $b, visibility: $v) { visibility } }";
    w.app.clock.advance(Duration::minutes(1));
    w.app.ok(&w.vendor, add, json!({ "id": id, "b": "vendor internal", "v": "INTERNAL" })).await;
    w.app.clock.advance(Duration::minutes(1));
    w.app.ok(&w.vendor, add, json!({ "id": id, "b": "vendor shared" })).await;
    w.app.clock.advance(Duration::minutes(1));
    w.status(&id, "QUALIFIED", json!({ "n": "Looks good" })).await.unwrap();
    w.app.clock.advance(Duration::minutes(1));
    w.app.ok(&w.partner_user, add, json!({ "id": id, "b": "partner internal", "v": "INTERNAL" })).await;
    let body = |e: &Value| {
        e["note"]["body"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{}→{}", e["event"].as_str().unwrap(), e["to"].as_str().unwrap()))
    };
    let vendor_view: Vec<_> = w.timeline(&w.vendor, &id).await.iter().map(body).collect();
    assert_eq!(
        vendor_view,
        ["SUBMIT→PENDING", "vendor internal", "vendor shared", "SET_STATUS→QUALIFIED", "Looks good"]
    );
    let partner_view: Vec<_> = w.timeline(&w.partner_user, &id).await.iter().map(body).collect();
    assert_eq!(
        partner_view,
        ["SUBMIT→PENDING", "vendor shared", "SET_STATUS→QUALIFIED", "Looks good", "partner internal"]
    );
    let admin_view = w.timeline(&w.app.admin(), &id).await;
    assert_eq!(admin_view.len(), 6);
    // Report viewers read but do not write.
    let viewer = w.app.token("REPORT_VIEWER", Some(w.vendor_org), "analyst");
    assert_eq!(w.app.code(Some(&viewer), add, json!({ "id": id, "b": "x" })).await, "FORBIDDEN");
    assert_eq!(w.timeline(&viewer, &id).await.len(), 5);
}

#[tokio::test]
async fn a_submission_answers_with_the_payout_view_its_reward_gives() {
    let w = world().await;
    w.flat_program(2_500, "PENDING").await;
    let q = "mutation($i: SubmitReferralInput!) { submitReferral(input: $i) { payoutView rewards { status } } }";
    let input = json!({ "partnerId": w.partner, "lead": { "name": "Per referral" } });
    let data = w.app.ok(&w.vendor, q, json!({ "i": input })).await;
    assert_eq!(
        data["submitReferral"],
        json!({ "payoutView": "READY_FOR_PAYOUT", "rewards": [{ "status": "EARNED" }] })
    );
}

#[tokio::test]
async fn flat_rewards_are_earned_at_the_trigger_voided_on_denial_and_reinstated() {
    let w = world().await;
    w.flat_program(5_000, "QUALIFIED").await;
    let id = w.submit(&w.partner_user, "Lead").await["id"].as_str().unwrap().to_owned();
    assert_eq!(w.rewards(&w.vendor, &id).await, json!({ "payoutView": "NONE", "rewards": [] }));
    // PENDING → APPROVED passes through QUALIFIED.
    w.status(&id, "APPROVED", json!({})).await.unwrap();
    let r = w.rewards(&w.vendor, &id).await;
    assert_eq!(r["payoutView"], "READY_FOR_PAYOUT");
    assert_eq!(
        r["rewards"],
        json!([{ "kind": "TRIGGER", "status": "EARNED", "amountMinor": 5000, "reference": null }])
    );
    // The partner sees its reward.
    assert_eq!(w.rewards(&w.partner_user, &id).await["rewards"][0]["amountMinor"], 5000);

    let other = w.submit(&w.partner_user, "Other").await["id"].as_str().unwrap().to_owned();
    w.status(&other, "QUALIFIED", json!({})).await.unwrap();
    w.status(&other, "DENIED", json!({})).await.unwrap();
    let r = w.rewards(&w.vendor, &other).await;
    assert_eq!((r["payoutView"].as_str(), r["rewards"][0]["status"].as_str()), (Some("NONE"), Some("VOID")));
    w.status(&other, "APPROVED", json!({})).await.unwrap();
    let r = w.rewards(&w.vendor, &other).await;
    assert_eq!(r["rewards"].as_array().unwrap().len(), 1, "the same row is reinstated");
    assert_eq!(r["rewards"][0]["status"], "EARNED");
}

#[tokio::test]
async fn a_per_referral_reward_is_earned_on_submission_with_hold_days() {
    let w = world().await;
    w.flat_program(2_500, "PENDING").await;
    w.app
        .ok(
            &w.vendor,
            "mutation($id: ID!) { updateProgram(id: $id, input: { holdDays: 14 }) { id } }",
            json!({ "id": w.program }),
        )
        .await;
    let id = w.submit(&w.partner_user, "Lead").await["id"].as_str().unwrap().to_owned();
    let q = "{ rewards { totalCount edges { node { amountMinor earnedAt billableAt status } } } }";
    let list = w.app.ok(&w.partner_user, q, json!({})).await;
    assert_eq!(list["rewards"]["totalCount"], 1);
    let node = &list["rewards"]["edges"][0]["node"];
    let earned = chrono::DateTime::parse_from_rfc3339(node["earnedAt"].as_str().unwrap()).unwrap();
    let billable = chrono::DateTime::parse_from_rfc3339(node["billableAt"].as_str().unwrap()).unwrap();
    assert_eq!(billable - earned, Duration::days(14));
    assert_eq!(w.rewards(&w.vendor, &id).await["payoutView"], "READY_FOR_PAYOUT");
}

#[tokio::test]
async fn commissions_need_the_sale_amount_and_round_half_up() {
    let w = world().await;
    w.commission_program(1000).await;
    let bad = "mutation($id: ID!) { updateProgram(id: $id, input: { rewardTrigger: PENDING }) { id } }";
    assert_eq!(w.app.code(Some(&w.vendor), bad, json!({ "id": w.program })).await, "VALIDATION");
    let id = w.submit(&w.partner_user, "Buyer").await["id"].as_str().unwrap().to_owned();
    let err = w.status(&id, "APPROVED", json!({})).await.unwrap_err();
    assert_eq!(
        (err["extensions"]["code"].as_str(), err["extensions"]["field"].as_str()),
        (Some("VALIDATION"), Some("saleAmountMinor"))
    );
    w.status(&id, "APPROVED", json!({ "a": 12_345 })).await.unwrap();
    assert_eq!(w.rewards(&w.vendor, &id).await["rewards"][0]["amountMinor"], 1235);

    // Recurring: one RECURRING commission per invoice, idempotent.
    let record = "mutation($id: ID!, $r: String!, $a: MinorUnits!) { recordRecurringInvoice(id: $id, invoiceReference: $r, amountMinor: $a) { id kind amountMinor reference } }";
    assert_eq!(
        w.app.code(Some(&w.vendor), record, json!({ "id": id, "r": "INV-1", "a": 1000 })).await,
        "INVALID_TRANSITION"
    );
    let marked = w
        .app
        .ok(&w.vendor, "mutation($id: ID!) { markRecurring(id: $id) { recurring payoutView } }", json!({ "id": id }))
        .await;
    assert_eq!(marked["markRecurring"], json!({ "recurring": true, "payoutView": "RECURRING" }));
    let first =
        w.app.ok(&w.vendor, record, json!({ "id": id, "r": "INV-1", "a": 9_995 })).await["recordRecurringInvoice"]
            .clone();
    assert_eq!(
        (first["kind"].as_str(), first["amountMinor"].as_i64(), first["reference"].as_str()),
        (Some("RECURRING"), Some(1000), Some("INV-1"))
    );
    let again =
        w.app.ok(&w.vendor, record, json!({ "id": id, "r": "INV-1", "a": 9_995 })).await["recordRecurringInvoice"]
            .clone();
    assert_eq!(again["id"], first["id"]);
    w.app.ok(&w.vendor, record, json!({ "id": id, "r": "INV-2", "a": 5_000 })).await;
    assert_eq!(w.rewards(&w.vendor, &id).await["rewards"].as_array().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_approvals_create_exactly_one_reward() {
    let w = world().await;
    w.flat_program(1_000, "APPROVED").await;
    let id = w.submit(&w.partner_user, "Lead").await["id"].as_str().unwrap().to_owned();
    let attempts = (0..6).map(|_| w.status(&id, "APPROVED", json!({})));
    let results = futures_util::future::join_all(attempts).await;
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    let r = w.rewards(&w.vendor, &id).await;
    assert_eq!(r["rewards"].as_array().unwrap().len(), 1);
    let approvals = w.timeline(&w.vendor, &id).await.into_iter().filter(|e| e["to"] == "APPROVED").count();
    assert_eq!(approvals, 1, "one status change, the rest were no-ops");
}

#[tokio::test]
async fn report_viewers_get_an_error_on_money_fields_never_a_zero() {
    let w = world().await;
    w.flat_program(1_000, "PENDING").await;
    let id = w.submit(&w.partner_user, "Lead").await["id"].as_str().unwrap().to_owned();
    let viewer = w.app.token("REPORT_VIEWER", Some(w.vendor_org), "analyst");
    let (_, body) = w
        .app
        .post(Some(&viewer), "query($id: ID!) { referral(id: $id) { status saleAmountMinor } }", json!({ "id": id }))
        .await;
    assert_eq!(body["data"]["referral"]["status"], "PENDING");
    assert!(body["data"]["referral"]["saleAmountMinor"].is_null());
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN");
    assert_eq!(body["errors"][0]["path"], json!(["referral", "saleAmountMinor"]));
    assert_eq!(w.app.code(Some(&viewer), "{ rewards { totalCount } }", json!({})).await, "FORBIDDEN");
    let sorted = "{ referrals(orderBy: { field: SALE_AMOUNT }) { totalCount } }";
    assert_eq!(w.app.code(Some(&viewer), sorted, json!({})).await, "FORBIDDEN");
    let exec = w.app.token("EXECUTIVE_REPORT_VIEWER", Some(w.vendor_org), "boss");
    let seen =
        w.app.ok(&exec, "query($id: ID!) { referral(id: $id) { rewards { amountMinor } } }", json!({ "id": id })).await;
    assert_eq!(seen["referral"]["rewards"][0]["amountMinor"], 1000);
}

#[tokio::test]
async fn referral_links_accept_valid_leads_and_refuse_the_rest() {
    let w = world().await;
    let code =
        w.app.read_partner(&w.vendor, &w.partner, "referralCode").await["referralCode"].as_str().unwrap().to_owned();
    let link = "mutation($c: String!, $l: LeadInput!) { submitReferralViaLink(code: $c, lead: $l) { referenceId } }";
    let (status, body) =
        w.app.post(None, link, json!({ "c": code, "l": { "name": "From link", "email": "a@b.co" } })).await;
    assert_eq!(status, 200);
    let reference = body["data"]["submitReferralViaLink"]["referenceId"].as_str().unwrap().to_owned();
    let listed = w
        .app
        .ok(
            &w.vendor,
            "query($s: String) { referrals(filter: { search: $s }) { edges { node { source lead { name } } } } }",
            json!({ "s": reference }),
        )
        .await;
    assert_eq!(listed["referrals"]["edges"][0]["node"], json!({ "source": "LINK", "lead": { "name": "From link" } }));
    assert_eq!(w.app.code(None, link, json!({ "c": "NOSUCHCODE", "l": { "name": "X" } })).await, "NOT_FOUND");
    assert_eq!(w.app.code(None, link, json!({ "c": code, "l": { "name": "X", "email": "nope" } })).await, "VALIDATION");
    // 20 per minute from one address (the first three above count).
    let mut codes = Vec::new();
    for i in 0..20 {
        codes.push(w.app.post(None, link, json!({ "c": code, "l": { "name": format!("Spam {i}") } })).await.1);
    }
    let limited = codes.iter().filter(|b| b["errors"][0]["extensions"]["code"] == "RATE_LIMITED").count();
    assert_eq!(limited, 3);
    // Other organizations' data is not reachable anonymously.
    assert_eq!(w.app.code(None, "{ referrals { totalCount } }", json!({})).await, "UNAUTHENTICATED");
}

#[tokio::test]
async fn lists_filter_search_sort_and_page() {
    let w = world().await;
    let mut ids = Vec::new();
    for name in ["Alice Adams", "Bob Brown", "Carol Clark", "Dan Dunn", "Eve Evans"] {
        ids.push(w.submit(&w.partner_user, name).await);
        w.app.clock.advance(Duration::hours(1));
    }
    let cut = w.app.clock.now_utc();
    w.app.clock.advance(Duration::hours(1));
    let direct = json!({ "programId": w.program, "lead": { "name": "Zed Zulu" }, "externalId": "EXT-99" });
    w.app.ok(&w.vendor, SUBMIT, json!({ "i": direct })).await;
    w.status(ids[1]["id"].as_str().unwrap(), "QUALIFIED", json!({})).await.unwrap();
    w.app
        .ok(
            &w.vendor,
            "mutation($id: ID!) { setReferralStage(id: $id, stage: \"Demo\") { id } }",
            json!({ "id": ids[1]["id"] }),
        )
        .await;
    w.status(ids[2]["id"].as_str().unwrap(), "DENIED", json!({})).await.unwrap();

    // The same list, plain and joined with partners and programs (which
    // changes the statement, not the answer).
    let plain = "query($f: ReferralFilter, $o: ReferralOrder, $first: Int, $after: String) {
        referrals(filter: $f, orderBy: $o, first: $first, after: $after) {
            totalCount pageInfo { hasNextPage endCursor } edges { node { lead { name } } } } }";
    let joined = plain.replace("lead { name }", "lead { name } partner { status } program { name }");
    for q in [plain, joined.as_str()] {
        let names = |v: &Value| -> Vec<String> {
            v["referrals"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"]["lead"]["name"].as_str().unwrap().to_owned())
                .collect()
        };
        let newest = w.app.ok(&w.vendor, q, json!({})).await;
        assert_eq!(names(&newest)[0], "Zed Zulu", "newest first by default");
        assert_eq!(newest["referrals"]["totalCount"], 6);
        let by_status = w
        .app
        .ok(
            &w.vendor,
            q,
            json!({ "f": { "status": ["QUALIFIED", "DENIED"] }, "o": { "field": "LEAD_NAME", "direction": "ASC" } }),
        )
        .await;
        assert_eq!(names(&by_status), ["Bob Brown", "Carol Clark"]);
        let by_stage = w.app.ok(&w.vendor, q, json!({ "f": { "stage": "Demo" } })).await;
        assert_eq!(names(&by_stage), ["Bob Brown"]);
        let by_partner = w.app.ok(&w.vendor, q, json!({ "f": { "partnerId": w.partner } })).await;
        assert_eq!(by_partner["referrals"]["totalCount"], 5);
        let by_date = w.app.ok(&w.vendor, q, json!({ "f": { "createdFrom": cut.to_rfc3339() } })).await;
        assert_eq!(names(&by_date), ["Zed Zulu"]);
        for (search, expected) in [("carol", "Carol Clark"), ("EXT-9", "Zed Zulu"), ("dan.dunn@", "Dan Dunn")] {
            let found = w.app.ok(&w.vendor, q, json!({ "f": { "search": search } })).await;
            assert_eq!(names(&found), [expected], "{search}");
        }
        let reference = ids[4]["referenceId"].as_str().unwrap();
        let found = w.app.ok(&w.vendor, q, json!({ "f": { "search": reference.to_lowercase() } })).await;
        assert_eq!(names(&found), ["Eve Evans"]);
        let none_view = w.app.ok(&w.vendor, q, json!({ "f": { "payoutView": ["READY_FOR_PAYOUT"] } })).await;
        assert_eq!(none_view["referrals"]["totalCount"], 0);
        // Every sortable column pages through all rows exactly once.
        // (The follow-up order has its own test.)
        for field in REFERRAL_ORDER_FIELDS.into_iter().filter(|f| *f != "REPORT_BACK_DUE_AT") {
            for direction in ["ASC", "DESC"] {
                let mut seen = Vec::new();
                let mut after = Value::Null;
                loop {
                    let page = w
                        .app
                        .ok(
                            &w.vendor,
                            q,
                            json!({ "o": { "field": field, "direction": direction }, "first": 4, "after": after }),
                        )
                        .await;
                    seen.extend(names(&page));
                    if page["referrals"]["pageInfo"]["hasNextPage"] == false {
                        break;
                    }
                    after = page["referrals"]["pageInfo"]["endCursor"].clone();
                }
                seen.sort();
                assert_eq!(
                    seen,
                    ["Alice Adams", "Bob Brown", "Carol Clark", "Dan Dunn", "Eve Evans", "Zed Zulu"],
                    "{field} {direction}"
                );
            }
        }
    }
}

#[tokio::test]
async fn a_page_of_referrals_with_relations_costs_a_constant_number_of_statements() {
    let w = world().await;
    let second = w.app.partner(&w.vendor, &w.program, "Second", "LIVE").await;
    let q = "{ referrals(first: 50) { totalCount edges { node { referenceId partner { name program { name } } program { name vendor { name } } } } } }";
    let mut costs = Vec::new();
    for batch in [5, 50] {
        while w.app.ok(&w.vendor, "{ referrals { totalCount } }", json!({})).await["referrals"]["totalCount"]
            .as_i64()
            .unwrap()
            < batch
        {
            for p in [&w.partner, &second] {
                let input = json!({ "partnerId": p, "lead": { "name": "L" } });
                w.app.ok(&w.vendor, SUBMIT, json!({ "i": input })).await;
            }
        }
        // The event relay reads the outbox on the same pool: let it finish
        // with the submissions above before counting.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let page = w.app.ok(&w.vendor, q, json!({})).await;
        let edges = page["referrals"]["edges"].as_array().unwrap();
        assert!(edges.len() as i64 >= batch.min(50));
        assert!(edges.iter().all(|e| e["node"]["partner"]["program"]["name"] == "Main"), "{edges:?}");
        assert!(edges.iter().all(|e| e["node"]["program"]["vendor"]["name"] == "Acme"), "{edges:?}");
        costs.push(least_statements(&w.app, &w.vendor, q, json!({})).await);
    }
    // The caller is known (no statement); the page joins its partners and
    // programs (1); the count (1); the vendors (1). A partner's program is
    // the one already joined.
    assert_eq!(costs, [3, 3], "the cost does not grow with the page");
    let without_count = q.replace("totalCount ", "");
    assert_eq!(least_statements(&w.app, &w.vendor, &without_count, json!({})).await, 2);
    // One referral is one statement.
    let id = w.submit(&w.vendor, "One").await["id"].clone();
    let one = "query($id: ID!) { referral(id: $id) { id referenceId status createdAt lead { name } } }";
    assert_eq!(least_statements(&w.app, &w.vendor, one, json!({ "id": id })).await, 1);
}

/// The statements a request ran. The event relay shares the pool and its
/// statements only ever add to a count, so the least of three runs is the
/// request's own.
async fn least_statements(app: &TestApp, token: &str, query: &str, variables: Value) -> u64 {
    let mut least = u64::MAX;
    for _ in 0..3 {
        least = least.min(app.statements_of(token, query, variables.clone()).await);
    }
    least
}

#[tokio::test]
async fn partners_see_only_their_own_referrals_and_other_vendors_none() {
    let w = world().await;
    let mine = w.submit(&w.partner_user, "Mine").await;
    let other_partner = w.app.partner(&w.vendor, &w.program, "Other partner", "LIVE").await;
    let input = json!({ "partnerId": other_partner, "lead": { "name": "Not yours" } });
    let theirs = w.app.ok(&w.vendor, SUBMIT, json!({ "i": input })).await["submitReferral"].clone();
    let list =
        w.app.ok(&w.partner_user, "{ referrals { totalCount edges { node { lead { name } } } } }", json!({})).await;
    assert_eq!(list["referrals"]["totalCount"], 1);
    let search =
        w.app.ok(&w.partner_user, "{ referrals(filter: { search: \"yours\" }) { totalCount } }", json!({})).await;
    assert_eq!(search["referrals"]["totalCount"], 0);
    for q in [
        "query($id: ID!) { referral(id: $id) { id } }",
        "query($id: ID!) { node(id: $id) { id } }",
        "query($id: ID!) { referralTimeline(id: $id) { kind } }",
        "mutation($id: ID!) { addNote(referralId: $id, body: \"x\") { id } }",
    ] {
        assert_eq!(w.app.code(Some(&w.partner_user), q, json!({ "id": theirs["id"] })).await, "NOT_FOUND", "{q}");
    }
    let node = w
        .app
        .ok(
            &w.partner_user,
            "query($id: ID!) { node(id: $id) { ... on Referral { lead { name } } } }",
            json!({ "id": mine["id"] }),
        )
        .await;
    assert_eq!(node["node"]["lead"]["name"], "Mine");
    // Another vendor sees nothing of it.
    let (_, stranger, _) = w.app.vendor("Stranger").await;
    assert_eq!(w.app.ok(&stranger, "{ referrals { totalCount } }", json!({})).await["referrals"]["totalCount"], 0);
    for q in ["query($id: ID!) { referral(id: $id) { id } }", "query($id: ID!) { referralTimeline(id: $id) { kind } }"]
    {
        assert_eq!(w.app.code(Some(&stranger), q, json!({ "id": mine["id"] })).await, "NOT_FOUND");
    }
    let err = w.app.error(Some(&stranger), SET_STATUS, json!({ "id": mine["id"], "s": "DENIED" })).await;
    assert_eq!(err["extensions"]["code"], "NOT_FOUND");
    // The partner record with referrals cannot be deleted.
    let code =
        w.app.code(Some(&w.vendor), "mutation($id: ID!) { deletePartner(id: $id) }", json!({ "id": w.partner })).await;
    assert_eq!(code, "CONFLICT");
}

const REPORT: &str = "mutation($id: ID!, $i: ReportOutcomeInput!) { reportOutcome(id: $id, input: $i) {
    status outcome invalidReason invalidReasonText reportBackDueAt reportBackOverdue version } }";

impl World {
    async fn report(&self, id: &str, input: Value) -> Result<Value, Value> {
        let (_, body) = self.app.post(Some(&self.vendor), REPORT, json!({ "id": id, "i": input })).await;
        if body["errors"].is_array() {
            Err(body["errors"][0].clone())
        } else {
            Ok(body["data"]["reportOutcome"].clone())
        }
    }

    async fn read(&self, id: &str, fields: &str) -> Value {
        let q = format!("query($id: ID!) {{ referral(id: $id) {{ {fields} }} }}");
        self.app.ok(&self.vendor, &q, json!({ "id": id })).await["referral"].clone()
    }
}

fn at(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339()
}

#[tokio::test]
async fn report_backs_are_owed_where_the_reward_waits_for_approval_and_move_the_status() {
    let w = world().await;
    // Per referral (trigger PENDING): nothing is owed.
    w.flat_program(500, "PENDING").await;
    let id = w.submit(&w.partner_user, "Early Bird").await["id"].as_str().unwrap().to_owned();
    assert_eq!(w.read(&id, "reportBackDueAt").await["reportBackDueAt"], Value::Null);

    // Per sale: due reportBackDays (14) after submission.
    w.flat_program(5_000, "APPROVED").await;
    let id = w.submit(&w.partner_user, "Pat Buyer").await["id"].as_str().unwrap().to_owned();
    let due = start_time() + Duration::days(14);
    assert_eq!(w.read(&id, "reportBackDueAt").await["reportBackDueAt"], at(due));

    // IN_PROGRESS keeps the status and moves the due time out from now.
    w.app.clock.advance(Duration::days(10));
    let r = w.report(&id, json!({ "outcome": "IN_PROGRESS", "note": "Second meeting next week" })).await.unwrap();
    assert_eq!((r["status"].as_str(), r["outcome"].as_str()), (Some("PENDING"), Some("IN_PROGRESS")));
    assert_eq!(r["reportBackDueAt"], at(start_time() + Duration::days(24)));

    // Past due: listed for follow-up, and shown on the record.
    w.app.clock.advance(Duration::days(15));
    assert_eq!(w.read(&id, "reportBackOverdue").await["reportBackOverdue"], true);
    let overdue = "query { referrals(filter: { reportBackOverdue: true }) { totalCount edges { node { id } } } }";
    let list = w.app.ok(&w.vendor, overdue, json!({})).await["referrals"].clone();
    assert_eq!((list["totalCount"].as_i64(), list["edges"][0]["node"]["id"].as_str()), (Some(1), Some(id.as_str())));
    // The follow-up order: soonest due first, referrals owing nothing last, either way.
    w.submit(&w.partner_user, "Cal Later").await;
    let by_due = "query($d: SortDirection!) { referrals(orderBy: { field: REPORT_BACK_DUE_AT, direction: $d }) {
        edges { node { lead { name } } } } }";
    for (direction, expected) in
        [("ASC", ["Pat Buyer", "Cal Later", "Early Bird"]), ("DESC", ["Cal Later", "Pat Buyer", "Early Bird"])]
    {
        let data = w.app.ok(&w.vendor, by_due, json!({ "d": direction })).await;
        let names: Vec<&str> = data["referrals"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["lead"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, expected, "{direction}");
    }

    // SOLD approves, earns the per-sale reward and clears the report back.
    let r = w.report(&id, json!({ "outcome": "SOLD" })).await.unwrap();
    assert_eq!(
        (r["status"].as_str(), r["outcome"].as_str(), &r["reportBackDueAt"], &r["reportBackOverdue"]),
        (Some("APPROVED"), Some("SOLD"), &Value::Null, &json!(false))
    );
    assert_eq!(w.rewards(&w.vendor, &id).await["rewards"][0]["amountMinor"], 5_000);
    assert_eq!(w.app.ok(&w.vendor, overdue, json!({})).await["referrals"]["totalCount"], 0);
    // The same report again changes nothing; another outcome is refused.
    assert_eq!(w.report(&id, json!({ "outcome": "SOLD" })).await.unwrap()["version"], r["version"]);
    let refused = w.report(&id, json!({ "outcome": "NO_SALE" })).await.unwrap_err();
    assert_eq!(refused["extensions"]["code"], "INVALID_TRANSITION");
    assert_eq!(refused["extensions"]["rule"], "nothing changes after APPROVED");

    // The timeline shows the outcome and the status change it caused, and the partner saw the note.
    let timeline = w.timeline(&w.partner_user, &id).await;
    let kinds: Vec<_> = timeline.iter().map(|e| (e["kind"].as_str().unwrap(), e["to"].as_str())).collect();
    assert!(kinds.contains(&("OUTCOME_CHANGE", Some("IN_PROGRESS"))), "{kinds:?}");
    assert!(kinds.contains(&("OUTCOME_CHANGE", Some("SOLD"))), "{kinds:?}");
    assert!(kinds.contains(&("STATUS_CHANGE", Some("APPROVED"))), "{kinds:?}");
    assert!(timeline.iter().any(|e| e["note"]["body"] == "Second meeting next week"));
    assert_eq!(w.app.notices(&w.partner_user, "REFERRAL_OUTCOME_REPORTED").await.len(), 2);
}

#[tokio::test]
async fn no_sale_keeps_the_status_and_invalid_denies_with_a_reason() {
    let w = world().await;
    w.commission_program(1000).await;
    let a = w.submit(&w.partner_user, "Ann Valid").await["id"].as_str().unwrap().to_owned();
    let r = w.report(&a, json!({ "outcome": "NO_SALE" })).await.unwrap();
    assert_eq!(
        (r["status"].as_str(), r["outcome"].as_str(), &r["reportBackDueAt"]),
        (Some("PENDING"), Some("NO_SALE"), &Value::Null)
    );

    let b = w.submit(&w.partner_user, "Bob Spam").await["id"].as_str().unwrap().to_owned();
    let code = |e: Value| {
        (e["extensions"]["code"].as_str().map(str::to_owned), e["extensions"]["field"].as_str().map(str::to_owned))
    };
    // Input errors are VALIDATION naming the field, and change nothing.
    let cases = [
        (json!({ "outcome": "SOLD", "invalidReason": "SPAM" }), "invalidReason"),
        (json!({ "outcome": "NO_SALE", "invalidReason": "OTHER" }), "invalidReasonText"),
        (json!({ "outcome": "NO_SALE", "invalidReasonText": "why" }), "invalidReasonText"),
        (json!({ "outcome": "SOLD" }), "saleAmountMinor"),
        (json!({ "outcome": "SOLD", "saleAmountMinor": -1 }), "saleAmountMinor"),
    ];
    for (input, field) in cases {
        let e = w.report(&b, input.clone()).await.unwrap_err();
        assert_eq!(code(e), (Some("VALIDATION".into()), Some(field.into())), "{input}");
    }
    assert_eq!(w.read(&b, "version outcome").await, json!({ "version": 1, "outcome": null }));

    let r = w
        .report(&b, json!({ "outcome": "NO_SALE", "invalidReason": "OTHER", "invalidReasonText": "Wrong number" }))
        .await
        .unwrap();
    assert_eq!(
        (r["status"].as_str(), r["invalidReason"].as_str(), r["invalidReasonText"].as_str()),
        (Some("DENIED"), Some("OTHER"), Some("Wrong number"))
    );
    let timeline = w.timeline(&w.vendor, &b).await;
    let outcome = timeline.iter().find(|e| e["kind"] == "OUTCOME_CHANGE").unwrap();
    assert_eq!(outcome["reason"], "invalid: OTHER (Wrong number)");

    // SOLD later, with the amount: DENIED → APPROVED and the commission.
    let r = w.report(&b, json!({ "outcome": "SOLD", "saleAmountMinor": 20_000 })).await.unwrap();
    assert_eq!((r["status"].as_str(), &r["invalidReason"]), (Some("APPROVED"), &Value::Null));
    assert_eq!(w.rewards(&w.vendor, &b).await["rewards"][0]["amountMinor"], 2_000);

    // Partners do not report outcomes; a stale version is a CONFLICT.
    let (_, body) = w.app.post(Some(&w.partner_user), REPORT, json!({ "id": a, "i": { "outcome": "SOLD" } })).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN");
    let e = w.report(&a, json!({ "outcome": "IN_PROGRESS", "expectedVersion": 1 })).await.unwrap_err();
    assert_eq!(e["extensions"]["code"], "CONFLICT");
}

#[tokio::test]
async fn a_final_status_set_directly_is_a_report_back() {
    let w = world().await;
    w.flat_program(5_000, "APPROVED").await;
    let id = w.submit(&w.partner_user, "Dee Direct").await["id"].as_str().unwrap().to_owned();
    w.status(&id, "QUALIFIED", json!({})).await.unwrap();
    assert_ne!(w.read(&id, "reportBackDueAt").await["reportBackDueAt"], Value::Null);
    w.status(&id, "DENIED", json!({})).await.unwrap();
    assert_eq!(w.read(&id, "reportBackDueAt").await["reportBackDueAt"], Value::Null);
}

/// ADMIN may stop new referrals to a vendor (seed 002 "we will stop sending
/// you referrals"): submissions by partners, by the vendor and through
/// referral links are refused, naming the vendor, until it is lifted.
#[tokio::test]
async fn a_suspended_vendor_receives_no_new_referrals_until_lifted() {
    let w = world().await;
    let vendor_id =
        w.app.ok(&w.vendor, "{ me { organization { id } } }", json!({})).await["me"]["organization"]["id"].clone();
    let suspend = "mutation($v: ID!, $s: Boolean, $r: String) {
        suspendVendorIntake(vendorId: $v, suspended: $s, reason: $r) { intakeSuspended } }";
    assert_eq!(w.app.code(Some(&w.vendor), suspend, json!({ "v": vendor_id })).await, "FORBIDDEN");
    let data = w.app.ok(&w.app.admin(), suspend, json!({ "v": vendor_id, "r": "unpaid invoices" })).await;
    assert_eq!(data["suspendVendorIntake"]["intakeSuspended"], true);
    assert_eq!(w.app.notices(&w.vendor, "INTAKE_SUSPENDED").await.len(), 1);
    let input = json!({ "i": { "partnerId": w.partner, "lead": { "name": "Paused" } } });
    for token in [&w.partner_user, &w.vendor] {
        let e = w.app.error(Some(token), SUBMIT, input.clone()).await;
        assert_eq!(e["extensions"]["code"], "FORBIDDEN");
        assert!(e["message"].as_str().unwrap().contains("Acme is not accepting new referrals"), "{e}");
    }
    let code =
        w.app.read_partner(&w.vendor, &w.partner, "referralCode").await["referralCode"].as_str().unwrap().to_owned();
    let link = "mutation($c: String!, $l: LeadInput!) { submitReferralViaLink(code: $c, lead: $l) { referenceId } }";
    let e =
        w.app.error(None, link, json!({ "c": code, "l": { "name": "Via link", "email": "via@link.example" } })).await;
    assert_eq!(e["extensions"]["code"], "FORBIDDEN", "{e}");
    // Suspending again changes nothing; lifting lets referrals in again.
    w.app.ok(&w.app.admin(), suspend, json!({ "v": vendor_id })).await;
    assert_eq!(w.app.notices(&w.vendor, "INTAKE_SUSPENDED").await.len(), 1);
    let data = w.app.ok(&w.app.admin(), suspend, json!({ "v": vendor_id, "s": false })).await;
    assert_eq!(data["suspendVendorIntake"]["intakeSuspended"], false);
    assert_eq!(w.submit(&w.partner_user, "Welcome Back").await["status"], "PENDING");
}

#[tokio::test]
async fn an_answer_lists_fields_in_the_order_the_query_asks_for_them() {
    // GraphQL orders a response's fields as the query selects them (spec
    // §7.2.2), even when an earlier field waits on the database.
    let w = world().await;
    let id = w.submit(&w.vendor, "Ordered Lead").await["id"].as_str().unwrap().to_owned();
    let query = "query($id: ID!) { referral(id: $id) { program { name } referenceId partner { name } id } }";
    let res = w
        .app
        .client
        .post(format!("{}/graphql", w.app.base))
        .bearer_auth(&w.vendor)
        .json(&json!({ "query": query, "variables": { "id": id } }))
        .send()
        .await
        .unwrap();
    let text = res.text().await.unwrap();
    let at = |key: &str| text.find(&format!("\"{key}\":")).unwrap_or_else(|| panic!("{key} in {text}"));
    let order = [at("program"), at("referenceId"), at("partner"), at("id")];
    assert!(order.windows(2).all(|w| w[0] < w[1]), "fields out of the query's order: {text}");
}
