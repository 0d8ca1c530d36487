//! Lead conflicts (PRODUCT.md §4): one customer, one partner with priority.
//! Claims decided by the database, the program's duplicate policy, the
//! vendor's decisions, money held back, and nothing told to partners.

use crate::common::{self, *};
use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use serde_json::{Value, json};

local_world!(
    /// Not linked: the vendor enters its leads.
    other: String,
);

// The linked partner "Realty" is `partner` (`partner_user` its user).
async fn world() -> World {
    let program = json!({ "rewardModel": "FLAT", "rewardAmountMinor": 1000, "rewardTrigger": "APPROVED" });
    let base = common::World::build().program(program).done().await;
    let other = base.app.partner(&base.vendor, &base.program, "Brokers", "LIVE").await;
    World { base, other }
}

const REFERRAL: &str = "id referenceId status invalidReason
    conflict { holder { id } kind value claimedAt foundAt open clearedAt clearReason }";

impl World {
    /// Submits a lead as `token` for `partner`: the body of the answer.
    async fn submit(&self, token: &str, partner: &str, lead: Value) -> Value {
        let q = format!("mutation($i: SubmitReferralInput!) {{ submitReferral(input: $i) {{ {REFERRAL} }} }}");
        let (_, body) = self.app.post(Some(token), &q, json!({ "i": { "partnerId": partner, "lead": lead } })).await;
        body
    }

    async fn submitted(&self, token: &str, partner: &str, lead: Value) -> Value {
        let body = self.submit(token, partner, lead).await;
        assert!(body["errors"].is_null(), "{body}");
        body["data"]["submitReferral"].clone()
    }

    async fn read(&self, token: &str, id: &Value) -> Value {
        let q = format!("query($id: ID!) {{ referral(id: $id) {{ {REFERRAL} }} }}");
        self.app.ok(token, &q, json!({ "id": id })).await["referral"].clone()
    }

    async fn listed(&self, token: &str, has_conflict: bool) -> Vec<Value> {
        let q = "query($c: Boolean) { referrals(filter: { hasConflict: $c }) { edges { node { id } } } }";
        let data = self.app.ok(token, q, json!({ "c": has_conflict })).await;
        data["referrals"]["edges"].as_array().unwrap().iter().map(|e| e["node"]["id"].clone()).collect()
    }

    async fn count(&self) -> usize {
        let data = self.app.ok(&self.vendor, "{ referrals { totalCount } }", json!({})).await;
        data["referrals"]["totalCount"].as_u64().unwrap() as usize
    }

    async fn set_status(&self, id: &Value, status: &str) {
        let q = "mutation($id: ID!, $s: ReferralStatus!) { setReferralStatus(id: $id, status: $s) { status } }";
        self.app.ok(&self.vendor, q, json!({ "id": id, "s": status })).await;
    }
}

#[tokio::test]
async fn a_second_partner_with_the_same_customer_is_flagged_for_the_vendor_only() {
    let w = world().await;
    let first = w.submitted(&w.vendor, &w.other, json!({ "name": "Ann", "email": "Ann.Lee@Acme-Corp.io" })).await;
    assert!(first["conflict"].is_null());
    // The same mailbox, spelt differently, through the linked partner.
    let second =
        w.submitted(&w.partner_user, &w.partner, json!({ "name": "Ann L", "email": "ann.lee+crm@acme-corp.io" })).await;
    assert_eq!(second["status"], "PENDING");
    // The partner that submitted it learns nothing: no conflict, no filter.
    assert!(second["conflict"].is_null());
    assert!(w.read(&w.partner_user, &second["id"]).await["conflict"].is_null());
    assert!(w.listed(&w.partner_user, true).await.is_empty());
    assert_eq!(w.listed(&w.partner_user, false).await, vec![second["id"].clone()]);
    // The vendor sees who holds priority, on which key, since when.
    let seen = w.read(&w.vendor, &second["id"]).await;
    let conflict = &seen["conflict"];
    assert_eq!(
        (&conflict["holder"]["id"], &conflict["kind"], &conflict["value"], &conflict["open"]),
        (&first["id"], &json!("EMAIL"), &json!("ann.lee@acme-corp.io"), &json!(true))
    );
    assert!(conflict["claimedAt"].is_string() && conflict["foundAt"].is_string());
    assert_eq!(w.listed(&w.vendor, true).await, vec![second["id"].clone()]);
    assert_eq!(w.listed(&w.vendor, false).await, vec![first["id"].clone()]);
    // The holder itself has no conflict; the same partner sending it again has none either.
    assert!(w.read(&w.vendor, &first["id"]).await["conflict"].is_null());
    let again = w.submitted(&w.vendor, &w.other, json!({ "name": "Ann again", "email": "ann.lee@acme-corp.io" })).await;
    assert!(w.read(&w.vendor, &again["id"]).await["conflict"].is_null());
}

#[tokio::test]
async fn refuse_refuses_a_duplicate_but_only_flags_a_domain_or_the_vendors_own_lead() {
    let w = world().await;
    w.set_program(json!({ "duplicatePolicy": "REFUSE", "phoneRegion": "gb" })).await;
    let q = "query($id: ID!) { program(id: $id) { duplicatePolicy phoneRegion leadProtectionDays } }";
    let program = w.app.ok(&w.vendor, q, json!({ "id": w.program })).await["program"].clone();
    assert_eq!(program, json!({ "duplicatePolicy": "REFUSE", "phoneRegion": "GB", "leadProtectionDays": 90 }));
    let holder = w
        .submitted(&w.vendor, &w.other, json!({ "name": "Bob", "email": "bob@bobco.co.uk", "phone": "020 7946 0958" }))
        .await;
    // The phone in another spelling: refused, and nothing is written.
    let before = w.count().await;
    let body = w.submit(&w.partner_user, &w.partner, json!({ "name": "Robert", "phone": "+44 20 7946 0958" })).await;
    let error = &body["errors"][0];
    assert_eq!(
        (&error["extensions"]["code"], &error["extensions"]["reason"]),
        (&json!("CONFLICT"), &json!("DUPLICATE_LEAD"))
    );
    assert!(!error["message"].as_str().unwrap().contains("Brokers"), "{error}");
    assert_eq!(w.count().await, before);
    // A colleague at the same company is only a DOMAIN match: flagged.
    let colleague =
        w.submitted(&w.partner_user, &w.partner, json!({ "name": "Cat", "email": "cat@bobco.co.uk" })).await;
    let conflict = w.read(&w.vendor, &colleague["id"]).await["conflict"].clone();
    assert_eq!((&conflict["kind"], &conflict["holder"]["id"]), (&json!("DOMAIN"), &holder["id"]));
    // The vendor's own direct lead for the customer: flagged, not refused.
    let q = format!(
        "mutation($p: ID!) {{ submitReferral(input: {{ programId: $p, lead: {{ name: \"Bob\", email: \"BOB@bobco.co.uk\" }} }}) {{ {REFERRAL} }} }}"
    );
    let direct = w.app.ok(&w.vendor, &q, json!({ "p": w.program })).await["submitReferral"].clone();
    assert_eq!(direct["conflict"]["kind"], "EMAIL");
    // Bad settings are refused with the field named.
    let q = "mutation($id: ID!) { updateProgram(id: $id, input: { phoneRegion: \"ZZZ\" }) { id } }";
    let error = w.app.error(Some(&w.vendor), q, json!({ "id": w.program })).await;
    assert_eq!(
        (&error["extensions"]["code"], &error["extensions"]["field"]),
        (&json!("VALIDATION"), &json!("phoneRegion"))
    );
}

/// 01:00 on the first of the month after `t`.
fn next_month(t: DateTime<Utc>) -> DateTime<Utc> {
    let (y, m) = if t.month() == 12 { (t.year() + 1, 1) } else { (t.year(), t.month() + 1) };
    Utc.with_ymd_and_hms(y, m, 1, 1, 0, 0).unwrap()
}

#[tokio::test]
async fn money_waits_for_the_vendor_and_a_duplicate_is_denied_without_naming_anyone() {
    let w = world().await;
    // Earned on submission, so a duplicate's reward exists before anyone looks.
    w.set_program(json!({ "rewardTrigger": "PENDING" })).await;
    let holder = w.submitted(&w.vendor, &w.other, json!({ "name": "Dee", "email": "dee@dee.io" })).await;
    let dup = w.submitted(&w.partner_user, &w.partner, json!({ "name": "Dee", "email": "dee@dee.io" })).await;
    assert_eq!(w.read(&w.vendor, &dup["id"]).await["conflict"]["holder"]["id"], holder["id"]);
    let cleared = w.submitted(&w.partner_user, &w.partner, json!({ "name": "Eve", "phone": "+1 202 555 0173" })).await;
    let eve = w.submitted(&w.vendor, &w.other, json!({ "name": "Eve", "phone": "+12025550173" })).await;
    // The flagged referrals' rewards are not billed while their conflicts are open.
    let close = next_month(w.app.clock.now_utc());
    let run = run_job(&w.app, "BILL_MONTH_END", close).await;
    assert_eq!(run["itemsTouched"], 2, "{run}");
    // The vendor clears one conflict (audited) and denies the other as a duplicate.
    let q = "mutation($id: ID!) { clearConflict(referralId: $id, reason: \"different Eve\") { conflict { open clearReason } } }";
    let data = w.app.ok(&w.vendor, q, json!({ "id": eve["id"] })).await["clearConflict"].clone();
    assert_eq!(data["conflict"], json!({ "open": false, "clearReason": "different Eve" }));
    let q = "query($id: ID!) { referralTimeline(id: $id) { event reason } }";
    let timeline = w.app.ok(&w.vendor, q, json!({ "id": eve["id"] })).await["referralTimeline"].clone();
    assert!(
        timeline.as_array().unwrap().contains(&json!({ "event": "CLEAR_CONFLICT", "reason": "different Eve" })),
        "{timeline}"
    );
    // Clearing twice: there is no open conflict left.
    let q = "mutation($id: ID!) { clearConflict(referralId: $id, reason: \"again\") { id } }";
    assert_eq!(w.app.code(Some(&w.vendor), q, json!({ "id": eve["id"] })).await, "NOT_FOUND");
    // A partner may not clear anything.
    assert_eq!(w.app.code(Some(&w.partner_user), q, json!({ "id": cleared["id"] })).await, "FORBIDDEN");
    let q = "mutation($id: ID!) { denyAsDuplicate(referralId: $id) { status invalidReason } }";
    let denied = w.app.ok(&w.vendor, q, json!({ "id": dup["id"] })).await["denyAsDuplicate"].clone();
    assert_eq!(denied, json!({ "status": "DENIED", "invalidReason": "DUPLICATE" }));
    // The partner reads a note that names no one.
    let q = "query($id: ID!) { referral(id: $id) { status conflict { kind } }
        referralTimeline(id: $id) { note { body visibility } } }";
    let seen = w.app.ok(&w.partner_user, q, json!({ "id": dup["id"] })).await;
    assert_eq!(seen["referral"]["status"], "DENIED");
    assert!(seen["referral"]["conflict"].is_null());
    let notes: Vec<&Value> =
        seen["referralTimeline"].as_array().unwrap().iter().filter(|e| !e["note"].is_null()).collect();
    assert_eq!(
        notes,
        [&json!({ "note": { "body": "another partner has priority for this customer", "visibility": "SHARED" } })]
    );
    assert!(!seen.to_string().contains("Brokers"));
    // The next month end bills the cleared one; the denied one's reward is void.
    let later = run_job(&w.app, "BILL_MONTH_END", next_month(close + Duration::days(1))).await;
    assert_eq!(later["itemsTouched"], 1, "{later}");
    let q = "{ rewards { edges { node { status referralId } } } }";
    let rewards = w.app.ok(&w.vendor, q, json!({})).await["rewards"]["edges"].clone();
    let status_of = |id: &Value| {
        rewards.as_array().unwrap().iter().find(|e| &e["node"]["referralId"] == id).unwrap()["node"]["status"].clone()
    };
    assert_eq!(status_of(&dup["id"]), "VOID");
    assert_eq!(status_of(&eve["id"]), "BILLED");
}

#[tokio::test]
async fn a_denied_holder_passes_priority_on_and_an_expired_claim_is_free() {
    let w = world().await;
    w.set_program(json!({ "leadProtectionDays": 30 })).await;
    let first = w.submitted(&w.vendor, &w.other, json!({ "name": "Fay", "email": "fay@fay.io" })).await;
    w.app.clock.advance(Duration::hours(1));
    let second = w.submitted(&w.partner_user, &w.partner, json!({ "name": "Fay", "email": "fay@fay.io" })).await;
    assert_eq!(w.read(&w.vendor, &second["id"]).await["conflict"]["holder"]["id"], first["id"]);
    // The holder is denied: the next live referral with the key holds it, and its conflict ends.
    w.set_status(&first["id"], "DENIED").await;
    let conflict = w.read(&w.vendor, &second["id"]).await["conflict"].clone();
    assert_eq!(
        (&conflict["open"], &conflict["clearReason"]),
        (&json!(false), &json!("the referral with priority was denied"))
    );
    let third = w.submitted(&w.vendor, &w.other, json!({ "name": "Fay", "email": "fay@fay.io" })).await;
    assert_eq!(w.read(&w.vendor, &third["id"]).await["conflict"]["holder"]["id"], second["id"]);
    // A CSV import that denies the holder passes priority on just the same.
    let csv = format!("referralkey_ID,status\n{},DENIED\n", second["referenceId"].as_str().unwrap());
    let q = "mutation($csv: String!) { previewReferralImport(csv: $csv) { id validCount } }";
    let batch = w.app.ok(&w.vendor, q, json!({ "csv": csv })).await["previewReferralImport"].clone();
    assert_eq!(batch["validCount"], 1);
    let q = "mutation($id: ID!) { commitReferralImport(batchId: $id) { status } }";
    w.app.ok(&w.vendor, q, json!({ "id": batch["id"] })).await;
    let conflict = w.read(&w.vendor, &third["id"]).await["conflict"].clone();
    assert_eq!((&conflict["open"], &conflict["holder"]["id"]), (&json!(false), &third["id"]));
    let after_import = w.submitted(&w.partner_user, &w.partner, json!({ "name": "Fay", "email": "fay@fay.io" })).await;
    assert_eq!(w.read(&w.vendor, &after_import["id"]).await["conflict"]["holder"]["id"], third["id"]);
    // After the protection window the claim passes, when the key is next
    // claimed, to the next live referral that added it: the one flagged
    // against the holder after the import, whose conflict ends.
    w.app.clock.advance(Duration::days(31));
    let fourth = w.submitted(&w.vendor, &w.other, json!({ "name": "Fay", "email": "fay@fay.io" })).await;
    let passed = w.read(&w.vendor, &after_import["id"]).await["conflict"].clone();
    assert_eq!((&passed["open"], &passed["holder"]["id"]), (&json!(false), &after_import["id"]));
    let conflict = w.read(&w.vendor, &fourth["id"]).await["conflict"].clone();
    assert_eq!((&conflict["holder"]["id"], &conflict["open"]), (&after_import["id"], &json!(true)));
    // Once that one runs out too with no one after it, a newcomer claims it afresh.
    w.app.clock.advance(Duration::days(31));
    w.set_status(&fourth["id"], "DENIED").await;
    let fifth = w.submitted(&w.vendor, &w.other, json!({ "name": "Fay", "email": "fay@fay.io" })).await;
    assert!(w.read(&w.vendor, &fifth["id"]).await["conflict"].is_null());
    let sixth = w.submitted(&w.partner_user, &w.partner, json!({ "name": "Fay", "email": "fay@fay.io" })).await;
    assert_eq!(w.read(&w.vendor, &sixth["id"]).await["conflict"]["holder"]["id"], fifth["id"]);
}

#[tokio::test]
async fn an_edit_claims_its_new_keys_from_the_time_of_the_edit() {
    let w = world().await;
    let holder = w.submitted(&w.vendor, &w.other, json!({ "name": "Gus", "email": "gus@gus.io" })).await;
    let mine = w.submitted(&w.partner_user, &w.partner, json!({ "name": "Gus" })).await;
    assert!(w.read(&w.vendor, &mine["id"]).await["conflict"].is_null());
    let q = "mutation($id: ID!) { editReferral(id: $id, lead: { email: \"GUS@gus.io\" }) { id } }";
    w.app.ok(&w.partner_user, q, json!({ "id": mine["id"] })).await;
    let conflict = w.read(&w.vendor, &mine["id"]).await["conflict"].clone();
    assert_eq!((&conflict["kind"], &conflict["holder"]["id"]), (&json!("EMAIL"), &holder["id"]));
}

#[tokio::test]
async fn a_lead_that_is_the_partner_itself_is_a_self_referral() {
    let w = world().await;
    let q = "mutation($p: ID!) { createPartner(input: { programId: $p, name: \"Agents\", status: LIVE,
        contactEmail: \"ops@agents-ltd.example\" }) { id } }";
    let agents = w.app.ok(&w.vendor, q, json!({ "p": w.program })).await["createPartner"]["id"].clone();
    let own = w
        .submitted(&w.vendor, agents.as_str().unwrap(), json!({ "name": "Boss", "email": "boss@Agents-Ltd.example" }))
        .await;
    let conflict = w.read(&w.vendor, &own["id"]).await["conflict"].clone();
    assert_eq!(
        (&conflict["kind"], &conflict["holder"], &conflict["value"]),
        (&json!("SELF_REFERRAL"), &Value::Null, &json!("agents-ltd.example"))
    );
    // A user of the linked partner organization sends herself (a free-mail
    // address: only the mailbox itself can match).
    let me = w.app.ok(&w.partner_user, "{ me { organization { id } } }", json!({})).await;
    let req = referral_hub::auth::MintRequest {
        subject: "realtor-two".into(),
        role: "PARTNER".into(),
        org: Some(row_id(&me["me"]["organization"]["id"])),
        lifetime: Duration::days(3650),
        name: None,
        email: Some("Realtor.Two@gmail.com".into()),
    };
    let herself = w.app.keys.mint(&req, w.app.clock.now_utc()).unwrap();
    w.app.ok(&herself, "{ me { organization { id } } }", json!({})).await;
    let own =
        w.submitted(&w.partner_user, &w.partner, json!({ "name": "Me", "email": "realtor.two+x@gmail.com" })).await;
    let conflict = w.read(&w.vendor, &own["id"]).await["conflict"].clone();
    assert_eq!((&conflict["kind"], &conflict["value"]), (&json!("SELF_REFERRAL"), &json!("realtor.two@gmail.com")));
    let stranger = w.submitted(&w.partner_user, &w.partner, json!({ "name": "Pat", "email": "pat@gmail.com" })).await;
    assert!(w.read(&w.vendor, &stranger["id"]).await["conflict"].is_null());
}

#[tokio::test]
async fn two_partners_sending_one_customer_at_once_give_exactly_one_holder() {
    let w = world().await;
    let pairs = 50;
    let submissions = (0..pairs).flat_map(|i| {
        let lead = json!({ "name": format!("Lead {i}"), "email": format!("lead@race{i}.io") });
        [(w.vendor.clone(), w.other.clone(), lead.clone()), (w.partner_user.clone(), w.partner.clone(), lead)]
    });
    let created: Vec<Value> = futures_util::future::join_all(submissions.map(|(token, partner, lead)| {
        let w = &w;
        async move { w.submitted(&token, &partner, lead).await }
    }))
    .await;
    let mut holders = 0;
    for pair in created.chunks(2) {
        let seen = [w.read(&w.vendor, &pair[0]["id"]).await, w.read(&w.vendor, &pair[1]["id"]).await];
        let free: Vec<&Value> = seen.iter().filter(|r| r["conflict"].is_null()).collect();
        assert_eq!(free.len(), 1, "{seen:?}");
        let flagged = seen.iter().find(|r| !r["conflict"].is_null()).unwrap();
        assert_eq!(flagged["conflict"]["holder"]["id"], free[0]["id"]);
        holders += 1;
    }
    assert_eq!(holders, pairs);
}

#[tokio::test]
async fn the_migration_backfills_keys_and_claims_of_existing_referrals() {
    use migration::{Migrator, MigratorTrait};
    let w = world().await;
    let first = w
        .submitted(&w.vendor, &w.other, json!({ "name": "Hal", "email": "hal@hal.io", "phone": "+1 202 555 0173" }))
        .await;
    let second = w.submitted(&w.partner_user, &w.partner, json!({ "name": "Hal", "email": "HAL@hal.io" })).await;
    // As if these referrals predated lead conflicts: undo the migration
    // (and those after it) and run them again.
    let newer = Migrator::migrations().iter().rev().position(|m| m.name() == "m20261201_000014_lead_conflicts");
    Migrator::down(&w.app.ctx.db, Some(newer.unwrap() as u32 + 1)).await.unwrap();
    Migrator::up(&w.app.ctx.db, None).await.unwrap();
    assert!(w.read(&w.vendor, &second["id"]).await["conflict"].is_null(), "past duplicates stay as they were");
    // The first referral holds its keys again: a new lead for the customer conflicts with it.
    let third = w.submitted(&w.partner_user, &w.partner, json!({ "name": "Hal", "phone": "+1 (202) 555-0173" })).await;
    let conflict = w.read(&w.vendor, &third["id"]).await["conflict"].clone();
    assert_eq!((&conflict["kind"], &conflict["holder"]["id"]), (&json!("PHONE"), &first["id"]));
    let fourth = w.submitted(&w.vendor, &w.other, json!({ "name": "Hal", "email": "hal@hal.io" })).await;
    assert!(w.read(&w.vendor, &fourth["id"]).await["conflict"].is_null(), "the holder's own partner again");
}

#[tokio::test]
async fn a_customer_the_vendor_assigns_holds_its_contacts_and_tenant_id() {
    let w = world().await;
    let q = "mutation($p: ID!) { createAssignedReferral(input: { programId: $p, tenantName: \"Ivy Ltd\", tenantId: \"T-42\",
        tenantSource: VENDOR, contacts: [{ name: \"Ivy\", email: \"ivy@ivy-ltd.example\", phone: \"+1 202 555 0199\" }] }) { id } }";
    let assigned = w.app.ok(&w.vendor, q, json!({ "p": w.program })).await["createAssignedReferral"]["id"].clone();
    // A partner's lead for one of its contacts conflicts with the vendor's customer.
    let lead = w.submitted(&w.partner_user, &w.partner, json!({ "name": "Ivy", "phone": "+12025550199" })).await;
    let conflict = w.read(&w.vendor, &lead["id"]).await["conflict"].clone();
    assert_eq!((&conflict["kind"], &conflict["holder"]["id"]), (&json!("PHONE"), &assigned));
    // Under REFUSE it is refused: the customer is the vendor's already.
    w.set_program(json!({ "duplicatePolicy": "REFUSE" })).await;
    let body = w.submit(&w.vendor, &w.other, json!({ "name": "Ivy", "email": "IVY@ivy-ltd.example" })).await;
    assert_eq!(body["errors"][0]["extensions"]["reason"], "DUPLICATE_LEAD", "{body}");
}
