//! The scheduler's jobs: the lapse job's boundaries, idempotence, tick claims
//! under concurrency, and the run history.

use crate::common::*;
use chrono::Duration;
use entity::JobTrigger;
use referral_hub::jobs::{self, JobName, RunOutcome};
use serde_json::{Value, json};

#[tokio::test]
async fn lapse_job_waits_the_full_thirty_days_and_reruns_change_nothing() {
    let app = spawn_app().await;
    let (_, vendor, program) = app.vendor("Acme").await;
    let p = app.partner(&vendor, &program, "Co", "LIVE").await;
    let lead_at = app.clock.now_utc();
    receive_lead(&app, &p).await.unwrap();

    let early = run_job(&app, "LAPSE_PARTNERS", lead_at + Duration::days(29) + Duration::hours(23)).await;
    assert_eq!(early["itemsTouched"], 0);
    assert_eq!(app.read_partner(&vendor, &p, "status").await["status"], "ACTIVE");

    let due = run_job(&app, "LAPSE_PARTNERS", lead_at + Duration::days(30)).await;
    assert_eq!(due["itemsTouched"], 1);
    assert_eq!(due["error"], json!(null));
    let read = app.read_partner(&vendor, &p, "status lapsesAt history { event source jobRunId }").await;
    assert_eq!(read["status"], "LAPSED");
    assert_eq!(read["lapsesAt"], json!(null), "lapsesAt is shown only while ACTIVE");
    let lapse = &read["history"][2];
    assert_eq!(lapse["event"], "LAPSE");
    assert_eq!(lapse["source"], "JOB");
    assert_eq!(lapse["jobRunId"], due["id"]);

    let rerun = run_job(&app, "LAPSE_PARTNERS", lead_at + Duration::days(31)).await;
    assert_eq!(rerun["itemsTouched"], 0);
    let history = app.read_partner(&vendor, &p, "history { event }").await;
    assert_eq!(history["history"].as_array().unwrap().len(), 3);
    // The vendor is told.
    app.stamp().await;
    let notes = app.ok(&vendor, "{ notifications { edges { node { kind subjectId } } } }", json!({})).await;
    assert_eq!(notes["notifications"]["edges"][0]["node"], json!({ "kind": "PARTNER_LAPSED", "subjectId": p }));
}

#[tokio::test]
async fn only_active_partners_lapse() {
    let app = spawn_app().await;
    let (_, vendor, program) = app.vendor("Acme").await;
    let live = app.partner(&vendor, &program, "Live", "LIVE").await;
    let ended = app.partner(&vendor, &program, "Ended", "LIVE").await;
    receive_lead(&app, &ended).await.unwrap();
    app.ok(&vendor, "mutation($id: ID!) { endPartner(id: $id) { status } }", json!({ "id": ended })).await;
    let run = run_job(&app, "LAPSE_PARTNERS", app.clock.now_utc() + Duration::days(400)).await;
    assert_eq!(run["itemsTouched"], 0);
    assert_eq!(app.read_partner(&vendor, &live, "status").await["status"], "LIVE");
    assert_eq!(app.read_partner(&vendor, &ended, "status").await["status"], "ENDED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_running_one_tick_lapse_each_partner_once() {
    let app = spawn_app().await;
    let (_, vendor, program) = app.vendor("Acme").await;
    let mut partners = Vec::new();
    for i in 0..20 {
        let p = app.partner(&vendor, &program, &format!("P{i}"), "LIVE").await;
        receive_lead(&app, &p).await.unwrap();
        partners.push(p);
    }
    let tick = app.clock.now_utc() + Duration::days(30);
    let slot = jobs::scheduled_slot(tick);
    let runs = (0..4).map(|_| {
        let ctx = app.ctx.clone();
        let slot = slot.clone();
        tokio::spawn(
            async move { jobs::run(&ctx, JobName::LapsePartners, slot, JobTrigger::Scheduled, tick, None).await },
        )
    });
    let mut ran = 0;
    let mut claimed = 0;
    for r in futures_util::future::join_all(runs).await {
        match r.unwrap().unwrap() {
            RunOutcome::Ran(run) => {
                ran += 1;
                assert_eq!(run.items_touched, 20);
            }
            RunOutcome::AlreadyClaimed => claimed += 1,
        }
    }
    assert_eq!((ran, claimed), (1, 3));
    // And two manual runs at once (each its own slot) still lapse each partner once.
    app.clock.advance(Duration::days(40));
    for p in &partners {
        receive_lead(&app, p).await.unwrap();
    }
    let later = app.clock.now_utc() + Duration::days(30);
    let manual = (0..2).map(|_| {
        let ctx = app.ctx.clone();
        tokio::spawn(async move {
            jobs::run(&ctx, JobName::LapsePartners, jobs::manual_slot(), JobTrigger::Manual, later, None).await
        })
    });
    let touched: i64 = futures_util::future::join_all(manual)
        .await
        .into_iter()
        .map(|r| match r.unwrap().unwrap() {
            RunOutcome::Ran(run) => run.items_touched,
            RunOutcome::AlreadyClaimed => panic!("manual slots never collide"),
        })
        .sum();
    assert_eq!(touched, 20);
    for p in &partners {
        let history = app.read_partner(&vendor, p, "history { event }").await;
        let lapses = history["history"].as_array().unwrap().iter().filter(|h| h["event"] == "LAPSE").count();
        assert_eq!(lapses, 2, "one lapse per tick for {p}");
    }
}

#[tokio::test]
async fn run_history_is_listed_for_admins_only() {
    let app = spawn_app().await;
    let (_, vendor, _) = app.vendor("Acme").await;
    let as_of = app.clock.now_utc();
    run_job(&app, "LAPSE_PARTNERS", as_of).await;
    run_job(&app, "TASK_REMINDERS", as_of).await;
    let q =
        "query($j: JobName) { jobRuns(job: $j) { totalCount edges { node { job trigger asOf finishedAt slot } } } }";
    let all = app.ok(&app.admin(), q, json!({})).await;
    assert_eq!(all["jobRuns"]["totalCount"], 2);
    assert_eq!(all["jobRuns"]["edges"][0]["node"]["job"], "task-reminders", "newest first");
    let node = &all["jobRuns"]["edges"][1]["node"];
    assert_eq!(node["trigger"], "MANUAL");
    assert!(node["slot"].as_str().unwrap().starts_with("manual:"));
    assert!(node["finishedAt"].is_string());
    let only = app.ok(&app.admin(), q, json!({ "j": "LAPSE_PARTNERS" })).await;
    assert_eq!(only["jobRuns"]["totalCount"], 1);
    assert_eq!(app.code(Some(&vendor), q, json!({})).await, "FORBIDDEN");
    let code = app.code(Some(&vendor), "mutation { runJob(name: LAPSE_PARTNERS) { id } }", json!({})).await;
    assert_eq!(code, "FORBIDDEN");
}

#[test]
fn scheduled_slots_are_the_minute_of_the_tick() {
    let t = chrono::DateTime::parse_from_rfc3339("2026-05-01T02:15:07.123Z").unwrap().to_utc();
    assert_eq!(jobs::scheduled_slot(t), "2026-05-01T02:15:00+00:00");
    assert_eq!(JobName::parse("LAPSE_PARTNERS"), Some(JobName::LapsePartners));
    assert_eq!(JobName::parse("task-reminders"), Some(JobName::TaskReminders));
    assert_eq!(JobName::parse("nope"), None);
}

#[tokio::test]
async fn overdue_report_backs_are_marked_once_and_the_vendor_gets_one_notice() {
    // Batches of one: the two referrals commit apart, the notice is still one.
    let app = spawn_app_with(|c| c.job_batch_size = 1).await;
    let (_, vendor, program) = app.vendor("Acme").await;
    app.ok(
        &vendor,
        "mutation($id: ID!) { updateProgram(id: $id, input: { rewardModel: FLAT, rewardAmountMinor: 900, rewardTrigger: APPROVED }) { id } }",
        json!({ "id": program }),
    )
    .await;
    let partner = app.partner(&vendor, &program, "Realty", "LIVE").await;
    let submit = "mutation($i: SubmitReferralInput!) { submitReferral(input: $i) { id } }";
    let mut ids = Vec::new();
    for name in ["Ann", "Bob"] {
        let input = json!({ "partnerId": partner, "lead": { "name": name } });
        ids.push(
            app.ok(&vendor, submit, json!({ "i": input })).await["submitReferral"]["id"].as_str().unwrap().to_owned(),
        );
    }
    let start = start_time();
    assert_eq!(run_job(&app, "REPORT_BACK_OVERDUE", start + Duration::days(13)).await["itemsTouched"], 0);
    assert_eq!(run_job(&app, "REPORT_BACK_OVERDUE", start + Duration::days(14)).await["itemsTouched"], 2);
    assert_eq!(run_job(&app, "REPORT_BACK_OVERDUE", start + Duration::days(15)).await["itemsTouched"], 0, "once");

    let overdue = app.notices(&vendor, "REPORT_BACKS_OVERDUE").await;
    assert_eq!(overdue, vec!["2 referrals are waiting for your report back".to_owned()]);
    let q = "query($id: ID!) { referral(id: $id) { reportBackOverdueSince } referralTimeline(id: $id) { kind event source } }";
    let read = app.ok(&vendor, q, json!({ "id": ids[0] })).await;
    assert_eq!(read["referral"]["reportBackOverdueSince"], (start + Duration::days(14)).to_rfc3339());
    assert!(
        read["referralTimeline"].as_array().unwrap().iter().any(|e| e["event"] == "OVERDUE" && e["source"] == "JOB")
    );

    // IN_PROGRESS moves the due time out: overdue again only when that passes.
    app.clock.advance(Duration::days(15));
    let report = "mutation($id: ID!) { reportOutcome(id: $id, input: { outcome: IN_PROGRESS }) { reportBackDueAt reportBackOverdueSince } }";
    let r = app.ok(&vendor, report, json!({ "id": ids[0] })).await["reportOutcome"].clone();
    assert_eq!(r["reportBackOverdueSince"], Value::Null);
    assert_eq!(run_job(&app, "REPORT_BACK_OVERDUE", start + Duration::days(28)).await["itemsTouched"], 0);
    assert_eq!(run_job(&app, "REPORT_BACK_OVERDUE", start + Duration::days(29)).await["itemsTouched"], 1);
}

#[tokio::test]
async fn lapse_commits_batch_by_batch_with_one_audit_row_and_one_event_per_partner() {
    let app = spawn_app_with(|c| c.job_batch_size = 2).await;
    let (_, vendor, program) = app.vendor("Acme").await;
    let mut due = Vec::new();
    for i in 0..5 {
        let p = app.partner(&vendor, &program, &format!("Due {i}"), "LIVE").await;
        receive_lead(&app, &p).await.unwrap();
        due.push(p);
    }
    let lead_at = app.clock.now_utc();
    app.clock.advance(Duration::days(10));
    let later = app.partner(&vendor, &program, "Later", "LIVE").await;
    receive_lead(&app, &later).await.unwrap();
    let mut feed = Ws::init(&app, &vendor).await;
    feed.subscribe("p", "subscription { partnerEvents { kind partnerId status } }", json!({})).await;

    // Five are due: three batches of at most two.
    let run = run_job(&app, "LAPSE_PARTNERS", lead_at + Duration::days(30)).await;
    assert_eq!(run["itemsTouched"], 5);
    for p in &due {
        let read = app.read_partner(&vendor, p, "name status history { event source jobRunId }").await;
        assert_eq!(read["status"], "LAPSED", "{read}");
        let lapses: Vec<_> = read["history"].as_array().unwrap().iter().filter(|h| h["event"] == "LAPSE").collect();
        assert_eq!(lapses.len(), 1, "one audit row: {read}");
        assert_eq!(lapses[0]["jobRunId"], run["id"]);
    }
    assert_eq!(app.read_partner(&vendor, &later, "status").await["status"], "ACTIVE");
    // One event per partner, live and in the feed, with the partner's
    // global id and a readable message.
    // (The relay may still deliver the creation of "Later" first.)
    let mut live = Vec::new();
    while live.len() < 5 {
        let event = feed.recv().await;
        let data = &event["payload"]["data"]["partnerEvents"];
        if data["kind"] == "PARTNER_CREATED" {
            continue;
        }
        assert_eq!(data["kind"], "PARTNER_LAPSED", "{event}");
        live.push(data["partnerId"].as_str().unwrap().to_owned());
    }
    live.sort();
    let mut expected: Vec<String> = due.clone();
    expected.sort();
    assert_eq!(live, expected);
    app.stamp().await;
    let notes = app
        .ok(&vendor, "{ notifications(first: 50) { edges { node { kind subjectId message payload } } } }", json!({}))
        .await;
    let lapsed: Vec<&Value> = notes["notifications"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"])
        .filter(|n| n["kind"] == "PARTNER_LAPSED")
        .collect();
    assert_eq!(lapsed.len(), 5);
    let since = lead_at.format("%Y-%m-%d").to_string();
    for n in &lapsed {
        let message = n["message"].as_str().unwrap();
        assert!(message.starts_with("Due ") && message.ends_with(&format!("lapsed: no lead since {since}")), "{n}");
        assert!(due.contains(&n["subjectId"].as_str().unwrap().to_owned()));
        // The payload's global id is written by the database (each has its
        // own base64), and is the one the API gives.
        assert_eq!(n["payload"]["partnerId"], n["subjectId"], "{n}");
        assert_eq!(n["payload"]["status"], "LAPSED", "{n}");
    }
    // A rerun touches nothing.
    let rerun = run_job(&app, "LAPSE_PARTNERS", lead_at + Duration::days(31)).await;
    assert_eq!(rerun["itemsTouched"], 0);
}
