//! Bulk status updates by CSV: preview with per-row errors, commit once,
//! stale and expired previews, real-world CSV, tenancy, side effects.

use crate::common::{self, *};
use chrono::Duration;
use serde_json::{Value, json};

const PREVIEW: &str = "mutation($csv: String!) { previewReferralImport(csv: $csv) {
    id status rowCount validCount errorCount errors { row column message }
    sample { row referenceId statusFrom statusTo stageTo note changes } } }";
const UPDATE_ALL: &str = "mutation($k: ReferralKeyInput!, $s: String, $st: String, $n: String, $o: ReferralOutcome, $r: InvalidReason) {
    updateReferral(key: $k, status: $s, stage: $st, note: $n, outcome: $o, invalidReason: $r) { status stage outcome version } }";
const COMMIT: &str = "mutation($id: ID!) { commitReferralImport(batchId: $id) { status result committedAt } }";

local_world!(
    /// (id, referenceId) of eight referrals: leads a..h, e-mails a@x.io …,
    /// external ids EXT-a … EXT-h; d and e share one e-mail.
    refs: Vec<(String, String)>,
);

async fn world() -> World {
    let program = json!({ "rewardModel": "FLAT", "rewardAmountMinor": 1000, "rewardTrigger": "APPROVED" });
    let base = common::World::build().program(program).done().await;
    let mut refs = Vec::new();
    for name in ["a", "b", "c", "d", "e", "f", "g", "h"] {
        let email = if name == "e" { "d@x.io".to_owned() } else { format!("{name}@x.io") };
        let input = json!({ "partnerId": base.partner, "externalId": format!("EXT-{name}"), "lead": { "name": name, "email": email } });
        let r = base
            .app
            .ok(
                &base.vendor,
                "mutation($i: SubmitReferralInput!) { submitReferral(input: $i) { id referenceId } }",
                json!({ "i": input }),
            )
            .await["submitReferral"]
            .clone();
        refs.push((r["id"].as_str().unwrap().to_owned(), r["referenceId"].as_str().unwrap().to_owned()));
    }
    World { base, refs }
}

impl World {
    async fn preview(&self, csv: &str) -> Value {
        self.app.ok(&self.vendor, PREVIEW, json!({ "csv": csv })).await["previewReferralImport"].clone()
    }

    async fn commit(&self, batch: &Value) -> Value {
        self.app.ok(&self.vendor, COMMIT, json!({ "id": batch["id"] })).await["commitReferralImport"].clone()
    }

    async fn status(&self, i: usize) -> Value {
        let q = "query($id: ID!) { referral(id: $id) { status stage version payoutView } }";
        self.app.ok(&self.vendor, q, json!({ "id": self.refs[i].0 })).await["referral"].clone()
    }
}

fn errors(batch: &Value) -> Vec<(i64, Option<String>, String)> {
    batch["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["row"].as_i64().unwrap(),
                e["column"].as_str().map(str::to_owned),
                e["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_mixed_file_applies_the_valid_rows_and_reports_the_rest_by_line() {
    let w = world().await;
    // b is APPROVED already, so moving it back is illegal.
    w.app
        .ok(
            &w.vendor,
            "mutation($id: ID!) { setReferralStatus(id: $id, status: APPROVED) { status } }",
            json!({ "id": w.refs[1].0 }),
        )
        .await;
    let (a, b, c) = (&w.refs[0].1, &w.refs[1].1, &w.refs[2].1);
    let csv = format!(
        "referralkey_ID,referralkey_externalid,referralkey_email,status,stage,note,sale_amount,outcome\n\
         {a},,,QUALIFIED,Demo,Looks promising,,\n\
         R-NOPE99,,,QUALIFIED,,,,\n\
         ,,d@x.io,DENIED,,,,\n\
         {c},EXT-d,,DENIED,,,,\n\
         {b},,,PENDING,,,,\n\
         ,EXT-f,,Maybe,,,12.345,\n\
         ,EXT-g,,REQUIRES_INFO,,,,\n\
         ,EXT-h,,,Demo,,,\n\
         ,EXT-c,,DENIED,,,,SOLD\n\
         ,EXT-e,,APPROVED,,,1234.50,\n\
         ,,,QUALIFIED,,,,\n\
         {a},,,DENIED,,,,\n"
    );
    let batch = w.preview(&csv).await;
    assert_eq!(
        (batch["rowCount"].as_i64(), batch["validCount"].as_i64(), batch["errorCount"].as_i64()),
        (Some(12), Some(2), Some(10))
    );
    let errs = errors(&batch);
    let at = |row: i64| {
        errs.iter()
            .filter(|e| e.0 == row)
            .map(|e| format!("{}: {}", e.1.clone().unwrap_or_default(), e.2))
            .collect::<Vec<_>>()
            .join(" | ")
    };
    assert!(at(3).contains("no referral R-NOPE99"), "{}", at(3));
    assert!(at(4).contains("2 referrals have this e-mail"), "{}", at(4));
    assert!(at(5).contains("referralkey_ID and referralkey_externalid name different referrals"), "{}", at(5));
    assert!(at(6).contains("status: APPROVED → PENDING is not allowed: nothing changes after APPROVED"), "{}", at(6));
    assert!(
        at(7).contains("status: not a status: Maybe") && at(7).contains("sale_amount: not an amount in USD: 12.345"),
        "{}",
        at(7)
    );
    assert!(at(8).contains("note: REQUIRES_INFO needs a note"), "{}", at(8));
    assert!(at(9).contains("stage: the stage unlocks once the referral is QUALIFIED or APPROVED"), "{}", at(9));
    assert!(at(10).contains("status: the outcome moves the referral to APPROVED, not DENIED"), "{}", at(10));
    assert!(at(12).contains("no key"), "{}", at(12));
    assert!(at(13).contains("line 2 already updates this referral"), "{}", at(13));
    assert!(at(11).is_empty(), "{}", at(11));
    let sample = batch["sample"].as_array().unwrap();
    assert_eq!(
        sample[0],
        json!({ "row": 2, "referenceId": a, "statusFrom": "PENDING", "statusTo": "QUALIFIED", "stageTo": "Demo", "note": "Looks promising", "changes": true })
    );

    // Nothing changed yet.
    assert_eq!(w.status(0).await["status"], "PENDING");
    let done = w.commit(&batch).await;
    assert_eq!(done["status"], "COMMITTED");
    assert_eq!(done["result"]["applied"], 2);
    assert_eq!(done["result"]["statusChanges"], 2);
    assert_eq!(done["result"]["rewardsEarned"], 1, "e reached APPROVED");
    assert_eq!(
        w.status(0).await,
        json!({ "status": "QUALIFIED", "stage": "Demo", "version": 2, "payoutView": "NONE" })
    );
    assert_eq!(w.status(4).await["payoutView"], "READY_FOR_PAYOUT");
    let q = "query($id: ID!) { referralTimeline(id: $id) { kind source to note { body } } }";
    let timeline = w.app.ok(&w.vendor, q, json!({ "id": w.refs[0].0 })).await["referralTimeline"].clone();
    let last_two: Vec<_> = timeline.as_array().unwrap().iter().rev().take(3).collect();
    assert!(last_two.iter().any(|e| e["kind"] == "STATUS_CHANGE" && e["source"] == "IMPORT"));
    assert!(last_two.iter().any(|e| e["kind"] == "STAGE_CHANGE" && e["to"] == "Demo"));
    assert!(last_two.iter().any(|e| e["note"]["body"] == "Looks promising"));
    // The partner organization gets one digest, not a notice per row.
    let digests = w.app.notices(&w.partner_user, "REFERRALS_IMPORTED").await;
    assert_eq!(digests, vec!["Acme updated 2 of your referrals".to_owned()]);
}

#[tokio::test]
async fn outcomes_and_invalid_reasons_import_like_report_backs() {
    let w = world().await;
    let csv = "referralkey_externalid,outcome,invalid_reason,note\n\
               EXT-a,SOLD,,Closed\n\
               EXT-b,No sale,Spam,\n\
               EXT-c,In progress,,Call back in May\n\
               EXT-d,NO_SALE,OTHER: moved abroad,\n\
               EXT-e,,DUPLICATE,\n\
               EXT-f,NO_SALE,OTHER,\n\
               EXT-g,SOLD,SPAM,\n\
               EXT-h,MAYBE,,\n";
    let batch = w.preview(csv).await;
    assert_eq!((batch["validCount"].as_i64(), batch["errorCount"].as_i64()), (Some(4), Some(4)));
    let errs = errors(&batch);
    let at =
        |row: i64| errs.iter().find(|e| e.0 == row).map(|e| format!("{}: {}", e.1.clone().unwrap_or_default(), e.2));
    assert_eq!(at(6).as_deref(), Some("invalid_reason: an invalid_reason goes with the outcome NO_SALE"));
    assert_eq!(at(7).as_deref(), Some("invalid_reason: an OTHER invalid reason needs a text saying what"));
    assert_eq!(at(8).as_deref(), Some("invalid_reason: only a NO_SALE referral is marked invalid"));
    assert!(at(9).unwrap().starts_with("outcome: not an outcome: MAYBE"), "{:?}", at(9));
    w.app.clock.advance(Duration::minutes(30));
    let done = w.commit(&batch).await;
    assert_eq!((done["result"]["outcomes"].as_i64(), done["result"]["rewardsEarned"].as_i64()), (Some(4), Some(1)));

    let q = "query($id: ID!) { referral(id: $id) { status outcome invalidReason invalidReasonText reportBackDueAt payoutView } }";
    let read = |i: usize| {
        let (app, vendor, id) = (&w.app, &w.vendor, w.refs[i].0.clone());
        async move { app.ok(vendor, q, json!({ "id": id })).await["referral"].clone() }
    };
    let a = read(0).await;
    assert_eq!(
        (a["status"].as_str(), a["outcome"].as_str(), &a["reportBackDueAt"]),
        (Some("APPROVED"), Some("SOLD"), &Value::Null)
    );
    assert_eq!(a["payoutView"], "READY_FOR_PAYOUT");
    let b = read(1).await;
    assert_eq!((b["status"].as_str(), b["invalidReason"].as_str()), (Some("DENIED"), Some("SPAM")));
    let c = read(2).await;
    assert_eq!((c["status"].as_str(), c["outcome"].as_str()), (Some("PENDING"), Some("IN_PROGRESS")));
    let due = (start_time() + Duration::days(14) + Duration::minutes(30)).to_rfc3339();
    assert_eq!(c["reportBackDueAt"].as_str(), Some(due.as_str()), "reportBackDays from the commit");
    let d = read(3).await;
    assert_eq!(
        (d["status"].as_str(), d["invalidReason"].as_str(), d["invalidReasonText"].as_str()),
        (Some("DENIED"), Some("OTHER"), Some("moved abroad"))
    );
    let q = "query($id: ID!) { referralTimeline(id: $id) { kind source to reason } }";
    let timeline = w.app.ok(&w.vendor, q, json!({ "id": w.refs[3].0 })).await["referralTimeline"].clone();
    assert!(
        timeline.as_array().unwrap().iter().any(|e| e["kind"] == "OUTCOME_CHANGE"
            && e["source"] == "IMPORT"
            && e["to"] == "NO_SALE"
            && e["reason"] == "invalid: OTHER (moved abroad)"),
        "{timeline}"
    );
}

/// A commit names the report-back due time in its UPDATE only when a row
/// clears it; either way the due times it does not clear stay as they were.
#[tokio::test]
async fn report_back_due_times_change_only_where_a_row_clears_them() {
    let w = world().await;
    let q = "query($id: ID!) { referral(id: $id) { status reportBackDueAt } }";
    let read = |i: usize| {
        let (app, vendor, id) = (&w.app, &w.vendor, w.refs[i].0.clone());
        async move { app.ok(vendor, q, json!({ "id": id })).await["referral"].clone() }
    };
    let (a, b) = (read(0).await, read(1).await);
    assert!(a["reportBackDueAt"].is_string() && b["reportBackDueAt"].is_string(), "{a} {b}");
    let qualify = format!("referralkey_ID,status\n{},QUALIFIED\n{},QUALIFIED\n", w.refs[0].1, w.refs[1].1);
    w.commit(&w.preview(&qualify).await).await;
    assert_eq!(read(0).await, json!({ "status": "QUALIFIED", "reportBackDueAt": a["reportBackDueAt"] }));
    let approve = format!("referralkey_ID,status\n{},APPROVED\n{},PENDING\n", w.refs[0].1, w.refs[1].1);
    let done = w.commit(&w.preview(&approve).await).await;
    assert_eq!(done["result"]["applied"], 2, "{done}");
    assert_eq!(read(0).await, json!({ "status": "APPROVED", "reportBackDueAt": null }));
    assert_eq!(read(1).await, json!({ "status": "PENDING", "reportBackDueAt": b["reportBackDueAt"] }));
}

/// The payout view an import's rewards give is the one a single change
/// gives: a referral marked recurring stays RECURRING when it earns.
#[tokio::test]
async fn an_import_that_earns_keeps_a_recurring_referrals_payout_view() {
    let w = world().await;
    let mark = "mutation($id: ID!) { markRecurring(id: $id) { payoutView } }";
    w.app.ok(&w.vendor, mark, json!({ "id": w.refs[0].0 })).await;
    let csv = format!("referralkey_ID,status\n{},APPROVED\n{},APPROVED\n", w.refs[0].1, w.refs[1].1);
    let done = w.commit(&w.preview(&csv).await).await;
    assert_eq!(done["result"]["rewardsEarned"], 2, "{done}");
    assert_eq!(w.status(0).await["payoutView"], "RECURRING");
    assert_eq!(w.status(1).await["payoutView"], "READY_FOR_PAYOUT");
}

#[tokio::test]
async fn imports_earn_void_and_reinstate_rewards_set_based() {
    let w = world().await;
    w.app
        .ok(
            &w.vendor,
            "mutation($id: ID!) { updateProgram(id: $id, input: { rewardModel: FLAT, rewardAmountMinor: 700, rewardTrigger: PENDING }) { id } }",
            json!({ "id": w.program }),
        )
        .await;
    let (a, b) = (&w.refs[0].1, &w.refs[1].1);
    let rewards = |i: usize| {
        let (app, vendor, id) = (&w.app, &w.vendor, w.refs[i].0.clone());
        async move {
            let q = "query($id: ID!) { referral(id: $id) { payoutView rewards { kind status amountMinor } } }";
            app.ok(vendor, q, json!({ "id": id })).await["referral"].clone()
        }
    };
    let step = |statuses: [&str; 2]| format!("referralkey_ID,status\n{a},{}\n{b},{}\n", statuses[0], statuses[1]);
    // Submitted before the trigger moved to PENDING: denying first earns nothing.
    let done = w.commit(&w.preview(&step(["DENIED", "DENIED"])).await).await;
    assert_eq!(
        (done["result"]["rewardsEarned"].as_i64(), done["result"]["rewardsVoided"].as_i64()),
        (Some(0), Some(0))
    );
    // Back to PENDING: the trigger is reached, both earn.
    let done = w.commit(&w.preview(&step(["PENDING", "PENDING"])).await).await;
    assert_eq!(done["result"]["rewardsEarned"], 2);
    assert_eq!(
        rewards(0).await,
        json!({ "payoutView": "READY_FOR_PAYOUT", "rewards": [{ "kind": "TRIGGER", "status": "EARNED", "amountMinor": 700 }] })
    );
    // Denied again: voided; back again: the same row reinstated.
    let done = w.commit(&w.preview(&step(["DENIED", "REJECTED"])).await).await;
    assert_eq!(done["result"]["rewardsVoided"], 2);
    assert_eq!(rewards(1).await["payoutView"], "NONE");
    w.commit(&w.preview(&step(["NEW", "PENDING"])).await).await;
    assert_eq!(
        rewards(1).await,
        json!({ "payoutView": "READY_FOR_PAYOUT", "rewards": [{ "kind": "TRIGGER", "status": "EARNED", "amountMinor": 700 }] })
    );
}

#[tokio::test]
async fn real_world_csv_quirks_are_handled() {
    let w = world().await;
    let (a, b) = (&w.refs[0].1, &w.refs[1].1);
    // BOM, CRLF, header case and spacing, a quoted comma and newline, blank trailing lines.
    let csv = format!(
        "\u{feff} ReferralKey_ID , STATUS ,Note\r\n{a},qualified,\"Called, left a message\r\non Monday\"\r\n{b}, Rejected ,\r\n\r\n\r\n"
    );
    let batch = w.preview(&csv).await;
    assert_eq!(errors(&batch), vec![]);
    assert_eq!(batch["validCount"], 2);
    assert_eq!(batch["sample"][0]["note"], "Called, left a message\r\non Monday");
    assert_eq!(batch["sample"][1]["row"], 3, "rows are counted as a spreadsheet shows them");
    w.commit(&batch).await;
    assert_eq!(w.status(1).await["status"], "DENIED");
    // Relay ids work as referralkey_ID too, and the seeds' status names.
    let csv = format!("referralkey_ID,status\n{},Accepted\n", w.refs[1].0);
    let batch = w.preview(&csv).await;
    assert_eq!(batch["sample"][0]["statusTo"], "QUALIFIED");
}

#[tokio::test]
async fn errors_name_spreadsheet_rows_after_multi_line_cells() {
    let w = world().await;
    let (a, b, c) = (&w.refs[0].1, &w.refs[1].1, &w.refs[2].1);
    // Row 2 spans three file lines, row 3 two; row 4 has a bad status.
    let csv =
        format!("referralkey_ID,status,note\n{a},QUALIFIED,\"one\ntwo\nthree\"\n{b},QUALIFIED,\"x\ny\"\n\n{c},NOPE,\n");
    let batch = w.preview(&csv).await;
    assert_eq!(errors(&batch), vec![(5, Some("status".into()), errors(&batch)[0].2.clone())], "{batch:#}");
    assert_eq!(batch["sample"][1]["row"], 3);
}

#[tokio::test]
async fn unknown_columns_and_missing_keys_refuse_the_whole_file() {
    let w = world().await;
    let batch = w.preview(&format!("referralkey_ID,statsu\n{},APPROVED\n", w.refs[0].1)).await;
    assert_eq!(batch["validCount"], 0);
    assert_eq!(errors(&batch), vec![(1, Some("statsu".into()), "unknown column".into())]);
    let batch = w.preview("status\nAPPROVED\n").await;
    assert!(errors(&batch)[0].2.contains("a key column is needed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn commits_apply_once_even_when_repeated_or_racing() {
    let w = world().await;
    let csv = format!("referralkey_ID,status\n{},QUALIFIED\n{},DENIED\n", w.refs[0].1, w.refs[1].1);
    let batch = w.preview(&csv).await;
    let (first, second) = tokio::join!(w.commit(&batch), w.commit(&batch));
    assert_eq!(first, second, "both see the one result");
    let again = w.commit(&batch).await;
    assert_eq!(again, first);
    assert_eq!(w.status(0).await["version"], 2, "applied once");
    let q = "query($id: ID!) { referralTimeline(id: $id) { source } }";
    let timeline = w.app.ok(&w.vendor, q, json!({ "id": w.refs[0].0 })).await["referralTimeline"].clone();
    assert_eq!(timeline.as_array().unwrap().iter().filter(|e| e["source"] == "IMPORT").count(), 1);
}

#[tokio::test]
async fn stale_and_expired_previews_are_refused() {
    let w = world().await;
    let set = "mutation($id: ID!, $s: ReferralStatus!) { setReferralStatus(id: $id, status: $s) { status } }";
    w.app.ok(&w.vendor, set, json!({ "id": w.refs[1].0, "s": "QUALIFIED" })).await;
    let csv = format!("referralkey_ID,status,note\n{},PENDING,back\n{},QUALIFIED,\n", w.refs[1].1, w.refs[0].1);
    let batch = w.preview(&csv).await;
    w.app
        .ok(
            &w.vendor,
            "mutation($id: ID!) { setReferralStatus(id: $id, status: DENIED) { status } }",
            json!({ "id": w.refs[0].0 }),
        )
        .await;
    let err = w.app.error(Some(&w.vendor), COMMIT, json!({ "id": batch["id"] })).await;
    assert_eq!(err["extensions"]["code"], "CONFLICT");
    assert!(err["message"].as_str().unwrap().contains("changed since the preview (lines 3)"), "{err}");
    assert_eq!(w.status(0).await["status"], "DENIED");
    // Nothing of the refused batch stays: not line 2's change, not its audit.
    assert_eq!(w.status(1).await["status"], "QUALIFIED");
    let q = "query($id: ID!) { referralTimeline(id: $id) { source } }";
    let timeline = w.app.ok(&w.vendor, q, json!({ "id": w.refs[1].0 })).await["referralTimeline"].clone();
    assert!(timeline.as_array().unwrap().iter().all(|e| e["source"] != "IMPORT"), "{timeline}");
    // A line that changes nothing is stale too once its referral moves.
    let unchanged = w.preview(&format!("referralkey_ID,status\n{},QUALIFIED\n", w.refs[1].1)).await;
    assert_eq!(unchanged["sample"][0]["changes"], false, "{unchanged}");
    w.app.ok(&w.vendor, set, json!({ "id": w.refs[1].0, "s": "DENIED" })).await;
    let err = w.app.error(Some(&w.vendor), COMMIT, json!({ "id": unchanged["id"] })).await;
    assert!(err["message"].as_str().unwrap().contains("changed since the preview (lines 2)"), "{err}");
    let fresh = w.preview(&csv).await;
    w.app.clock.advance(Duration::minutes(61));
    let err = w.app.error(Some(&w.vendor), COMMIT, json!({ "id": fresh["id"] })).await;
    assert!(err["message"].as_str().unwrap().contains("preview the file again"));
}

/// On PostgreSQL a preview's rows are in an unlogged table, which a crash
/// empties: a batch whose rows are gone is refused, never committed as a
/// batch that applied nothing.
#[tokio::test]
async fn a_preview_whose_rows_are_gone_must_be_previewed_again() {
    use sea_orm::ConnectionTrait;
    let w = world().await;
    let csv = format!("referralkey_ID,status\n{},QUALIFIED\n{},DENIED\n", w.refs[0].1, w.refs[1].1);
    let batch = w.preview(&csv).await;
    assert_eq!(batch["validCount"], 2);
    if w.app.ctx.db.get_database_backend() == sea_orm::DbBackend::Postgres {
        let sql = "SELECT relpersistence::text AS p FROM pg_class WHERE relname = 'import_row'";
        let row = w.app.ctx.db.query_one_raw(sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, sql));
        assert_eq!(row.await.unwrap().unwrap().try_get::<String>("", "p").unwrap(), "u", "unlogged");
    }
    // What a crash does to an unlogged table.
    w.app.ctx.db.execute_unprepared("DELETE FROM import_row").await.unwrap();
    let err = w.app.error(Some(&w.vendor), COMMIT, json!({ "id": batch["id"] })).await;
    assert_eq!(err["extensions"]["code"], "CONFLICT", "{err}");
    assert!(err["message"].as_str().unwrap().contains("preview the file again"), "{err}");
    assert_eq!(w.status(0).await["status"], "PENDING");
    let again = w.preview(&csv).await;
    assert_eq!(w.commit(&again).await["result"]["applied"], 2);
}

#[tokio::test]
async fn another_vendors_referrals_are_unknown_and_partners_cannot_import() {
    let w = world().await;
    let (_, stranger, _) = w.app.vendor("Stranger").await;
    let csv = format!("referralkey_ID,status\n{},DENIED\n{},DENIED\n", w.refs[0].1, w.refs[0].0);
    let batch = w.app.ok(&stranger, PREVIEW, json!({ "csv": csv })).await["previewReferralImport"].clone();
    assert_eq!(batch["validCount"], 0);
    assert!(errors(&batch).iter().all(|e| e.2.starts_with("no referral")));
    assert_eq!(w.status(0).await["status"], "PENDING");
    assert_eq!(w.app.code(Some(&w.partner_user), PREVIEW, json!({ "csv": csv })).await, "FORBIDDEN");
    // A batch of one vendor is not found by another.
    let mine = w.preview(&format!("referralkey_ID,status\n{},DENIED\n", w.refs[0].1)).await;
    assert_eq!(w.app.code(Some(&stranger), COMMIT, json!({ "id": mine["id"] })).await, "NOT_FOUND");
}

async fn export(app: &TestApp, token: &str, query: &str) -> (u16, String) {
    let res =
        app.client.get(format!("{}/export/referrals.csv?{query}", app.base)).bearer_auth(token).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.text().await.unwrap())
}

#[tokio::test]
async fn an_export_reads_back_in_after_editing() {
    let w = world().await;
    w.app
        .ok(
            &w.vendor,
            "mutation($id: ID!) { setReferralStatus(id: $id, status: QUALIFIED) { status } }",
            json!({ "id": w.refs[0].0 }),
        )
        .await;
    w.app
        .ok(
            &w.vendor,
            "mutation($id: ID!) { reportOutcome(id: $id, input: { outcome: IN_PROGRESS }) { outcome } }",
            json!({ "id": w.refs[0].0 }),
        )
        .await;
    let (status, csv) = export(&w.app, &w.vendor, "orderBy=LEAD_NAME&direction=ASC").await;
    assert_eq!(status, 200);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "referralkey_ID,referralkey_externalid,status,stage,sale_amount,currency,outcome,invalid_reason,lead_name,lead_email,lead_phone,lead_company,partner,payout_view,created_at,report_back_due_at"
    );
    assert_eq!(lines.len(), 9, "a header and eight referrals");
    assert!(
        lines[1].starts_with(&format!("{},EXT-a,QUALIFIED,,,USD,IN_PROGRESS,,a,a@x.io,", w.refs[0].1)),
        "{}",
        lines[1]
    );
    // Filters apply: the GraphQL filter's fields, lists comma separated.
    let (_, only) = export(&w.app, &w.vendor, "status=QUALIFIED").await;
    assert_eq!(only.lines().count(), 2);
    let (_, two) = export(&w.app, &w.vendor, "status=qualified,%20Pending&search=x.io").await;
    assert_eq!(two.lines().count(), 9, "QUALIFIED and PENDING, any case, every lead's e-mail at x.io");
    let (_, none) = export(&w.app, &w.vendor, "search=a,b").await;
    assert_eq!(none.lines().count(), 1, "a search is one text, commas and all");
    let (status, body) = export(&w.app, &w.vendor, "partnerId=UHJvZ3JhbTox").await;
    assert_eq!(status, 404, "an id of another type names nothing, as in the API: {body}");
    // Edit: b → DENIED as an invalid duplicate; everything else as exported
    // (a's IN_PROGRESS again is a no-op in a file).
    let edited: String = csv
        .lines()
        .map(|l| {
            if l.starts_with(&w.refs[1].1) {
                l.replacen(",PENDING,,,USD,,,", ",DENIED,,,USD,NO_SALE,DUPLICATE,", 1)
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n");
    let batch = w.preview(&edited).await;
    assert_eq!(errors(&batch), vec![], "the export reads back in");
    assert_eq!(batch["validCount"], 8);
    let done = w.commit(&batch).await;
    assert_eq!(done["result"]["applied"], 1, "only the edited row changes anything");
    assert_eq!(w.status(1).await["status"], "DENIED");
    assert_eq!(done["result"]["outcomes"], 1);
    assert_eq!(w.status(0).await["version"], 3, "unchanged rows are left alone");
    // The follow-up list exports too: all but b (denied) are overdue after 15 days.
    w.app.clock.advance(Duration::days(15));
    let (_, overdue) = export(&w.app, &w.vendor, "reportBackOverdue=true").await;
    assert_eq!(overdue.lines().count(), 1 + 7);
    assert!(!overdue.contains(&w.refs[1].1));
    assert_eq!(export(&w.app, &w.vendor, "reportBackOverdue=maybe").await.0, 400);
}

#[tokio::test]
async fn an_export_keyed_by_external_id_round_trips() {
    let w = world().await;
    let (_, csv) = export(&w.app, &w.vendor, "orderBy=LEAD_NAME&direction=ASC").await;
    // Without the referralkey_ID column, c moved to QUALIFIED.
    let edited: String = csv
        .lines()
        .map(|l| l.split_once(',').unwrap().1.to_owned())
        .map(|l| if l.starts_with("EXT-c,") { l.replacen(",PENDING,", ",QUALIFIED,", 1) } else { l })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(edited.starts_with("referralkey_externalid,status,"), "{edited}");
    let batch = w.preview(&edited).await;
    assert_eq!(errors(&batch), vec![]);
    assert_eq!(w.commit(&batch).await["result"]["applied"], 1);
    assert_eq!(w.status(2).await["status"], "QUALIFIED");
}

#[tokio::test]
async fn exports_neutralize_formulas_and_write_amounts_by_currency() {
    let app = spawn_app().await;
    let (_, vendor, program) = app.vendor("Tokyo").await;
    let q = "mutation($id: ID!) { updateProgram(id: $id, input: { currency: \"JPY\", rewardModel: COMMISSION, rewardBasisPoints: 1000, rewardTrigger: APPROVED }) { currency } }";
    assert_eq!(app.ok(&vendor, q, json!({ "id": program })).await["updateProgram"]["currency"], "JPY");
    let code = app.read_partner(&vendor, &app.partner(&vendor, &program, "Link", "LIVE").await, "referralCode").await;
    let lead =
        json!({ "name": "=HYPERLINK(\"http://evil.example\",\"x\")", "company": "@SUM(A1)", "phone": "+81 3 1234" });
    let q = "mutation($c: String!, $l: LeadInput!) { submitReferralViaLink(code: $c, lead: $l) { referenceId } }";
    let reference = app.ok(&vendor, q, json!({ "c": code["referralCode"], "l": lead })).await["submitReferralViaLink"]
        ["referenceId"]
        .as_str()
        .unwrap()
        .to_owned();
    let sold = "mutation($k: ReferralKeyInput!) { updateReferral(key: $k, outcome: SOLD, saleAmountMinor: 123456) { status } }";
    app.ok(&vendor, sold, json!({ "k": { "id": reference } })).await;
    let (_, csv) = export(&app, &vendor, "").await;
    let line = csv.lines().nth(1).unwrap();
    assert!(line.contains(",123456,JPY,"), "JPY has no minor unit: {line}");
    assert!(line.contains(r#""'=HYPERLINK(""http://evil.example"",""x"")""#), "{line}");
    assert!(line.contains(",'@SUM(A1),") && line.contains(",'+81 3 1234,"), "{line}");
    // Amounts are read by the currency too: 1234.5 is not yen.
    let bad = format!("referralkey_ID,sale_amount\n{reference},1234.5\n");
    let batch = app.ok(&vendor, PREVIEW, json!({ "csv": bad })).await["previewReferralImport"].clone();
    assert!(batch["errors"][0]["message"].as_str().unwrap().contains("not an amount in JPY"), "{batch}");
}

#[tokio::test]
async fn exports_respect_tenancy_and_money() {
    let w = world().await;
    let (_, stranger, _) = w.app.vendor("Stranger").await;
    let (_, theirs) = export(&w.app, &stranger, "").await;
    assert_eq!(theirs.lines().count(), 1, "only the header");
    let (_, partners) = export(&w.app, &w.partner_user, "").await;
    assert_eq!(partners.lines().count(), 9, "a partner exports its own referrals");
    let org =
        w.app.ok(&w.vendor, "{ me { organization { id } } }", json!({})).await["me"]["organization"]["id"].clone();
    let viewer = w.app.token("REPORT_VIEWER", Some(row_id(&org)), "analyst");
    let (_, viewed) = export(&w.app, &viewer, "").await;
    assert!(!viewed.lines().next().unwrap().contains("sale_amount"), "no money column for report viewers");
    assert_eq!(export(&w.app, &viewer, "orderBy=SALE_AMOUNT").await.0, 403);
    let res = w.app.client.get(format!("{}/export/referrals.csv", w.app.base)).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(export(&w.app, &w.vendor, "status=MAYBE").await.0, 400);
    assert_eq!(export(&w.app, &w.vendor, "orderBy=NOPE").await.0, 400);
    let (_, none_view) = export(&w.app, &w.vendor, "payoutView=ready_for_payout&orderBy=reference_id").await;
    assert_eq!(none_view.lines().count(), 1, "no referral is ready for payout yet");
}

const UPDATE: &str = "mutation($k: ReferralKeyInput!, $s: String, $n: String, $i: String) {
    updateReferral(key: $k, status: $s, note: $n, idempotencyKey: $i) { status version } }";

#[tokio::test]
async fn the_update_integration_finds_by_any_key_and_replays_idempotent_retries() {
    let w = world().await;
    let by_external = w.app.ok(&w.vendor, UPDATE, json!({ "k": { "externalId": "EXT-a" }, "s": "QUALIFIED" })).await;
    assert_eq!(by_external["updateReferral"], json!({ "status": "QUALIFIED", "version": 2 }));
    let by_reference = w.app.ok(&w.vendor, UPDATE, json!({ "k": { "id": w.refs[1].1 }, "s": "denied" })).await;
    assert_eq!(by_reference["updateReferral"]["status"], "DENIED");
    let by_email = w.app.ok(&w.vendor, UPDATE, json!({ "k": { "email": "C@X.IO" }, "s": "REJECTED" })).await;
    assert_eq!(by_email["updateReferral"]["status"], "DENIED");
    assert_eq!(
        w.app.code(Some(&w.vendor), UPDATE, json!({ "k": { "email": "d@x.io" }, "s": "DENIED" })).await,
        "CONFLICT"
    );
    assert_eq!(
        w.app.code(Some(&w.vendor), UPDATE, json!({ "k": { "externalId": "EXT-a", "email": "a@x.io" } })).await,
        "VALIDATION"
    );
    assert_eq!(
        w.app.code(Some(&w.vendor), UPDATE, json!({ "k": { "externalId": "nope" }, "s": "DENIED" })).await,
        "NOT_FOUND"
    );
    let source = w
        .app
        .ok(&w.vendor, "query($id: ID!) { referralTimeline(id: $id) { source } }", json!({ "id": w.refs[0].0 }))
        .await;
    assert_eq!(source["referralTimeline"].as_array().unwrap().last().unwrap()["source"], "API");

    // The same key and input: the first result, no new effect.
    let vars = json!({ "k": { "externalId": "EXT-f" }, "s": "QUALIFIED", "n": "from the CRM", "i": "crm-42" });
    let first = w.app.ok(&w.vendor, UPDATE, vars.clone()).await;
    let again = w.app.ok(&w.vendor, UPDATE, vars.clone()).await;
    assert_eq!(first, again);
    let timeline = w
        .app
        .ok(&w.vendor, "query($id: ID!) { referralTimeline(id: $id) { kind } }", json!({ "id": w.refs[5].0 }))
        .await;
    assert_eq!(timeline["referralTimeline"].as_array().unwrap().len(), 3, "submit, one status change, one note");
    // The same key with other input is a conflict.
    let other = json!({ "k": { "externalId": "EXT-f" }, "s": "DENIED", "i": "crm-42" });
    assert_eq!(w.app.code(Some(&w.vendor), UPDATE, other).await, "CONFLICT");
    // The header works like the argument.
    let res = w
        .app
        .client
        .post(format!("{}/graphql", w.app.base))
        .bearer_auth(&w.vendor)
        .header("idempotency-key", "crm-42")
        .json(&json!({ "query": UPDATE, "variables": { "k": { "externalId": "EXT-f" }, "s": "QUALIFIED", "n": "from the CRM" } }))
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["data"], first, "replayed through the header");
    // Keys are kept 48 hours, then the key is free again.
    w.app.clock.advance(Duration::hours(49));
    let reused = json!({ "k": { "externalId": "EXT-f" }, "s": "DENIED", "i": "crm-42" });
    assert_eq!(w.app.ok(&w.vendor, UPDATE, reused).await["updateReferral"]["status"], "DENIED");
}

#[tokio::test]
async fn a_csv_file_uploads_by_graphql_multipart_request() {
    let w = world().await;
    let csv = format!("referralkey_ID,status\r\n{},QUALIFIED\r\n", w.refs[0].1);
    let operations = json!({ "query": "mutation($f: Upload) { previewReferralImport(file: $f) { validCount errors { message } } }", "variables": { "f": null } });
    let boundary = "rhboundary7MA4YWxkTrZu0gW";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{operations}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"map\"\r\n\r\n{{\"0\": [\"variables.f\"]}}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"0\"; filename=\"updates.csv\"\r\nContent-Type: text/csv\r\n\r\n{csv}\r\n\
         --{boundary}--\r\n"
    );
    let res = w
        .app
        .client
        .post(format!("{}/graphql", w.app.base))
        .bearer_auth(&w.vendor)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["data"]["previewReferralImport"], json!({ "validCount": 1, "errors": [] }), "{body}");
    // Neither or both is a validation error.
    let both = json!({ "csv": "referralkey_ID,status\n" });
    let code = w
        .app
        .code(Some(&w.vendor), "mutation($csv: String) { previewReferralImport(csv: $csv) { id } }", json!({}))
        .await;
    assert_eq!(code, "VALIDATION");
    let _ = both;
}

#[tokio::test]
async fn an_update_applies_whole_or_not_at_all_and_reports_outcomes() {
    let w = world().await;
    // A status that would apply, with a stage that is refused: nothing changes.
    let vars = json!({ "k": { "externalId": "EXT-a" }, "s": "QUALIFIED", "st": "No such stage", "n": "why" });
    assert_eq!(w.app.code(Some(&w.vendor), UPDATE_ALL, vars).await, "VALIDATION");
    assert_eq!(w.status(0).await["version"], 1, "the status was not applied either");
    let q = "query($id: ID!) { referralTimeline(id: $id) { kind } }";
    assert_eq!(
        w.app.ok(&w.vendor, q, json!({ "id": w.refs[0].0 })).await["referralTimeline"].as_array().unwrap().len(),
        1
    );
    // Status and stage together, in one go.
    let vars = json!({ "k": { "externalId": "EXT-a" }, "s": "QUALIFIED", "st": "demo" });
    let done = w.app.ok(&w.vendor, UPDATE_ALL, vars).await["updateReferral"].clone();
    assert_eq!((done["status"].as_str(), done["stage"].as_str()), (Some("QUALIFIED"), Some("Demo")));
    // An outcome instead of a status (not both).
    let both = json!({ "k": { "externalId": "EXT-b" }, "s": "DENIED", "o": "NO_SALE" });
    assert_eq!(w.app.code(Some(&w.vendor), UPDATE_ALL, both).await, "VALIDATION");
    let vars = json!({ "k": { "externalId": "EXT-b" }, "o": "NO_SALE", "r": "SPAM", "n": "bot traffic" });
    let done = w.app.ok(&w.vendor, UPDATE_ALL, vars).await["updateReferral"].clone();
    assert_eq!((done["status"].as_str(), done["outcome"].as_str()), (Some("DENIED"), Some("NO_SALE")));
}

/// A file larger than one preview chunk (10,000 lines) and than one INSERT
/// of kept rows: a referral named again across the chunk boundary is still
/// caught, and every valid row is kept and applied.
#[tokio::test]
async fn a_file_larger_than_a_chunk_is_validated_and_applied_whole() {
    let app = spawn_app().await;
    let (vendor_org, vendor, program) = app.vendor("Acme").await;
    let partner = app.partner(&vendor, &program, "Realty", "LIVE").await;
    // Every row earns a reward, so the commit's reward pages (5,000 rows
    // each) are crossed twice.
    app.ok(
        &vendor,
        "mutation($id: ID!) { updateProgram(id: $id, input: { rewardModel: FLAT, rewardAmountMinor: 1000, rewardTrigger: QUALIFIED }) { id } }",
        json!({ "id": program }),
    )
    .await;
    const N: usize = 10_050;
    load_referrals(&app, vendor_org, &program, &partner, N).await;
    let mut csv = String::from("referralkey_ID,status,note\n");
    for i in 0..N {
        csv.push_str(&format!("R-B{i:07},QUALIFIED,Line {i}\n"));
    }
    csv.push_str("R-B0000000,DENIED,\n");
    app.ctx.statements.record();
    let batch = app.ok(&vendor, PREVIEW, json!({ "csv": csv })).await["previewReferralImport"].clone();
    // Each key is one index probe, whatever the statistics of the freshly
    // loaded table say: PostgreSQL once joined every referral of the vendor
    // to every key (25 s per 10,000 keys).
    for plan in look_up_plans(&app).await {
        assert!(!plan.contains("Join Filter"), "every referral joined to every key\n{plan}");
        assert!(!plan.lines().any(|l| l.trim() == "SCAN r"), "the vendor's referrals scanned per key\n{plan}");
        assert!(finds_by_key(&plan, "reference_id"), "a range of the vendor's referrals read per key\n{plan}");
    }
    assert_eq!((batch["rowCount"].as_i64(), batch["validCount"].as_i64()), (Some(N as i64 + 1), Some(N as i64)));
    assert_eq!(
        errors(&batch),
        vec![(N as i64 + 2, Some("referralkey_ID".into()), "line 2 already updates this referral".into())]
    );
    let done = app.ok(&vendor, COMMIT, json!({ "id": batch["id"] })).await["commitReferralImport"].clone();
    assert_eq!(
        (done["result"]["applied"].as_i64(), done["result"]["notes"].as_i64()),
        (Some(N as i64), Some(N as i64))
    );
    assert_eq!(done["result"]["rewardsEarned"].as_i64(), Some(N as i64));
    let q = "{ referrals(filter: { status: [QUALIFIED] }) { totalCount } rewards { totalCount } }";
    let counts = app.ok(&vendor, q, json!({})).await;
    assert_eq!((&counts["referrals"]["totalCount"], &counts["rewards"]["totalCount"]), (&json!(N), &json!(N)));
}

/// A vendor's first file, right after its referrals were loaded: with no
/// statistics yet, PostgreSQL rated every index that starts with the vendor
/// at one row and read each key's referral from a range of all the
/// vendor's (5,000 lines: 4–5 s instead of 0.1 s, quadratic in the file).
/// The preview refreshes the statistics that misjudge the vendor first.
#[tokio::test]
async fn a_first_file_after_loading_finds_each_referral_by_its_key() {
    let app = spawn_app().await;
    let (vendor_org, vendor, program) = app.vendor("Acme").await;
    let partner = app.partner(&vendor, &program, "Realty", "LIVE").await;
    const N: usize = 5_000;
    load_referrals(&app, vendor_org, &program, &partner, N).await;
    let mut csv = String::from("referralkey_ID,status\n");
    for i in 0..N {
        csv.push_str(&format!("R-B{i:07},QUALIFIED\n"));
    }
    app.ctx.statements.record();
    let batch = app.ok(&vendor, PREVIEW, json!({ "csv": csv })).await["previewReferralImport"].clone();
    assert_eq!(batch["validCount"].as_i64(), Some(N as i64));
    for plan in look_up_plans(&app).await {
        assert!(finds_by_key(&plan, "reference_id"), "a range of the vendor's referrals read per key\n{plan}");
    }
}

/// `n` PENDING referrals `R-B0000000…` of the vendor through `partner`,
/// with external ids and e-mails, written straight to the table, as a
/// vendor moving from another system brings them.
async fn load_referrals(app: &TestApp, vendor_org: i64, program: &str, partner: &str, n: usize) {
    use entity::{Direction, PayoutView, ReferralSource, ReferralStatus};
    use sea_orm::{EntityTrait, Set};
    let now = app.clock.now_utc();
    let rows: Vec<_> = (0..n)
        .map(|i| entity::referral::ActiveModel {
            vendor_org_id: Set(vendor_org),
            program_id: Set(row_id(&json!(program))),
            partner_id: Set(Some(row_id(&json!(partner)))),
            reference_id: Set(format!("R-B{i:07}")),
            external_id: Set(Some(format!("EXT-{i}"))),
            direction: Set(Direction::Inbound),
            source: Set(ReferralSource::Api),
            status: Set(Some(ReferralStatus::Pending)),
            ever_qualified: Set(false),
            lead_name: Set(format!("Lead {i}")),
            lead_email: Set(Some(format!("lead{i}@example.com"))),
            currency: Set("USD".into()),
            recurring: Set(false),
            payout_view: Set(PayoutView::None),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        })
        .collect();
    for chunk in rows.chunks(500) {
        entity::referral::Entity::insert_many(chunk.to_vec()).exec(&app.ctx.db).await.unwrap();
    }
}

/// The plans of the preview's look-ups among the statements recorded.
async fn look_up_plans(app: &TestApp) -> Vec<String> {
    let look_ups: Vec<_> = app.ctx.statements.take().into_iter().filter(|s| s.sql.contains("CROSS JOIN")).collect();
    assert!(!look_ups.is_empty(), "no look-up was recorded");
    let mut plans = Vec::new();
    for statement in &look_ups {
        plans.push(app.plan(statement).await);
    }
    plans
}

/// Whether each key's referral is found through an index on the key's
/// `column`, rather than by reading an index range of the vendor's
/// referrals and filtering each for the key (quadratic in the file). With
/// no statistics for the vendor, PostgreSQL rates every index that starts
/// with the vendor at one row and may pick any of them.
fn finds_by_key(plan: &str, column: &str) -> bool {
    if !is_postgres() {
        return plan.lines().any(|l| l.contains("SEARCH r USING") && l.contains(&format!("{column}=?")));
    }
    let lines: Vec<&str> = plan.lines().collect();
    let scans: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].contains(" on referral r")).collect();
    !scans.is_empty()
        && scans.iter().all(|&i| {
            let rest = lines[i + 1..].iter().take_while(|l| !l.contains("->"));
            rest.clone().any(|l| l.contains("Cond:") && l.contains(column))
        })
}

/// The bulk rows a preview writes reach the database as sent, whatever the
/// CSV cell held: quotes, backslashes, braces, line breaks, the word NULL.
#[tokio::test]
async fn bulk_rows_arrive_as_sent_whatever_they_hold() {
    use referral_hub::db::{Bulk, stmt};
    use sea_orm::ConnectionTrait;
    let app = spawn_app().await;
    let backend = app.ctx.db.get_database_backend();
    let texts = [
        "plain",
        "comma, and \"quotes\"",
        "back\\slash\\",
        "NULL",
        "{braces}, [brackets]",
        "line\r\nbreak",
        "  spaced  ",
        "",
        "ünïcode ✓",
    ];
    let at = start_time();
    let rows = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let n = i as i64 - 3;
            vec![
                n.into(),
                (*t).into(),
                Option::<String>::None.into(),
                (i % 2 == 0).into(),
                (at + Duration::seconds(n)).into(),
            ]
        })
        .collect();
    let columns = [("n", "bigint"), ("t", "text"), ("missing", "text"), ("flag", "boolean"), ("at", "timestamptz")];
    let bulk = Bulk::new(backend, &columns, rows);
    let sql =
        format!("WITH k(n, t, missing, flag, at) AS ({}) SELECT n, t, missing, flag, at FROM k ORDER BY n", bulk.sql);
    let got = app.ctx.db.query_all_raw(stmt(backend, &sql, bulk.values)).await.unwrap();
    assert_eq!(got.len(), texts.len());
    for (i, (row, text)) in got.iter().zip(texts).enumerate() {
        let n = i as i64 - 3;
        assert_eq!(row.try_get::<i64>("", "n").unwrap(), n);
        assert_eq!(row.try_get::<String>("", "t").unwrap(), text);
        assert_eq!(row.try_get::<Option<String>>("", "missing").unwrap(), None);
        assert_eq!(row.try_get::<bool>("", "flag").unwrap(), i % 2 == 0);
        assert_eq!(row.try_get::<chrono::DateTime<chrono::Utc>>("", "at").unwrap(), at + Duration::seconds(n));
    }
}

/// Migration 000008 takes the foreign keys off `import_row` and `note`
/// (SQLite rebuilds both tables): down and up again, every previewed row and
/// note is still there, and a batch previewed before goes on to commit.
#[tokio::test]
async fn the_import_staging_migration_goes_down_and_up_keeping_every_row() {
    use migration::MigratorTrait;
    let w = world().await;
    let (a, b) = (&w.refs[0].1, &w.refs[1].1);
    let first = w.preview(&format!("referralkey_ID,status,note\n{a},QUALIFIED,First note\n")).await;
    w.commit(&first).await;
    let second = w.preview(&format!("referralkey_ID,status,note\n{b},QUALIFIED,Second note\n")).await;
    // Down to before 000008 (and the migrations after it, 000017's
    // unlogged table among them), then up again.
    let newer =
        migration::Migrator::migrations().iter().rev().position(|m| m.name() == "m20261123_000008_import_staging");
    migration::Migrator::down(&w.app.ctx.db, Some(newer.unwrap() as u32 + 1)).await.unwrap();
    migration::Migrator::up(&w.app.ctx.db, None).await.unwrap();
    let done = w.commit(&second).await;
    assert_eq!((done["status"].as_str(), done["result"]["applied"].as_i64()), (Some("COMMITTED"), Some(1)));
    let read = "query($id: ID!) { referral(id: $id) { status } referralTimeline(id: $id) { kind note { body } } }";
    for (i, body) in [(0, "First note"), (1, "Second note")] {
        let r = w.app.ok(&w.vendor, read, json!({ "id": w.refs[i].0 })).await;
        assert_eq!(r["referral"]["status"], "QUALIFIED");
        let notes: Vec<&Value> =
            r["referralTimeline"].as_array().unwrap().iter().filter(|e| e["kind"] == "NOTE").collect();
        assert_eq!(notes.len(), 1, "{r}");
        assert_eq!(notes[0]["note"]["body"], body);
    }
}
