//! A page of referrals reads only the columns its query shows (and only
//! those of the partners it shows): every field must show on a page what it
//! shows when the whole row is read. The rows here set every column to a
//! value no placeholder has, so a field that reads a column the page left
//! out shows a difference.

use crate::common::{self, *};
use chrono::Duration;
use entity::{
    Direction, InvalidReason, LeadKeyKind, PartnerStatus, PayoutView, ReferralOutcome, ReferralSource, ReferralStatus,
    StageEditor, TenantSource, lead_conflict, partner, referral,
};
use sea_orm::{ActiveValue::NotSet, EntityTrait, IntoActiveModel};
use serde_json::{Value, json};

/// Two partners, ACTIVE (so `lapsesAt` shows) and ARCHIVED (with the status
/// before), every column set.
async fn partners(w: &common::World, org: i64) -> Vec<i64> {
    let program = row_id(&json!(w.program));
    let at = |days: i64| Some(start_time() - Duration::days(days));
    let mut ids = Vec::new();
    for (n, status) in [(1, PartnerStatus::Active), (2, PartnerStatus::Archived)] {
        let row = partner::Model {
            id: 0,
            program_id: program,
            vendor_org_id: w.vendor_org,
            partner_org_id: Some(org),
            name: format!("Every column {n}"),
            contact_name: Some(format!("Contact {n}")),
            contact_email: Some(format!("c{n}@example.com")),
            status,
            status_before_archive: Some(PartnerStatus::Lapsed),
            archive_reason: Some(format!("reason {n}")),
            stage_editor: StageEditor::Both,
            invite_code: format!("INV{n}"),
            referral_code: format!("REF{n}"),
            terms_sent_at: at(40),
            terms_signed_at: at(39),
            first_lead_at: at(38),
            last_lead_at: at(37),
            lapses_at: at(-30),
            last_contacted_at: at(36),
            ended_at: at(35),
            archived_at: at(34),
            assignments_paused_until: at(-5),
            max_open_assignments: Some(9),
            version: 7,
            created_at: start_time() - Duration::days(50),
            updated_at: start_time() - Duration::days(2),
        };
        let mut row = row.into_active_model();
        row.id = NotSet;
        ids.push(partner::Entity::insert(row).exec(&w.app.ctx.db).await.unwrap().last_insert_id);
    }
    ids
}

/// An inbound referral and an assigned one, every column set.
async fn referrals(w: &common::World, partners: &[i64]) -> Vec<i64> {
    let program = row_id(&json!(w.program));
    let time = |days: i64| start_time() - Duration::days(days);
    let mut ids = Vec::new();
    for (n, direction) in [(1, Direction::Inbound), (2, Direction::Assigned)] {
        let row = referral::Model {
            id: 0,
            vendor_org_id: w.vendor_org,
            program_id: program,
            partner_id: Some(partners[n - 1]),
            reference_id: format!("R-EVERY{n}"),
            external_id: Some(format!("ext-{n}")),
            direction,
            source: ReferralSource::Import,
            status: Some(ReferralStatus::Approved),
            ever_qualified: true,
            stage: Some("Demo".into()),
            lead_name: format!("Lead {n}"),
            lead_email: Some(format!("lead{n}@example.com")),
            lead_phone: Some("+14155550100".into()),
            lead_company: Some("Lead Co".into()),
            details: Some("details".into()),
            sale_amount_minor: Some(12_345),
            currency: "EUR".into(),
            recurring: true,
            payout_view: PayoutView::ReadyForPayout,
            submitted_by: None,
            outcome: Some(ReferralOutcome::NoSale),
            invalid_reason: Some(InvalidReason::Other),
            invalid_reason_text: Some("other".into()),
            report_back_due_at: Some(time(3)),
            report_back_overdue_at: Some(time(1)),
            tenant_id: Some(format!("tenant-{n}")),
            tenant_source: Some(TenantSource::Marketplace),
            tenant_country: Some("DE".into()),
            tenant_company_size: Some("50-200".into()),
            tenant_industry: Some("Retail".into()),
            tenant_need: Some("CRM".into()),
            version: 5,
            created_at: time(20 - n as i64),
            updated_at: time(10),
        };
        let mut row = row.into_active_model();
        row.id = NotSet;
        ids.push(referral::Entity::insert(row).exec(&w.app.ctx.db).await.unwrap().last_insert_id);
    }
    ids
}

/// A world with the partners and referrals above; the referrals' ids.
async fn every_column() -> (common::World, Vec<i64>) {
    let w = common::World::build().done().await;
    let org = w.app.organization("Every Column Inc", "PARTNER").await;
    let partners = partners(&w, org).await;
    let ids = referrals(&w, &partners).await;
    (w, ids)
}

/// Every field of `type_name` a query can select without arguments; an
/// object field with all its scalar fields as its selection, then with each
/// one alone (a page reads the columns of the ones it shows).
async fn selections(app: &TestApp, token: &str, type_name: &str) -> Vec<(String, String)> {
    const FIELDS: &str = "query($t: String!) { __type(name: $t) { fields { name
        args { type { kind } }
        type { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }";
    let named = |mut t: &Value| {
        while t["name"].is_null() {
            t = &t["ofType"];
        }
        (t["kind"].as_str().unwrap().to_owned(), t["name"].as_str().unwrap().to_owned())
    };
    let no_required_args = |f: &Value| f["args"].as_array().unwrap().iter().all(|a| a["type"]["kind"] != "NON_NULL");
    let data = app.ok(token, FIELDS, json!({ "t": type_name })).await;
    let mut out = Vec::new();
    for field in data["__type"]["fields"].as_array().unwrap().iter().filter(|f| no_required_args(f)) {
        let name = field["name"].as_str().unwrap().to_owned();
        let (kind, inner) = named(&field["type"]);
        let selection = match kind.as_str() {
            "OBJECT" => {
                let inner = app.ok(token, FIELDS, json!({ "t": inner })).await;
                let scalars: Vec<&str> = inner["__type"]["fields"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|f| no_required_args(f) && matches!(named(&f["type"]).0.as_str(), "SCALAR" | "ENUM"))
                    .map(|f| f["name"].as_str().unwrap())
                    .collect();
                if scalars.len() > 1 {
                    out.extend(scalars.iter().map(|scalar| (name.clone(), format!("{name} {{ {scalar} }}"))));
                }
                format!("{name} {{ {} }}", scalars.join(" "))
            }
            "SCALAR" | "ENUM" => name.clone(),
            _ => continue,
        };
        out.push((name, selection));
    }
    out
}

#[tokio::test]
async fn every_field_shows_on_a_page_what_the_whole_row_shows() {
    let (w, _) = every_column().await;
    const PAGE: &str = "{ referrals(first: 10, filter: { search: \"R-EVERY\" }) { edges { node { id SELECTION } } } }";
    const ONE: &str = "query($id: ID!) { referral(id: $id) { id SELECTION } }";
    let first = w.app.ok(&w.vendor, &PAGE.replace("SELECTION", ""), json!({})).await;
    let ids: Vec<Value> =
        first["referrals"]["edges"].as_array().unwrap().iter().map(|e| e["node"]["id"].clone()).collect();
    assert_eq!(ids.len(), 2, "{first}");
    let mut checked = 0;
    // The referral's own fields, then its partner's (under `partner`).
    for (type_name, under) in [("Referral", None), ("Partner", Some("partner"))] {
        let at = |v: &Value| under.map_or(v.clone(), |f| v[f].clone());
        for (field, selection) in selections(&w.app, &w.vendor, type_name).await {
            let selection = under.map_or(selection.clone(), |f| format!("{f} {{ id {selection} }}"));
            let page = w.app.ok(&w.vendor, &PAGE.replace("SELECTION", &selection), json!({})).await;
            let shown: Vec<Value> =
                page["referrals"]["edges"].as_array().unwrap().iter().map(|e| at(&e["node"])).collect();
            assert_eq!(shown.len(), ids.len(), "{selection}: {page}");
            for (shown, id) in shown.iter().zip(&ids) {
                let one = w.app.ok(&w.vendor, &ONE.replace("SELECTION", &selection), json!({ "id": id })).await;
                let whole = at(&one["referral"]);
                assert_eq!(shown["id"], whole["id"]);
                assert_eq!(shown[&field], whole[&field], "`{selection}` shows on a page what the whole row does");
            }
            checked += 1;
        }
    }
    assert!(checked > 40, "only {checked} fields checked");

    // An object's fields reached through fragments are read too.
    let fragments = "query { referrals(first: 10, filter: { search: \"R-EVERY\" }) { edges { node { ...R } } } }
        fragment R on Referral { lead { name ... on LeadDetails { ...L } } }
        fragment L on LeadDetails { company email }";
    let page = w.app.ok(&w.vendor, fragments, json!({})).await;
    let leads: Vec<&Value> =
        page["referrals"]["edges"].as_array().unwrap().iter().map(|e| &e["node"]["lead"]).collect();
    assert_eq!(leads.len(), 2, "{page}");
    for lead in leads {
        assert_eq!(lead["company"], "Lead Co", "{page}");
        assert!(lead["email"].as_str().unwrap().ends_with("@example.com"), "{page}");
    }
}

/// Placeholders never reach the request's loader: on a page showing only
/// its partners' names, a referral whose lead another one holds shows the
/// holder's partner (read through the loader) with its real status.
#[tokio::test]
async fn a_partner_read_in_part_is_not_what_the_rest_of_the_request_sees() {
    let (w, ids) = every_column().await;
    let conflict = lead_conflict::Model {
        referral_id: ids[1],
        vendor_org_id: w.vendor_org,
        holder_referral_id: Some(ids[0]),
        kind: LeadKeyKind::Email,
        key_value: "lead1@example.com".into(),
        claimed_at: Some(start_time()),
        found_at: start_time(),
        cleared_at: None,
        cleared_by: None,
        clear_reason: None,
    };
    lead_conflict::Entity::insert(conflict.into_active_model()).exec(&w.app.ctx.db).await.unwrap();
    let q = "{ referrals(first: 10, filter: { search: \"R-EVERY\" }) { edges { node {
        referenceId partner { name } conflict { holder { referenceId partner { name status } } } } } } }";
    let data = w.app.ok(&w.vendor, q, json!({})).await;
    let held = data["referrals"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["referenceId"] == "R-EVERY2")
        .map(|e| e["node"]["conflict"]["holder"].clone())
        .unwrap();
    assert_eq!(held["referenceId"], "R-EVERY1");
    assert_eq!(held["partner"], json!({ "name": "Every column 1", "status": "ACTIVE" }));
}

/// How many pages were answered each way (`graphql_lists_total`).
async fn lists_answered(app: &TestApp) -> (u64, u64) {
    let text = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    let count = |how: &str| {
        let prefix = format!("graphql_lists_total{{answered=\"{how}\"}} ");
        text.lines().find_map(|l| l.strip_prefix(&prefix)).map_or(0, |n| n.trim().parse().unwrap())
    };
    (count("at_once"), count("by_engine"))
}

/// Sends a query with one page in it; returns its body and how the page
/// was answered: `at_once` or `by_engine`.
async fn answered(app: &TestApp, token: &str, query: &str) -> (Value, &'static str) {
    let before = lists_answered(app).await;
    let (_, body) = app.post(Some(token), query, json!({})).await;
    let after = lists_answered(app).await;
    let how = match (after.0 - before.0, after.1 - before.1) {
        (1, 0) => "at_once",
        (0, 1) => "by_engine",
        counts => panic!("one page, answered {counts:?} (at once, by the engine): {body:#}"),
    };
    (body, how)
}

/// Takes the `program { name }` a page's nodes were given to send it to
/// the engine out of `body`, checking each node had one.
fn without_programs(body: &mut Value, list: &str) {
    for edge in body["data"][list]["edges"].as_array_mut().unwrap() {
        let program = edge["node"].as_object_mut().unwrap().remove("program").unwrap();
        assert!(program["name"].is_string(), "{program}");
    }
}

/// The scalar and enum fields of `type_name` a query can select alone.
async fn scalars(app: &TestApp, token: &str, type_name: &str) -> String {
    let fields = selections(app, token, type_name).await;
    fields.into_iter().filter(|(name, selection)| name == selection).map(|(name, _)| name).collect::<Vec<_>>().join(" ")
}

/// A page whose fields all read its rows' own columns is answered at once
/// (`graphql::at_once`), and answers what the engine answers, field by
/// field, for the same page: with aliases, `__typename`, fragments and
/// cursors; anything else sends the whole page to the engine.
#[tokio::test]
async fn a_page_of_its_rows_own_fields_is_answered_at_once_as_the_engine_answers_it() {
    let (w, _) = every_column().await;
    let referral = scalars(&w.app, &w.vendor, "Referral").await;
    let lead = scalars(&w.app, &w.vendor, "LeadDetails").await;
    // `inviteCode` is not among the columns a page reads (`partner::READS`).
    let partner = scalars(&w.app, &w.vendor, "Partner").await.replace("inviteCode", "");
    let page = |more: &str| {
        format!(
            "query {{ referrals(first: 10, filter: {{ search: \"R-EVERY\" }}) {{ __typename edges {{ cursor __typename
                node {{ __typename ...R ... on Referral {{ again: referenceId }} ... on Node {{ nodeId: id }}
                    lead {{ {lead} }} partner {{ __typename {partner} }} {more} }} }} }} }}
            fragment R on Referral {{ {referral} }}"
        )
    };
    let (at_once, how) = answered(&w.app, &w.vendor, &page("")).await;
    assert_eq!(how, "at_once", "{at_once:#}");
    assert!(at_once.get("errors").is_none(), "{at_once:#}");
    let edges = at_once["data"]["referrals"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 2, "{at_once:#}");
    assert_eq!(edges[0]["node"]["again"], edges[0]["node"]["referenceId"]);
    assert_eq!(edges[0]["node"]["partner"]["__typename"], "Partner");

    // A field that waits (here on the program's loader) sends the page to
    // the engine; everything else in it answers the same.
    let (mut by_engine, how) = answered(&w.app, &w.vendor, &page("program { name }")).await;
    assert_eq!(how, "by_engine");
    without_programs(&mut by_engine, "referrals");
    assert_eq!(at_once, by_engine, "a page answers at once what the engine answers");

    // A page of partners, the same way.
    let partners =
        |more: &str| format!("{{ partners(first: 10) {{ edges {{ cursor node {{ {partner} {more} }} }} }} }}");
    let (at_once, how) = answered(&w.app, &w.vendor, &partners("")).await;
    assert_eq!(how, "at_once", "{at_once:#}");
    assert!(at_once["data"]["partners"]["edges"].as_array().unwrap().len() >= 2, "{at_once:#}");
    let (mut by_engine, how) = answered(&w.app, &w.vendor, &partners("program { name }")).await;
    assert_eq!(how, "by_engine");
    without_programs(&mut by_engine, "partners");
    assert_eq!(at_once, by_engine, "a page of partners answers at once what the engine answers");

    // An error (money hidden from a report viewer) is the engine's, with
    // its path.
    let viewer = w.app.token("REPORT_VIEWER", Some(w.vendor_org), "viewer");
    let query =
        "{ referrals(first: 10, filter: { search: \"R-EVERY\" }) { edges { node { referenceId saleAmountMinor } } } }";
    let (body, how) = answered(&w.app, &viewer, query).await;
    assert_eq!(how, "by_engine");
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body:#}");
    assert_eq!(body["errors"][0]["path"], json!(["referrals", "edges", 0, "node", "saleAmountMinor"]), "{body:#}");

    // A page answered at once beside a field that failed: the answer is
    // amended (codes added) before it is written, and the page is still
    // the list of objects it was.
    let query = "{ referrals(first: 10, filter: { search: \"R-EVERY\" }) { edges { node { referenceId } } } \
                 referral(id: \"not-an-id\") { id } }";
    let (body, how) = answered(&w.app, &w.vendor, query).await;
    assert_eq!(how, "at_once", "{body:#}");
    assert_eq!(body["errors"][0]["path"], json!(["referral"]), "{body:#}");
    assert!(body["errors"][0]["extensions"]["code"].is_string(), "{body:#}");
    let edges = body["data"]["referrals"]["edges"].as_array().expect("a list of edges");
    assert!(!edges.is_empty() && edges.iter().all(|e| e["node"]["referenceId"].is_string()), "{body:#}");

    // A response key selected twice is merged, by the engine.
    let query =
        "{ referrals(first: 10, filter: { search: \"R-EVERY\" }) { edges { node { lead { name } lead { email } } } } }";
    let (body, how) = answered(&w.app, &w.vendor, query).await;
    assert_eq!(how, "by_engine");
    let lead = &body["data"]["referrals"]["edges"][0]["node"]["lead"];
    assert!(lead["name"].is_string() && lead["email"].is_string(), "{body:#}");
}

/// `from_columns` reads each column by its place in the row, decoding it
/// without the driver's check of its type (`entity::partial::Cell`): every
/// column of both tables must come back as SeaORM's checked reading of the
/// same row has it, and a name no variant has is an error, not a panic.
#[tokio::test]
async fn a_row_read_by_places_is_the_row_read_by_sea_orm() {
    use entity::partial::Columns;
    use sea_orm::{ColumnTrait, ConnectionTrait, QueryFilter, QuerySelect, QueryTrait};
    let (w, ids) = every_column().await;
    let db = &w.app.ctx.db;
    let backend = db.get_database_backend();
    for id in ids {
        let whole = referral::Entity::find_by_id(id).one(db).await.unwrap().unwrap();
        let columns = Columns::<referral::Column>::all();
        let select = referral::Entity::select_none().columns(columns.iter()).filter(referral::Column::Id.eq(id));
        let rows = db.query_all_raw(select.build(backend)).await.unwrap();
        assert_eq!(referral::Model::from_columns(&rows[0], 0, columns).unwrap(), whole);

        let partner_id = whole.partner_id.unwrap();
        let whole = partner::Entity::find_by_id(partner_id).one(db).await.unwrap().unwrap();
        let columns = Columns::<partner::Column>::all();
        let select = partner::Entity::select_none().columns(columns.iter()).filter(partner::Column::Id.eq(partner_id));
        let rows = db.query_all_raw(select.build(backend)).await.unwrap();
        assert_eq!(partner::Model::from_columns(&rows[0], 0, columns).unwrap(), whole);
    }

    let bogus = sea_orm::Statement::from_string(backend, "UPDATE referral SET direction = 'SIDEWAYS'");
    db.execute_raw(bogus).await.unwrap();
    let columns = Columns::<referral::Column>::all();
    let rows = db.query_all_raw(referral::Entity::select_none().columns(columns.iter()).build(backend)).await.unwrap();
    let err = referral::Model::from_columns(&rows[0], 0, columns).unwrap_err();
    assert!(err.to_string().contains("SIDEWAYS"), "{err}");
}
