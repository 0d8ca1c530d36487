//! Assigned referrals (PRODUCT.md §7, seed 004): hand-offs to partners,
//! acceptance within the window, fair reassignment, and who sees what.

use std::collections::HashMap;

use crate::common::*;
use chrono::Duration;
use serde_json::{Value, json};

struct Holder {
    partner: String,
    token: String,
    org: i64,
}

struct World {
    app: TestApp,
    vendor: String,
    program: String,
    partners: Vec<Holder>,
}

/// A vendor with a program (services Onboarding, Training, Migration) and
/// `n` LIVE partners, each linked to its own organization, created a
/// minute apart (the first is the oldest).
async fn world(n: usize) -> World {
    world_on(spawn_app().await, n).await
}

async fn world_on(app: TestApp, n: usize) -> World {
    let (_, vendor, program) = app.vendor("Acme").await;
    let q = "mutation($id: ID!) { updateProgram(id: $id, input: { valueAddedServices: [\"Onboarding\", \"Training\", \"Migration\"], activeUsageUrl: \"https://frp.example.com\" }) { id } }";
    app.ok(&vendor, q, json!({ "id": program })).await;
    let mut partners = Vec::new();
    for i in 0..n {
        let (partner, token, org) =
            app.link(&vendor, &program, &format!("P{i}"), &format!("Org{i}"), &format!("user{i}")).await;
        partners.push(Holder { partner, token, org });
        app.clock.advance(Duration::minutes(1));
    }
    World { app, vendor, program, partners }
}

const OFFER: &str = "id acceptance tenantName referenceId stage servicesSold estimatedValueMinor detailsAvailable
    version acceptanceDueAt partner { id name }";

impl World {
    /// An assigned referral in the vendor's pool; returns its id.
    async fn create(&self, name: &str) -> String {
        let q = "mutation($i: CreateAssignedReferralInput!) { createAssignedReferral(input: $i) { id direction } }";
        let input = json!({
            "programId": self.program, "tenantName": name, "tenantId": format!("T-{name}"), "tenantSource": "MARKETPLACE",
            "profile": { "country": "DE", "companySize": "250-999", "industry": "Retail", "need": "Cloud migration" },
            "contacts": [{ "name": "Ann Buyer", "email": "ann@tenant.example", "phone": "+49 30 1234", "jobTitle": "CTO" }]
        });
        let data = self.app.ok(&self.vendor, q, json!({ "i": input })).await;
        assert_eq!(data["createAssignedReferral"]["direction"], "ASSIGNED");
        data["createAssignedReferral"]["id"].as_str().unwrap().to_owned()
    }

    /// Assigns (by the rule, or to `partner`); returns the offer, or Null for the pool.
    async fn assign(&self, referral: &str, partner: Option<&str>) -> Value {
        let q = format!(
            "mutation($r: ID!, $p: ID) {{ assignReferral(referralId: $r, partnerId: $p) {{ assignment {{ {OFFER} }} }} }}"
        );
        self.app.ok(&self.vendor, &q, json!({ "r": referral, "p": partner })).await["assignReferral"]["assignment"]
            .clone()
    }

    fn holder_of(&self, offer: &Value) -> &Holder {
        let partner = offer["partner"]["id"].as_str().unwrap();
        self.partners.iter().find(|h| h.partner == partner).expect("a partner of the world")
    }

    async fn respond(&self, token: &str, offer: &Value, accept: bool, extra: Value) -> (u16, Value) {
        let q = format!(
            "mutation($id: ID!, $a: Boolean!, $r: DeclineReason, $c: String, $n: String) {{
                respondToAssignment(id: $id, accept: $a, declineReason: $r, declineComment: $c, note: $n) {{ {OFFER} }} }}"
        );
        let mut vars = json!({ "id": offer["id"], "a": accept });
        for (k, v) in extra.as_object().unwrap() {
            vars[k] = v.clone();
        }
        self.app.post(Some(token), &q, vars).await
    }

    async fn offer(&self, token: &str, id: &Value) -> Value {
        let q = format!("query($id: ID!) {{ assignedReferral(id: $id) {{ {OFFER} }} }}");
        self.app.ok(token, &q, json!({ "id": id })).await["assignedReferral"].clone()
    }

    /// The live offer of a referral (vendor view).
    async fn current(&self, referral: &str) -> Value {
        let q = format!("query($id: ID!) {{ referral(id: $id) {{ currentAssignment {{ {OFFER} }} }} }}");
        self.app.ok(&self.vendor, &q, json!({ "id": referral })).await["referral"]["currentAssignment"].clone()
    }

    async fn sweep(&self, after: Duration) -> Value {
        run_job(&self.app, "REASSIGN_EXPIRED", self.app.clock.now_utc() + after).await
    }
}

fn code(body: &Value) -> (&str, Option<&str>) {
    let ext = &body["errors"][0]["extensions"];
    (ext["code"].as_str().unwrap_or("none"), ext["reason"].as_str())
}

#[tokio::test]
async fn an_offer_is_accepted_and_contacts_come_with_acceptance() {
    let w = world(2).await;
    let r = w.create("Globex").await;
    let offer = w.assign(&r, None).await;
    assert_eq!(offer["acceptance"], "PENDING");
    assert_eq!(offer["partner"]["id"], json!(w.partners[0].partner), "equal partners: the oldest first");
    let holder = w.holder_of(&offer);
    // The partner's list shows it at once.
    let list = w
        .app
        .ok(
            &holder.token,
            "{ assignedReferrals { totalCount edges { node { tenantName acceptance vendorName programName } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        list["assignedReferrals"]["edges"][0]["node"],
        json!({ "tenantName": "Globex", "acceptance": "PENDING", "vendorName": "Acme", "programName": "Main" })
    );
    // Before acceptance: profile, job titles, active usage link; no names.
    let details = "query($id: ID!) { assignedReferral(id: $id) { referral { tenantProfile { country need } contacts { jobTitle } activeUsage { latest { percent } expectedBy dashboardUrl } } } }";
    let seen = w.app.ok(&holder.token, details, json!({ "id": offer["id"] })).await;
    let referral = &seen["assignedReferral"]["referral"];
    assert_eq!(referral["contacts"][0]["jobTitle"], "CTO");
    assert_eq!(referral["tenantProfile"]["country"], "DE");
    assert_eq!(referral["activeUsage"]["dashboardUrl"], "https://frp.example.com");
    assert!(referral["activeUsage"]["expectedBy"].is_string());
    let names = "query($id: ID!) { assignedReferral(id: $id) { referral { contacts { name email phone } } } }";
    let (_, body) = w.app.post(Some(&holder.token), names, json!({ "id": offer["id"] })).await;
    assert_eq!(code(&body), ("FORBIDDEN", Some("ACCEPT_TO_VIEW")), "{body}");
    // Another partner does not see it at all.
    let other = &w.partners[1];
    let (_, body) = w.app.post(Some(&other.token), names, json!({ "id": offer["id"] })).await;
    assert_eq!(code(&body).0, "NOT_FOUND");
    // Accept: contacts are revealed.
    let (_, body) = w.respond(&holder.token, &offer, true, json!({})).await;
    assert_eq!(body["data"]["respondToAssignment"]["acceptance"], "ACCEPTED", "{body}");
    let seen = w.app.ok(&holder.token, names, json!({ "id": offer["id"] })).await;
    assert_eq!(
        seen["assignedReferral"]["referral"]["contacts"][0],
        json!({ "name": "Ann Buyer", "email": "ann@tenant.example", "phone": "+49 30 1234" })
    );
    // Accepting again changes nothing.
    let (_, body) = w.respond(&holder.token, &offer, true, json!({})).await;
    assert_eq!(body["data"]["respondToAssignment"]["version"], 2);
}

#[tokio::test]
async fn the_holder_works_the_offer_and_the_next_holder_starts_empty() {
    let w = world(2).await;
    let r = w.create("Initech").await;
    let offer = w.assign(&r, None).await;
    let holder = w.holder_of(&offer);
    // Not before accepting.
    let update = format!(
        "mutation($id: ID!, $i: UpdateAssignedReferralInput!) {{ updateAssignedReferral(id: $id, input: $i) {{ {OFFER} }} }}"
    );
    let (_, body) =
        w.app.post(Some(&holder.token), &update, json!({ "id": offer["id"], "i": { "stage": "Demo" } })).await;
    assert_eq!(code(&body).0, "FORBIDDEN");
    w.respond(&holder.token, &offer, true, json!({})).await;
    let input = json!({ "stage": "demo", "servicesSold": ["Training", "onboarding"], "estimatedValueMinor": 125000, "note": "Kick-off on Monday" });
    let done =
        w.app.ok(&holder.token, &update, json!({ "id": offer["id"], "i": input })).await["updateAssignedReferral"]
            .clone();
    assert_eq!(
        (&done["stage"], &done["servicesSold"], &done["estimatedValueMinor"]),
        (&json!("Demo"), &json!(["Training", "Onboarding"]), &json!(125000))
    );
    let (_, body) = w
        .app
        .post(Some(&holder.token), &update, json!({ "id": offer["id"], "i": { "servicesSold": ["Catering"] } }))
        .await;
    assert_eq!(code(&body).0, "VALIDATION");
    // A report viewer of the holder works it too (seed 004's tab roles).
    let viewer = w.app.token("REPORT_VIEWER", Some(holder.org), "analyst");
    w.app.ok(&viewer, &update, json!({ "id": offer["id"], "i": { "estimatedValueMinor": 130000 } })).await;
    // The partner gives it up: declined with a reason, offered again at once.
    let (_, body) = w.respond(&holder.token, &offer, false, json!({ "r": "OTHER" })).await;
    assert_eq!(code(&body).0, "VALIDATION", "OTHER needs a comment");
    let (_, body) = w.respond(&holder.token, &offer, false, json!({ "r": "BUDGET", "n": "No budget this year" })).await;
    assert_eq!(body["data"]["respondToAssignment"]["acceptance"], "DECLINED", "{body}");
    let next = w.current(&r).await;
    assert_eq!(next["partner"]["id"], json!(w.partners[1].partner));
    assert_eq!(
        (&next["stage"], &next["servicesSold"], &next["estimatedValueMinor"]),
        (&Value::Null, &json!([]), &Value::Null)
    );
    // The old holder keeps a plain-text row; details are over.
    let mine = w.offer(&holder.token, &offer["id"]).await;
    assert_eq!((&mine["acceptance"], &mine["detailsAvailable"]), (&json!("DECLINED"), &json!(false)));
    let q = "query($id: ID!) { assignedReferral(id: $id) { referral { id } } }";
    let (_, body) = w.app.post(Some(&holder.token), q, json!({ "id": offer["id"] })).await;
    assert_eq!(code(&body), ("FORBIDDEN", Some("ACCESS_ENDED")));
    let (_, body) = w
        .app
        .post(Some(&holder.token), "query($id: ID!) { referralTimeline(id: $id) { kind } }", json!({ "id": r }))
        .await;
    assert_eq!(code(&body), ("FORBIDDEN", Some("ACCESS_ENDED")));
    // The new holder never sees the earlier holder's notes or events.
    let new = &w.partners[1];
    let timeline = w
        .app
        .ok(
            &new.token,
            "query($id: ID!) { referralTimeline(id: $id) { kind note { body } event } }",
            json!({ "id": r }),
        )
        .await;
    let text = timeline.to_string();
    assert!(!text.contains("Kick-off") && !text.contains("No budget"), "{text}");
    assert!(!text.contains("DECLINE"), "{text}");
    // The vendor sees all of it.
    let all = w
        .app
        .ok(&w.vendor, "query($id: ID!) { referralTimeline(id: $id) { note { body } event } }", json!({ "id": r }))
        .await;
    let text = all.to_string();
    assert!(text.contains("Kick-off") && text.contains("DECLINE"), "{text}");
}

#[tokio::test]
async fn the_window_closes_at_seven_days_and_the_sweep_reassigns_once() {
    let w = world(3).await;
    let r = w.create("Umbrella").await;
    let offer = w.assign(&r, None).await;
    let holder = w.holder_of(&offer);
    // The reminder: one, 24 hours before the due time.
    let run = w.sweep(Duration::days(6) + Duration::hours(1)).await;
    assert_eq!(run["itemsTouched"], 1);
    assert_eq!(w.sweep(Duration::days(6) + Duration::hours(2)).await["itemsTouched"], 0, "reminded once");
    assert_eq!(w.app.notices(&holder.token, "ASSIGNMENT_REMINDER").await.len(), 1);
    // 6 d 23 h 59 m: nothing expires.
    assert_eq!(w.sweep(Duration::days(7) - Duration::minutes(1)).await["itemsTouched"], 0);
    // Accepting at the due time is refused before the sweep has run.
    w.app.clock.advance(Duration::days(7));
    let (_, body) = w.respond(&holder.token, &offer, true, json!({})).await;
    assert_eq!(code(&body).0, "INVALID_TRANSITION", "{body}");
    // 7 d: it expires and goes to the next partner; a rerun changes nothing.
    let run = w.sweep(Duration::zero()).await;
    assert_eq!(run["itemsTouched"], 2, "one expired, one offered: {run}");
    assert_eq!(w.offer(&holder.token, &offer["id"]).await["acceptance"], "EXPIRED");
    let next = w.current(&r).await;
    assert_eq!(next["partner"]["id"], json!(w.partners[1].partner));
    assert_eq!(w.sweep(Duration::zero()).await["itemsTouched"], 0);
    // The expiry is the last the old holder hears of it.
    assert_eq!(w.app.notices(&holder.token, "ASSIGNMENT_EXPIRED").await.len(), 1);
    assert!(w.app.notices(&w.partners[1].token, "ASSIGNMENT_OFFERED").await.len() == 1);
}

#[tokio::test]
async fn equal_partners_share_evenly_and_ignoring_offers_earns_none() {
    let w = world(5).await;
    let mut counts: HashMap<String, usize> = HashMap::new();
    for i in 0..100 {
        let r = w.create(&format!("T{i}")).await;
        let offer = w.assign(&r, None).await;
        *counts.entry(offer["partner"]["id"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    assert!(counts.values().all(|n| *n == 20), "{counts:?}");
    // Everyone's offers expire: each referral is offered again to someone
    // who has not had it, and the partners' totals stay within one.
    w.app.clock.advance(Duration::days(8));
    w.sweep(Duration::zero()).await;
    let q = "{ assignedReferrals(first: 100) { totalCount } }";
    let mut totals = Vec::new();
    for h in &w.partners {
        totals.push(w.app.ok(&h.token, q, json!({})).await["assignedReferrals"]["totalCount"].as_i64().unwrap());
    }
    assert_eq!(totals.iter().sum::<i64>(), 200);
    assert!(totals.iter().max().unwrap() - totals.iter().min().unwrap() <= 1, "{totals:?}");
}

#[tokio::test]
async fn a_partner_that_ignores_offers_does_not_get_more_of_them() {
    let w = world(3).await;
    let (a, x) = (&w.partners[0], &w.partners[1]);
    // A (older) and X both receive two; A accepts, X lets them expire (they
    // go to B).
    for _ in 0..2 {
        let to_a = w.assign(&w.create("a").await, Some(&a.partner)).await;
        w.respond(&a.token, &to_a, true, json!({})).await;
        w.assign(&w.create("x").await, Some(&x.partner)).await;
    }
    w.app.clock.advance(Duration::days(8));
    w.sweep(Duration::zero()).await;
    // X's expired offers still count: A and X are level at two, and the
    // older A gets the next one (were only live offers counted, X would).
    let next = w.assign(&w.create("next").await, None).await;
    assert_eq!(next["partner"]["id"], json!(a.partner));
}

#[tokio::test]
async fn pause_capacity_status_and_the_empty_pool() {
    let w = world(3).await;
    let pause =
        "mutation($p: ID!, $u: DateTime) { pauseAssignments(partnerId: $p, until: $u) { assignmentsPausedUntil } }";
    let until = (w.app.clock.now_utc() + Duration::days(3)).to_rfc3339();
    w.app.ok(&w.partners[0].token, pause, json!({ "p": w.partners[0].partner, "u": until })).await;
    let too_long = (w.app.clock.now_utc() + Duration::days(31)).to_rfc3339();
    assert_eq!(
        w.app.code(Some(&w.partners[0].token), pause, json!({ "p": w.partners[0].partner, "u": too_long })).await,
        "VALIDATION"
    );
    let cap = "mutation($p: ID!, $m: Int) { setMaxOpenAssignments(partnerId: $p, max: $m) { maxOpenAssignments } }";
    w.app.ok(&w.vendor, cap, json!({ "p": w.partners[1].partner, "m": 1 })).await;
    w.app
        .ok(&w.vendor, "mutation($id: ID!) { endPartner(id: $id) { status } }", json!({ "id": w.partners[2].partner }))
        .await;
    // Only partner 1 can take one offer.
    let first = w.assign(&w.create("A").await, None).await;
    assert_eq!(first["partner"]["id"], json!(w.partners[1].partner));
    let r = w.create("B").await;
    assert_eq!(w.assign(&r, None).await, Value::Null, "nobody is eligible: the pool");
    assert_eq!(w.app.notices(&w.vendor, "ASSIGNMENT_RETURNED_TO_POOL").await.len(), 1);
    // The preview says why, for each candidate.
    let q = "mutation($r: ID!) { previewAssignment(referralId: $r) { name excludedBecause place } }";
    let preview = w.app.ok(&w.vendor, q, json!({ "r": r })).await["previewAssignment"].clone();
    let why: HashMap<String, Value> = preview
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap().to_owned(), c["excludedBecause"].clone()))
        .collect();
    assert_eq!(why["P0"], "PAUSED");
    assert_eq!(why["P1"], "AT_CAPACITY");
    assert_eq!(why["P2"], "STATUS");
    // When the pause ends, the preview's first place is the pick.
    w.app.clock.advance(Duration::days(4));
    let preview = w.app.ok(&w.vendor, q, json!({ "r": r })).await["previewAssignment"].clone();
    let first_place = preview.as_array().unwrap().iter().find(|c| c["place"] == 1).unwrap()["name"].clone();
    let offer = w.assign(&r, None).await;
    assert_eq!(offer["partner"]["name"], first_place);
    // The vendor may name anyone linked (over a capacity), not an ended partner.
    let c = w.create("C").await;
    assert_eq!(w.assign(&c, Some(&w.partners[1].partner)).await["partner"]["id"], json!(w.partners[1].partner));
    let d = w.create("D").await;
    let q = "mutation($r: ID!, $p: ID) { assignReferral(referralId: $r, partnerId: $p) { assignment { id } } }";
    assert_eq!(w.app.code(Some(&w.vendor), q, json!({ "r": d, "p": w.partners[2].partner })).await, "VALIDATION");
    assert_eq!(
        w.app.code(Some(&w.vendor), q, json!({ "r": c, "p": w.partners[0].partner })).await,
        "CONFLICT",
        "already offered"
    );
}

#[tokio::test]
async fn lapsed_partners_stay_eligible_and_fewest_recent_offers_win() {
    let w = world(2).await;
    // Partner 0 lapses (a lead long ago); it is still eligible.
    let tx_lead = receive_lead(&w.app, &w.partners[0].partner).await.unwrap();
    assert_eq!(tx_lead.status, entity::PartnerStatus::Active);
    run_job(&w.app, "LAPSE_PARTNERS", w.app.clock.now_utc() + Duration::days(40)).await;
    assert_eq!(w.app.read_partner(&w.vendor, &w.partners[0].partner, "status").await["status"], "LAPSED");
    // Partner 0 already had one offer (named), so the rule picks partner 1, then 0.
    w.assign(&w.create("X").await, Some(&w.partners[0].partner)).await;
    assert_eq!(w.assign(&w.create("Y").await, None).await["partner"]["id"], json!(w.partners[1].partner));
    let third = w.assign(&w.create("Z").await, None).await;
    assert_eq!(third["partner"]["id"], json!(w.partners[0].partner), "oldest at equal counts; LAPSED is eligible");
    let q = "query($id: ID!) { assignedReferral(id: $id) { pickReason } }";
    let reason = w.app.ok(&w.vendor, q, json!({ "id": third["id"] })).await["assignedReferral"]["pickReason"].clone();
    assert_eq!(reason["decidedBy"], "OLDEST_PARTNER", "{reason}");
    assert_eq!(reason["winner"]["recentOffers"], 1);
    // Partners never see pick reasons.
    let (_, body) = w.app.post(Some(&w.partners[0].token), q, json!({ "id": third["id"] })).await;
    assert_eq!(code(&body).0, "FORBIDDEN");
}

#[tokio::test]
async fn every_column_sorts_both_ways_with_stable_pages() {
    let w = world(1).await;
    let holder = &w.partners[0];
    let names = ["delta", "Alpha", "charlie", "Bravo", "alpha", "Écho"];
    for (i, name) in names.iter().enumerate() {
        let r = w.create(name).await;
        let offer = w.assign(&r, Some(&holder.partner)).await;
        if i % 2 == 0 {
            w.respond(&holder.token, &offer, true, json!({})).await;
            let stage = if i == 0 { "Proposal" } else { "Demo" };
            let q = "mutation($id: ID!, $s: String!) { updateAssignedReferral(id: $id, input: { stage: $s }) { id } }";
            w.app.ok(&holder.token, q, json!({ "id": offer["id"], "s": stage })).await;
        }
        w.app.clock.advance(Duration::minutes(i as i64 % 2)); // ties in assignedAt
    }
    let q = "query($o: AssignedReferralOrder, $a: String) { assignedReferrals(first: 2, after: $a, orderBy: $o) {
        edges { node { id tenantName tenantSource referenceId acceptance assignedAt stage vendorName programName } }
        pageInfo { hasNextPage endCursor } } }";
    for field in
        ["TENANT_NAME", "TENANT_SOURCE", "REFERENCE_ID", "ACCEPTANCE", "ASSIGNED_AT", "STAGE", "VENDOR", "PROGRAM"]
    {
        for direction in ["ASC", "DESC"] {
            let (mut rows, mut after) = (Vec::new(), Value::Null);
            loop {
                let data = w
                    .app
                    .ok(&holder.token, q, json!({ "o": { "field": field, "direction": direction }, "a": after }))
                    .await;
                let conn = &data["assignedReferrals"];
                rows.extend(conn["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()));
                if conn["pageInfo"]["hasNextPage"] != true {
                    break;
                }
                after = conn["pageInfo"]["endCursor"].clone();
            }
            assert_eq!(rows.len(), names.len(), "{field} {direction}: every row once");
            let ids: std::collections::HashSet<_> = rows.iter().map(|r| r["id"].clone()).collect();
            assert_eq!(ids.len(), names.len(), "{field} {direction}: no row twice");
            let key = |r: &Value| -> String {
                match field {
                    "TENANT_NAME" => r["tenantName"].as_str().unwrap().to_lowercase(),
                    "TENANT_SOURCE" => r["tenantSource"].as_str().unwrap().to_owned(),
                    "REFERENCE_ID" => r["referenceId"].as_str().unwrap().to_owned(),
                    "ACCEPTANCE" => r["acceptance"].as_str().unwrap().to_owned(),
                    "ASSIGNED_AT" => r["assignedAt"].as_str().unwrap().to_owned(),
                    "STAGE" => r["stage"].as_str().unwrap_or("").to_lowercase(),
                    "VENDOR" => r["vendorName"].as_str().unwrap().to_lowercase(),
                    _ => r["programName"].as_str().unwrap().to_lowercase(),
                }
            };
            let keys: Vec<String> = rows.iter().map(key).collect();
            let mut sorted = keys.clone();
            sorted.sort();
            if direction == "DESC" {
                sorted.reverse();
            }
            assert_eq!(keys, sorted, "{field} {direction}");
        }
    }
    // Search by tenant name, tenant id or referral ID.
    let search = "query($s: String) { assignedReferrals(filter: { search: $s }) { totalCount } }";
    let count = |s: &str| {
        let (app, token) = (&w.app, holder.token.clone());
        let s = s.to_owned();
        async move { app.ok(&token, search, json!({ "s": s })).await["assignedReferrals"]["totalCount"].as_i64().unwrap() }
    };
    assert_eq!(count("ALPHA").await, 2);
    assert_eq!(count("t-bravo").await, 1);
}

#[tokio::test]
async fn the_list_exports_as_csv_without_contacts() {
    let w = world(1).await;
    let holder = &w.partners[0];
    for name in ["=HYPERLINK(\"x\")", "Beta"] {
        let r = w.create(name).await;
        w.assign(&r, Some(&holder.partner)).await;
    }
    let res = w
        .app
        .client
        .get(format!("{}/export/assigned-referrals.csv?orderBy=TENANT_NAME&direction=ASC", w.app.base))
        .bearer_auth(&holder.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let csv = res.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "tenant_name,tenant_source,referral_id,acceptance,assigned_at,status,vendor,program,acceptance_due_at,decline_reason"
    );
    assert_eq!(lines.len(), 3);
    assert!(lines[1].starts_with("\"'=HYPERLINK"), "{}", lines[1]);
    assert!(lines[2].starts_with("Beta,MARKETPLACE,R-"), "{}", lines[2]);
    assert!(!csv.contains("ann@tenant.example") && !csv.contains("Ann Buyer"));
}

#[tokio::test]
async fn assigned_referrals_are_not_leads() {
    let w = world(1).await;
    let holder = &w.partners[0];
    let r = w.create("Hooli").await;
    let offer = w.assign(&r, None).await;
    w.respond(&holder.token, &offer, true, json!({})).await;
    let reference = w
        .app
        .ok(&w.vendor, "query($id: ID!) { referral(id: $id) { referenceId } }", json!({ "id": r }))
        .await["referral"]["referenceId"]
        .clone();
    // Not in the partner's referrals list, not an import key, no status.
    let list = w.app.ok(&holder.token, "{ referrals { totalCount } }", json!({})).await;
    assert_eq!(list["referrals"]["totalCount"], 0);
    let q = "mutation($c: String!) { previewReferralImport(csv: $c) { errors { message } } }";
    let csv = format!("referralkey_ID,status\n{},QUALIFIED\n", reference.as_str().unwrap());
    let batch = w.app.ok(&w.vendor, q, json!({ "c": csv })).await;
    assert!(
        batch["previewReferralImport"]["errors"][0]["message"].as_str().unwrap().starts_with("no referral"),
        "{batch}"
    );
    let q = "mutation($id: ID!) { setReferralStatus(id: $id, status: QUALIFIED) { id } }";
    assert_eq!(w.app.code(Some(&w.vendor), q, json!({ "id": r })).await, "VALIDATION");
    // A partner with offers cannot be deleted.
    let del = "mutation($id: ID!) { deletePartner(id: $id) }";
    assert_eq!(w.app.code(Some(&w.vendor), del, json!({ "id": holder.partner })).await, "CONFLICT");
}

/// Replays every offer the rule made, in the order they were written, with
/// the facts each pick had (offers before it; the partners offered the
/// referral before): each must be the rule's pick. Returns how many.
async fn replay_picks(w: &World) -> usize {
    use std::collections::HashSet;

    use referral_hub::domain::assignment_rule::{Candidate, pick};
    use sea_orm::{EntityTrait, QueryOrder};
    let offers = entity::referral_assignment::Entity::find()
        .order_by_asc(entity::referral_assignment::Column::Id)
        .all(&w.app.ctx.db)
        .await
        .unwrap();
    let partners = entity::partner::Entity::find().all(&w.app.ctx.db).await.unwrap();
    let mut candidates: Vec<Candidate> = partners
        .iter()
        .map(|p| Candidate {
            partner_id: p.id,
            name: p.name.clone(),
            partner_org_id: p.partner_org_id,
            status: p.status,
            paused_until: None,
            open_offers: 0,
            max_open: None,
            recent_offers: 0,
            ranking_position: None,
            created_at: p.created_at,
        })
        .collect();
    let mut offered: HashMap<i64, HashSet<i64>> = HashMap::new();
    let mut checked = 0;
    for o in &offers {
        if o.picked_by_rule {
            let (i, _) = pick(&candidates, offered.get(&o.referral_id).unwrap_or(&HashSet::new()), o.assigned_at)
                .expect("the rule had a candidate");
            assert_eq!(candidates[i].partner_id, o.partner_id, "offer {} went against the rule", o.id);
            checked += 1;
        }
        candidates.iter_mut().find(|c| c.partner_id == o.partner_id).unwrap().recent_offers += 1;
        offered.entry(o.referral_id).or_default().insert(o.partner_id);
    }
    checked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_declines_and_a_sweep_follow_the_rule_exactly() {
    let w = world(5).await;
    let mut old = Vec::new();
    for i in 0..10 {
        old.push(w.assign(&w.create(&format!("old{i}")).await, None).await);
    }
    w.app.clock.advance(Duration::days(7));
    let mut fresh = Vec::new();
    for i in 0..10 {
        fresh.push(w.assign(&w.create(&format!("new{i}")).await, None).await);
    }
    // The old offers expire in a sweep while holders decline fresh ones.
    let w = std::sync::Arc::new(w);
    let mut tasks = Vec::new();
    let ctx = w.app.ctx.clone();
    let as_of = w.app.clock.now_utc();
    tasks.push(tokio::spawn(async move {
        use referral_hub::jobs::{self, JobName};
        jobs::run(&ctx, JobName::ReassignExpired, jobs::manual_slot(), entity::JobTrigger::Manual, as_of, None)
            .await
            .map(|_| ())
            .map_err(|e| e.message())
    }));
    for offer in fresh.iter().take(6) {
        let (w, offer) = (w.clone(), offer.clone());
        tasks.push(tokio::spawn(async move {
            let token = w.holder_of(&offer).token.clone();
            let (_, body) = w.respond(&token, &offer, false, json!({ "r": "TIMELINE_TOO_SHORT" })).await;
            if body.get("errors").is_some() { Err(body.to_string()) } else { Ok(()) }
        }));
    }
    for t in futures_util::future::join_all(tasks).await {
        t.unwrap().unwrap();
    }
    // Every referral has one live offer, and every pick was the rule's.
    let live = "{ assignedReferrals(first: 100, filter: { acceptance: [PENDING, ACCEPTED] }) { totalCount } }";
    assert_eq!(w.app.ok(&w.vendor, live, json!({})).await["assignedReferrals"]["totalCount"], 20);
    assert_eq!(replay_picks(&w).await, 20 + 10 + 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_running_one_tick_reassign_each_referral_once() {
    use referral_hub::jobs::{self, JobName, RunOutcome};
    let w = world(3).await;
    for i in 0..6 {
        w.assign(&w.create(&format!("t{i}")).await, None).await;
    }
    let tick = w.app.clock.now_utc() + Duration::days(8);
    let slot = jobs::scheduled_slot(tick);
    let runs = (0..3).map(|_| {
        let (ctx, slot) = (w.app.ctx.clone(), slot.clone());
        tokio::spawn(async move {
            jobs::run(&ctx, JobName::ReassignExpired, slot, entity::JobTrigger::Scheduled, tick, None).await
        })
    });
    let outcomes: Vec<RunOutcome> =
        futures_util::future::join_all(runs).await.into_iter().map(|r| r.unwrap().unwrap()).collect();
    assert_eq!(outcomes.iter().filter(|o| matches!(o, RunOutcome::Ran(_))).count(), 1);
    let q = "{ assignedReferrals(first: 100) { totalCount } }";
    assert_eq!(w.app.ok(&w.vendor, q, json!({})).await["assignedReferrals"]["totalCount"], 12, "six expired, six new");
    assert_eq!(replay_picks(&w).await, 12);
}

#[tokio::test]
async fn offer_events_reach_the_vendor_and_the_holder_only() {
    let w = world(2).await;
    let event = "subscription { referralEvents { kind assignmentId referenceId message referral { tenantProfile { country } } } }";
    let mut vendor = Ws::init(&w.app, &w.vendor).await;
    let mut holder = Ws::init(&w.app, &w.partners[0].token).await;
    let mut other = Ws::init(&w.app, &w.partners[1].token).await;
    for ws in [&mut vendor, &mut holder, &mut other] {
        ws.subscribe("1", event, json!({})).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let first = w.assign(&w.create("First").await, Some(&w.partners[0].partner)).await;
    let second = w.assign(&w.create("Second").await, Some(&w.partners[1].partner)).await;
    let next = |msg: Value| msg["payload"]["data"]["referralEvents"].clone();
    let got = next(holder.recv().await);
    assert_eq!((&got["kind"], &got["assignmentId"]), (&json!("ASSIGNMENT_OFFERED"), &first["id"]));
    assert_eq!(got["referral"]["tenantProfile"]["country"], "DE", "the holder may open it");
    let got = next(other.recv().await);
    assert_eq!(got["assignmentId"], second["id"], "the other partner never hears of the first: {got}");
    let got = next(vendor.recv().await);
    assert_eq!(got["assignmentId"], first["id"]);
    // No contact details travel in events.
    assert!(!got.to_string().contains("ann@tenant.example"));
}

#[tokio::test]
async fn tenancy_and_money_on_assigned_referrals() {
    let w = world(1).await;
    let offer = w.assign(&w.create("Soylent").await, None).await;
    let (_, stranger_vendor, _) = w.app.vendor("Stranger").await;
    let q = "query($id: ID!) { assignedReferral(id: $id) { id } }";
    assert_eq!(w.app.code(Some(&stranger_vendor), q, json!({ "id": offer["id"] })).await, "NOT_FOUND");
    let node = "query($id: ID!) { node(id: $id) { id } }";
    assert_eq!(w.app.ok(&w.partners[0].token, node, json!({ "id": offer["id"] })).await["node"]["id"], offer["id"]);
    assert_eq!(w.app.code(Some(&stranger_vendor), node, json!({ "id": offer["id"] })).await, "NOT_FOUND");
    // The vendor's report viewers do not see the estimate (money).
    let org =
        w.app.ok(&w.vendor, "{ me { organization { id } } }", json!({})).await["me"]["organization"]["id"].clone();
    let viewer = w.app.token("REPORT_VIEWER", Some(row_id(&org)), "analyst");
    let money = "query($id: ID!) { assignedReferral(id: $id) { estimatedValueMinor } }";
    assert_eq!(w.app.code(Some(&viewer), money, json!({ "id": offer["id"] })).await, "FORBIDDEN");
    // Only the vendor creates, assigns and withdraws.
    let create = "mutation($p: ID!) { createAssignedReferral(input: { programId: $p, tenantName: \"x\", tenantSource: VENDOR }) { id } }";
    assert_eq!(w.app.code(Some(&w.partners[0].token), create, json!({ "p": w.program })).await, "FORBIDDEN");
    let withdraw = "mutation($id: ID!) { withdrawAssignment(id: $id, reason: \"x\") { id } }";
    assert_eq!(w.app.code(Some(&w.partners[0].token), withdraw, json!({ "id": offer["id"] })).await, "FORBIDDEN");
    let done = w.app.ok(&w.vendor, &withdraw.replace("{ id }", "{ acceptance }"), json!({ "id": offer["id"] })).await;
    assert_eq!(done["withdrawAssignment"]["acceptance"], "WITHDRAWN");
    assert_eq!(w.app.notices(&w.partners[0].token, "ASSIGNMENT_WITHDRAWN").await.len(), 1);
}

/// Every order of the partner's list is served by an index on both
/// databases: no sort step and no scan of the whole table, first page and
/// a page after a cursor, over a table of 30,000 offers of 10 partner
/// organizations.
#[tokio::test]
async fn every_order_of_the_partner_list_is_served_by_an_index() {
    use entity::{AssignmentState, OrganizationKind, Role, TenantSource, referral_assignment};
    use referral_hub::auth::Principal;
    use referral_hub::service::assigned::list::{AssignedFilter, AssignedSortField, page_select};
    use referral_hub::service::page::{Cursor, PageRequest, SortValue};
    use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, Set};

    let app = spawn_app().await;
    let db = &app.ctx.db;
    let now = app.clock.now_utc();
    let states =
        [AssignmentState::Pending, AssignmentState::Accepted, AssignmentState::Declined, AssignmentState::Expired];
    let sources = [TenantSource::Vendor, TenantSource::Marketplace, TenantSource::Campaign];
    let rows: Vec<referral_assignment::ActiveModel> = (0..30_000i64)
        .map(|i| referral_assignment::ActiveModel {
            referral_id: Set(i),
            vendor_org_id: Set(1 + i % 3),
            program_id: Set(1 + i % 3),
            partner_id: Set(i % 50),
            partner_org_id: Set(100 + i % 10),
            state: Set(states[(i % 4) as usize]),
            assigned_at: Set(now - Duration::minutes(i)),
            acceptance_due_at: Set(now + Duration::days(7) - Duration::minutes(i)),
            services_sold: Set(json!([])),
            picked_by_rule: Set(true),
            version: Set(1),
            updated_at: Set(now),
            tenant_name: Set(format!("Tenant {i}")),
            tenant_key: Set(format!("tenant {}", (i * 7919) % 30_000)),
            tenant_source: Set(sources[(i % 3) as usize]),
            reference_id: Set(format!("R-{i:06}")),
            vendor_name: Set(format!("Vendor {}", i % 3)),
            vendor_key: Set(format!("vendor {}", i % 3)),
            program_name: Set("Main".into()),
            program_key: Set("main".into()),
            stage_key: Set(["", "demo", "proposal"][(i % 3) as usize].into()),
            ..Default::default()
        })
        .collect();
    for chunk in rows.chunks(1_000) {
        referral_assignment::Entity::insert_many(chunk.to_vec()).exec(db).await.unwrap();
    }
    let backend = db.get_database_backend();
    let analyze = if backend == DbBackend::Postgres { "ANALYZE referral_assignment" } else { "ANALYZE" };
    db.execute_unprepared(analyze).await.unwrap();
    let partner = Principal {
        user_id: 1,
        org_id: Some(105),
        org_kind: Some(OrganizationKind::Partner),
        role: Role::Partner,
        name: None,
        expires_at: None,
    };
    for &field in AssignedSortField::ALL {
        for descending in [false, true] {
            let value = match field {
                AssignedSortField::AssignedAt => SortValue::Time(now),
                _ => SortValue::Str("m".into()),
            };
            let cursor = Cursor { sort: field.name().into(), value, id: 15_000 };
            for after in [None, Some(cursor)] {
                let page = PageRequest { first: 50, after };
                let (select, limit) =
                    page_select(&partner, &AssignedFilter::default(), field, descending, &page).unwrap();
                let statement = limit.statement(backend, &select);
                let plan = app.plan(&statement).await;
                let what = format!("{} {}", field.name(), if descending { "DESC" } else { "ASC" });
                assert_index_range(&plan, "referral_assignment", &what);
                if backend == DbBackend::Sqlite {
                    assert!(plan.contains("ix_assignment_list_"), "{what}: not the list's index\n{plan}");
                }
            }
        }
    }
}

#[tokio::test]
async fn at_equal_recent_offers_the_better_ranked_partner_wins() {
    use sea_orm::{ActiveModelTrait, Set};
    let w = world(3).await;
    // The latest PARTNER ranking puts the youngest partner first, the
    // oldest second; the middle one is unranked.
    let db = &w.app.ctx.db;
    let now = w.app.clock.now_utc();
    let snapshot = entity::ranking_snapshot::ActiveModel {
        kind: Set(entity::RankingKind::Partner),
        as_of: Set(now),
        window_days: Set(90),
        job_run_id: Set(None),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    let program = row_id(&json!(w.program));
    for (holder, position) in [(&w.partners[2], 1), (&w.partners[0], 2)] {
        entity::ranking_row::ActiveModel {
            snapshot_id: Set(snapshot.id),
            program_id: Set(Some(program)),
            vendor_org_id: Set(1),
            subject_id: Set(row_id(&json!(holder.partner))),
            subject_name: Set("p".into()),
            subject_created_at: Set(now),
            position: Set(position),
            ranked: Set(2),
            referrals: Set(0),
            valid_referrals: Set(0),
            invalid_referrals: Set(0),
            approved: Set(0),
            revenue_minor: Set(0),
            paid_minor: Set(0),
            overdue: Set(0),
            ..Default::default()
        }
        .insert(db)
        .await
        .unwrap();
    }
    let picks: Vec<Value> = {
        let mut out = Vec::new();
        for name in ["a", "b", "c"] {
            out.push(w.assign(&w.create(name).await, None).await["partner"]["id"].clone());
        }
        out
    };
    // Ranked first, ranked second, then the unranked one (all at one offer now).
    assert_eq!(picks, vec![json!(w.partners[2].partner), json!(w.partners[0].partner), json!(w.partners[1].partner)]);
    let q = "mutation($r: ID!) { previewAssignment(referralId: $r) { name rankingPosition place } }";
    let preview = w.app.ok(&w.vendor, q, json!({ "r": w.create("d").await })).await;
    assert_eq!(preview["previewAssignment"][0], json!({ "name": "P2", "rankingPosition": 1, "place": 1 }));
}
