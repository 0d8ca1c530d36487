//! The partner lifecycle through the GraphQL API (PRODUCT.md §3).

use crate::common::*;
use chrono::Duration;
use serde_json::json;

const STATUS: &str = "status version";

#[tokio::test]
async fn partners_start_as_prospect_or_live_and_nothing_else() {
    let app = spawn_app().await;
    let (_, vendor, program) = app.vendor("Acme").await;
    let prospect = app.partner(&vendor, &program, "Prospect Co", "PROSPECT").await;
    let live = app.partner(&vendor, &program, "Live Co", "LIVE").await;
    assert_eq!(app.read_partner(&vendor, &prospect, STATUS).await["status"], "PROSPECT");
    assert_eq!(app.read_partner(&vendor, &live, STATUS).await["status"], "LIVE");
    let code = app
        .code(
            Some(&vendor),
            "mutation($p: ID!) { createPartner(input: { programId: $p, name: \"X\", status: ACTIVE }) { id } }",
            json!({ "p": program }),
        )
        .await;
    assert_eq!(code, "VALIDATION");
    let code = app
        .code(
            Some(&vendor),
            "mutation($p: ID!) { createPartner(input: { programId: $p, name: \"  \" }) { id } }",
            json!({ "p": program }),
        )
        .await;
    assert_eq!(code, "VALIDATION");
    // Default is PROSPECT.
    let data = app
        .ok(
            &vendor,
            "mutation($p: ID!) { createPartner(input: { programId: $p, name: \"D\" }) { status } }",
            json!({ "p": program }),
        )
        .await;
    assert_eq!(data["createPartner"]["status"], "PROSPECT");
}

#[tokio::test]
async fn terms_are_sent_then_signed_and_resending_is_allowed() {
    let app = spawn_app().await;
    let (_, vendor, program) = app.vendor("Acme").await;
    let p = app.partner(&vendor, &program, "Terms Co", "PROSPECT").await;
    let send = "mutation($id: ID!) { sendTerms(id: $id) { status termsSentAt version } }";
    let first = app.ok(&vendor, send, json!({ "id": p })).await["sendTerms"].clone();
    assert_eq!(first["status"], "PROSPECT_TERMS_SENT");
    assert!(first["termsSentAt"].is_string());
    app.clock.advance(Duration::days(2));
    let again = app.ok(&vendor, send, json!({ "id": p })).await["sendTerms"].clone();
    assert_eq!(again["status"], "PROSPECT_TERMS_SENT");
    assert_ne!(again["termsSentAt"], first["termsSentAt"], "resending records the new date");
    let signed = app
        .ok(&vendor, "mutation($id: ID!) { recordTermsSigned(id: $id) { status termsSignedAt } }", json!({ "id": p }))
        .await;
    assert_eq!(signed["recordTermsSigned"]["status"], "LIVE");
    assert!(signed["recordTermsSigned"]["termsSignedAt"].is_string());
    // Terms go only to prospects.
    let err = app.error(Some(&vendor), send, json!({ "id": p })).await;
    assert_eq!(err["extensions"]["code"], "INVALID_TRANSITION");
    assert_eq!(err["extensions"]["from"], "LIVE");
    assert_eq!(err["extensions"]["event"], "SEND_TERMS");
    assert!(err["extensions"]["rule"].as_str().unwrap().contains("PROSPECT"));
}

#[tokio::test]
async fn signed_terms_on_a_live_partner_record_the_date_only() {
    let app = spawn_app().await;
    let (_, vendor, program) = app.vendor("Acme").await;
    let p = app.partner(&vendor, &program, "Live Co", "LIVE").await;
    let data = app
        .ok(&vendor, "mutation($id: ID!) { recordTermsSigned(id: $id) { status termsSignedAt } }", json!({ "id": p }))
        .await;
    assert_eq!(data["recordTermsSigned"]["status"], "LIVE");
    assert!(data["recordTermsSigned"]["termsSignedAt"].is_string());
}

#[tokio::test]
async fn a_lead_makes_live_and_lapsed_partners_active() {
    let app = spawn_app().await;
    let (_, vendor, program) = app.vendor("Acme").await;
    let p = app.partner(&vendor, &program, "Lead Co", "LIVE").await;
    let before = app.read_partner(&vendor, &p, "status firstLeadAt lapsesAt").await;
    assert_eq!(before["firstLeadAt"], json!(null));
    let first_lead_at = app.clock.now_utc();
    receive_lead(&app, &p).await.unwrap();
    let after = app.read_partner(&vendor, &p, "status firstLeadAt lastLeadAt lapsesAt").await;
    assert_eq!(after["status"], "ACTIVE");
    assert_eq!(after["firstLeadAt"], after["lastLeadAt"]);
    let lapses_at = chrono::DateTime::parse_from_rfc3339(after["lapsesAt"].as_str().unwrap()).unwrap();
    assert_eq!(lapses_at, first_lead_at + Duration::days(30));

    // Lapse it, then a new lead brings it back; firstLeadAt is kept.
    run_job(&app, "LAPSE_PARTNERS", first_lead_at + Duration::days(31)).await;
    assert_eq!(app.read_partner(&vendor, &p, STATUS).await["status"], "LAPSED");
    app.clock.advance(Duration::days(32));
    receive_lead(&app, &p).await.unwrap();
    let back = app.read_partner(&vendor, &p, "status firstLeadAt lastLeadAt").await;
    assert_eq!(back["status"], "ACTIVE");
    assert_eq!(back["firstLeadAt"], after["firstLeadAt"]);
    assert_ne!(back["lastLeadAt"], after["lastLeadAt"]);

    let history = app.read_partner(&vendor, &p, "history { event from to source }").await;
    let events: Vec<_> =
        history["history"].as_array().unwrap().iter().map(|h| h["event"].as_str().unwrap().to_owned()).collect();
    assert_eq!(events, ["CREATE", "LEAD_RECEIVED", "LAPSE", "LEAD_RECEIVED"]);
    assert_eq!(history["history"][2]["source"], "JOB");
}

#[tokio::test]
async fn prospects_receiving_a_lead_become_active() {
    let app = spawn_app().await;
    let (_, vendor, program) = app.vendor("Acme").await;
    let p = app.partner(&vendor, &program, "Early Co", "PROSPECT").await;
    receive_lead(&app, &p).await.unwrap();
    assert_eq!(app.read_partner(&vendor, &p, STATUS).await["status"], "ACTIVE");
}

#[tokio::test]
async fn ended_and_archived_partners_refuse_leads() {
    let app = spawn_app().await;
    let (_, vendor, program) = app.vendor("Acme").await;
    let ended = app.partner(&vendor, &program, "Ended Co", "LIVE").await;
    app.ok(&vendor, "mutation($id: ID!) { endPartner(id: $id) { status } }", json!({ "id": ended })).await;
    let err = receive_lead(&app, &ended).await.unwrap_err();
    assert_eq!(err.code(), "INVALID_TRANSITION");
    assert!(err.message().contains("ENDED"));

    let archived = app.partner(&vendor, &program, "Archived Co", "LIVE").await;
    app.ok(
        &vendor,
        "mutation($id: ID!) { archivePartner(id: $id, reason: \"dup\") { status } }",
        json!({ "id": archived }),
    )
    .await;
    assert_eq!(receive_lead(&app, &archived).await.unwrap_err().code(), "INVALID_TRANSITION");
    // Nothing changed on the refused partner.
    let read = app.read_partner(&vendor, &archived, "status firstLeadAt").await;
    assert_eq!(read, json!({ "status": "ARCHIVED", "firstLeadAt": null }));
}

#[tokio::test]
async fn end_and_reopen() {
    let app = spawn_app().await;
    let (_, vendor, program) = app.vendor("Acme").await;
    let p = app.partner(&vendor, &program, "Co", "LIVE").await;
    receive_lead(&app, &p).await.unwrap();
    let ended =
        app.ok(&vendor, "mutation($id: ID!) { endPartner(id: $id) { status endedAt } }", json!({ "id": p })).await;
    assert_eq!(ended["endPartner"]["status"], "ENDED");
    assert!(ended["endPartner"]["endedAt"].is_string());
    let reopened =
        app.ok(&vendor, "mutation($id: ID!) { reopenPartner(id: $id) { status endedAt } }", json!({ "id": p })).await;
    assert_eq!(reopened["reopenPartner"], json!({ "status": "LIVE", "endedAt": null }));
    let code =
        app.code(Some(&vendor), "mutation($id: ID!) { reopenPartner(id: $id) { status } }", json!({ "id": p })).await;
    assert_eq!(code, "INVALID_TRANSITION");
}

#[tokio::test]
async fn archive_needs_a_reason_and_unarchive_restores_the_status_before() {
    let app = spawn_app().await;
    let (_, vendor, program) = app.vendor("Acme").await;
    let p = app.partner(&vendor, &program, "Co", "PROSPECT").await;
    app.ok(&vendor, "mutation($id: ID!) { sendTerms(id: $id) { status } }", json!({ "id": p })).await;
    let code = app
        .code(
            Some(&vendor),
            "mutation($id: ID!) { archivePartner(id: $id, reason: \" \") { status } }",
            json!({ "id": p }),
        )
        .await;
    assert_eq!(code, "VALIDATION");
    let archived = app
        .ok(
            &vendor,
            "mutation($id: ID!) { archivePartner(id: $id, reason: \"Duplicate record\") { status statusBeforeArchive archiveReason } }",
            json!({ "id": p }),
        )
        .await;
    assert_eq!(
        archived["archivePartner"],
        json!({ "status": "ARCHIVED", "statusBeforeArchive": "PROSPECT_TERMS_SENT", "archiveReason": "Duplicate record" })
    );
    let code = app
        .code(
            Some(&vendor),
            "mutation($id: ID!) { archivePartner(id: $id, reason: \"again\") { status } }",
            json!({ "id": p }),
        )
        .await;
    assert_eq!(code, "INVALID_TRANSITION");
    let code =
        app.code(Some(&vendor), "mutation($id: ID!) { endPartner(id: $id) { status } }", json!({ "id": p })).await;
    assert_eq!(code, "INVALID_TRANSITION", "an archived partner is unarchived before it is ended");
    let back = app
        .ok(&vendor, "mutation($id: ID!) { unarchivePartner(id: $id) { status archiveReason } }", json!({ "id": p }))
        .await;
    assert_eq!(back["unarchivePartner"], json!({ "status": "PROSPECT_TERMS_SENT", "archiveReason": null }));
    let history = app.read_partner(&vendor, &p, "history { event reason actorRole source }").await;
    assert_eq!(
        history["history"][2],
        json!({ "event": "ARCHIVE", "reason": "Duplicate record", "actorRole": "VENDOR", "source": "MANUAL" })
    );
}

#[tokio::test]
async fn delete_is_refused_once_the_partner_has_referrals() {
    let app = spawn_app().await;
    let (_, vendor, program) = app.vendor("Acme").await;
    let fresh = app.partner(&vendor, &program, "Fresh", "LIVE").await;
    let used = app.partner(&vendor, &program, "Used", "LIVE").await;
    receive_lead(&app, &used).await.unwrap();
    let err = app.error(Some(&vendor), "mutation($id: ID!) { deletePartner(id: $id) }", json!({ "id": used })).await;
    assert_eq!(err["extensions"]["code"], "CONFLICT");
    assert!(err["message"].as_str().unwrap().contains("archive"));
    let data = app.ok(&vendor, "mutation($id: ID!) { deletePartner(id: $id) }", json!({ "id": fresh })).await;
    assert_eq!(data["deletePartner"], json!(fresh));
    let code = app.code(Some(&vendor), "query($id: ID!) { partner(id: $id) { id } }", json!({ "id": fresh })).await;
    assert_eq!(code, "NOT_FOUND");
}

#[tokio::test]
async fn a_stale_expected_version_is_a_conflict_and_changes_nothing() {
    let app = spawn_app().await;
    let (_, vendor, program) = app.vendor("Acme").await;
    let p = app.partner(&vendor, &program, "Co", "PROSPECT").await;
    let v1 = app.read_partner(&vendor, &p, "version").await["version"].as_i64().unwrap();
    let send = "mutation($id: ID!, $v: Int) { sendTerms(id: $id, expectedVersion: $v) { version } }";
    let v2 = app.ok(&vendor, send, json!({ "id": p, "v": v1 })).await["sendTerms"]["version"].as_i64().unwrap();
    assert_eq!(v2, v1 + 1);
    let code = app
        .code(
            Some(&vendor),
            "mutation($id: ID!, $v: Int) { endPartner(id: $id, expectedVersion: $v) { status } }",
            json!({ "id": p, "v": v1 }),
        )
        .await;
    assert_eq!(code, "CONFLICT");
    assert_eq!(app.read_partner(&vendor, &p, STATUS).await, json!({ "status": "PROSPECT_TERMS_SENT", "version": v2 }));
}

#[tokio::test]
async fn available_transitions_follow_the_rules_and_the_role() {
    let app = spawn_app().await;
    let (org, vendor, program) = app.vendor("Acme").await;
    let p = app.partner(&vendor, &program, "Co", "LIVE").await;
    let q = "availableTransitions { event allowed to blockedBy }";
    let moves = app.read_partner(&vendor, &p, q).await["availableTransitions"].clone();
    let allowed: Vec<_> = moves
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["allowed"] == true)
        .map(|m| m["event"].as_str().unwrap())
        .collect();
    assert_eq!(allowed, ["TERMS_SIGNED", "END", "ARCHIVE"]);
    let reopen = moves.as_array().unwrap().iter().find(|m| m["event"] == "REOPEN").unwrap();
    assert_eq!(reopen["blockedBy"], "only ENDED partners are reopened");
    let viewer = app.token("REPORT_VIEWER", Some(org), "analyst");
    let moves = app.read_partner(&viewer, &p, q).await["availableTransitions"].clone();
    assert!(moves.as_array().unwrap().iter().all(|m| m["allowed"] == false));
}

#[tokio::test]
async fn filters_sorting_and_cursor_pagination() {
    let app = spawn_app().await;
    let (_, vendor, program) = app.vendor("Acme").await;
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(
            app.partner(&vendor, &program, &format!("Partner {i}"), if i < 4 { "LIVE" } else { "PROSPECT" }).await,
        );
        app.clock.advance(Duration::minutes(1));
    }
    // Partner 0 and 1 get leads; partner 1's lead is 25 days older.
    receive_lead(&app, &ids[1]).await.unwrap();
    app.clock.advance(Duration::days(25));
    receive_lead(&app, &ids[0]).await.unwrap();

    let list = "query($f: PartnerFilter, $o: PartnerOrder, $first: Int, $after: String) {
        partners(filter: $f, orderBy: $o, first: $first, after: $after) {
            totalCount edges { cursor node { name } } pageInfo { hasNextPage endCursor } } }";
    let names = |v: &serde_json::Value| -> Vec<String> {
        v["partners"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let live = app.ok(&vendor, list, json!({ "f": { "liveWithoutLead": true }, "o": { "field": "NAME" } })).await;
    assert_eq!(names(&live), ["Partner 2", "Partner 3"]);
    let lapsing = app.ok(&vendor, list, json!({ "f": { "lapsingWithinDays": 7 } })).await;
    assert_eq!(names(&lapsing), ["Partner 1"]);
    let active = app
        .ok(&vendor, list, json!({ "f": { "status": ["ACTIVE"] }, "o": { "field": "LAPSES_AT", "direction": "DESC" } }))
        .await;
    assert_eq!(names(&active), ["Partner 0", "Partner 1"]);
    let search = app.ok(&vendor, list, json!({ "f": { "search": "partner 5" } })).await;
    assert_eq!(names(&search), ["Partner 5"]);
    // Wildcards in the search text are taken literally.
    let search = app.ok(&vendor, list, json!({ "f": { "search": "partner_" } })).await;
    assert_eq!(names(&search), Vec::<String>::new());

    // Pages of 3 by name descending walk every partner once.
    let mut seen = Vec::new();
    let mut after = serde_json::Value::Null;
    loop {
        let page = app
            .ok(&vendor, list, json!({ "o": { "field": "NAME", "direction": "DESC" }, "first": 3, "after": after }))
            .await;
        assert_eq!(page["partners"]["totalCount"], 7);
        seen.extend(names(&page));
        if page["partners"]["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = page["partners"]["pageInfo"]["endCursor"].clone();
    }
    let expected: Vec<String> = (0..7).rev().map(|i| format!("Partner {i}")).collect();
    assert_eq!(seen, expected);

    // Sorting by a nullable column puts NULLs last and still pages correctly.
    let mut seen = Vec::new();
    let mut after = serde_json::Value::Null;
    loop {
        let page = app.ok(&vendor, list, json!({ "o": { "field": "LAST_LEAD_AT" }, "first": 2, "after": after })).await;
        seen.extend(names(&page));
        if page["partners"]["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = page["partners"]["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(&seen[..2], ["Partner 1", "Partner 0"]);
    assert_eq!(seen.len(), 7);

    let code = app.code(Some(&vendor), list, json!({ "first": 101 })).await;
    assert_eq!(code, "VALIDATION");
    let code = app.code(Some(&vendor), list, json!({ "after": "garbage" })).await;
    assert_eq!(code, "VALIDATION");
}

#[tokio::test]
async fn contact_log_moves_last_contacted_and_tasks_remind_their_owner_once() {
    let app = spawn_app().await;
    let (_, vendor, program) = app.vendor("Acme").await;
    let p = app.partner(&vendor, &program, "Co", "PROSPECT").await;
    let now = app.clock.now_utc();
    app.ok(
        &vendor,
        "mutation($id: ID!, $at: DateTime) { logPartnerContact(partnerId: $id, channel: PHONE, summary: \"Intro call\", contactedAt: $at) { id } }",
        json!({ "id": p, "at": (now - Duration::hours(1)).to_rfc3339() }),
    )
    .await;
    // A back-dated entry does not move lastContactedAt backwards.
    app.ok(
        &vendor,
        "mutation($id: ID!, $at: DateTime) { logPartnerContact(partnerId: $id, channel: EMAIL, summary: \"Old e-mail\", contactedAt: $at) { id } }",
        json!({ "id": p, "at": (now - Duration::days(3)).to_rfc3339() }),
    )
    .await;
    let read = app.read_partner(&vendor, &p, "lastContactedAt contacts { channel summary }").await;
    let last = chrono::DateTime::parse_from_rfc3339(read["lastContactedAt"].as_str().unwrap()).unwrap();
    assert_eq!(last, now - Duration::hours(1));
    assert_eq!(read["contacts"][0]["summary"], "Intro call");
    assert_eq!(read["contacts"].as_array().unwrap().len(), 2);

    let due = now + Duration::days(2);
    app.ok(
        &vendor,
        "mutation($id: ID!, $due: DateTime!) { createTask(partnerId: $id, title: \"Call back\", dueAt: $due) { id } }",
        json!({ "id": p, "due": due.to_rfc3339() }),
    )
    .await;
    let notes = "{ notifications { totalCount edges { node { kind message } } } }";
    let early = run_job(&app, "TASK_REMINDERS", due - Duration::minutes(1)).await;
    assert_eq!(early["itemsTouched"], 0);
    let on_time = run_job(&app, "TASK_REMINDERS", due).await;
    assert_eq!(on_time["itemsTouched"], 1);
    let again = run_job(&app, "TASK_REMINDERS", due + Duration::hours(1)).await;
    assert_eq!(again["itemsTouched"], 0);
    app.stamp().await;
    let mine = app.ok(&vendor, notes, json!({})).await;
    assert_eq!(mine["notifications"]["totalCount"], 1);
    assert_eq!(mine["notifications"]["edges"][0]["node"]["kind"], "TASK_DUE");
    // Another user of the vendor does not get the owner's reminder.
    let org = vendor_org(&app, &vendor).await;
    let other = app.token("VENDOR", Some(org), "colleague");
    assert_eq!(app.ok(&other, notes, json!({})).await["notifications"]["totalCount"], 0);
    let tasks = app.read_partner(&vendor, &p, "tasks { title remindedAt completedAt }").await;
    assert!(tasks["tasks"][0]["remindedAt"].is_string());
}

async fn vendor_org(app: &TestApp, token: &str) -> i64 {
    let data = app.ok(token, "{ me { organization { id } } }", json!({})).await;
    row_id(&data["me"]["organization"]["id"])
}

#[tokio::test]
async fn program_lapse_period_change_moves_due_times() {
    let app = spawn_app().await;
    let (_, vendor, program) = app.vendor("Acme").await;
    let p = app.partner(&vendor, &program, "Co", "LIVE").await;
    let lead_at = app.clock.now_utc();
    receive_lead(&app, &p).await.unwrap();
    app.ok(
        &vendor,
        "mutation($id: ID!) { updateProgram(id: $id, input: { lapseAfterDays: 10 }) { lapseAfterDays } }",
        json!({ "id": program }),
    )
    .await;
    let read = app.read_partner(&vendor, &p, "lapsesAt").await;
    let lapses_at = chrono::DateTime::parse_from_rfc3339(read["lapsesAt"].as_str().unwrap()).unwrap();
    assert_eq!(lapses_at, lead_at + Duration::days(10));
    let code = app
        .code(
            Some(&vendor),
            "mutation($id: ID!) { updateProgram(id: $id, input: { lapseAfterDays: 0 }) { id } }",
            json!({ "id": program }),
        )
        .await;
    assert_eq!(code, "VALIDATION");
}

#[tokio::test]
async fn a_partner_organization_links_by_invite_and_sees_only_its_partnerships() {
    let app = spawn_app().await;
    let (_, vendor, program) = app.vendor("Acme").await;
    let mine = app.partner(&vendor, &program, "Mine", "LIVE").await;
    app.partner(&vendor, &program, "Not mine", "LIVE").await;
    let invite = app.read_partner(&vendor, &mine, "inviteCode").await["inviteCode"].as_str().unwrap().to_owned();
    let org = app.organization("Realty", "PARTNER").await;
    let partner = app.token("PARTNER", Some(org), "realtor");
    let before = app.ok(&partner, "{ partners { totalCount } programs { id } }", json!({})).await;
    assert_eq!(before, json!({ "partners": { "totalCount": 0 }, "programs": [] }));
    let linked = app
        .ok(
            &partner,
            "mutation($c: String!) { acceptPartnerInvite(code: $c) { id linked inviteCode } }",
            json!({ "c": invite }),
        )
        .await;
    assert_eq!(linked["acceptPartnerInvite"], json!({ "id": mine, "linked": true, "inviteCode": null }));
    let after = app.ok(&partner, "{ partners { edges { node { name } } } programs { name } }", json!({})).await;
    assert_eq!(
        after,
        json!({ "partners": { "edges": [{ "node": { "name": "Mine" } }] }, "programs": [{ "name": "Main" }] })
    );
    // The vendor's own notes stay the vendor's.
    let code = app
        .code(Some(&partner), "query($id: ID!) { partner(id: $id) { contacts { id } } }", json!({ "id": mine }))
        .await;
    assert_eq!(code, "FORBIDDEN");
    // A second organization cannot take the same invite.
    let other = app.organization("Other Realty", "PARTNER").await;
    let other = app.token("PARTNER", Some(other), "x");
    let code = app
        .code(Some(&other), "mutation($c: String!) { acceptPartnerInvite(code: $c) { id } }", json!({ "c": invite }))
        .await;
    assert_eq!(code, "CONFLICT");
}
