//! `referral-hub demo-data`: a vendor's last hundred days, played through
//! the same services the API uses, so a new user finds every feature
//! populated: two programs (per referral in USD, commission in EUR), a dozen
//! partners across every status, three linked partner organizations,
//! referrals with every outcome (sold, no sale, invalid, in progress,
//! overdue), recurring commissions, rewards in every status, invoices in
//! every state, timeline notes, a webhook endpoint and a ranking snapshot.
//!
//! The story runs on a clock of its own that starts 100 days ago and moves
//! forward as things happen, so every record has a believable date.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use entity::{
    ContactChannel, InvoiceStatus, JobTrigger, NoteVisibility, OrganizationKind, PartnerStatus, ReferralOutcome,
    ReferralSource, ReferralStatus as S, RewardModel, Role, invoice, organization, user,
};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set, TransactionTrait};

use crate::auth::Principal;
use crate::clock::ManualClock;
use crate::context::Ctx;
use crate::domain::invoice_status::InvoiceEvent;
use crate::domain::partner_status::PartnerEvent;
use crate::error::AppResult;
use crate::jobs::{self, JobName};
use crate::service::audit::Actor;
use crate::service::outcomes::OutcomeRequest;
use crate::service::programs::ProgramSettings;
use crate::service::referrals::{Lead, NewReferral, StatusRequest};
use crate::service::{
    assigned, billing, notes, organizations, outcomes, partner_contacts, partners, programs, referrals, tasks, webhooks,
};

/// What was created, for the CLI to print.
#[derive(Debug)]
pub struct Demo {
    pub vendor_org_id: i64,
    pub partner_org_id: i64,
    pub program_id: i64,
    pub partners: usize,
}

/// The people of the story and the clock they act on.
struct Cast {
    ctx: Ctx,
    clock: ManualClock,
    vendor: Principal,
    admin: Principal,
    /// PARTNER users of GreenHome Realty, BrightPath Energy and Metro Facility.
    partners: [Principal; 3],
    vendor_org: organization::Model,
}

impl Cast {
    fn advance_to(&self, days_ago: i64, now: DateTime<Utc>) {
        self.clock.set(now - Duration::days(days_ago));
    }

    async fn job(&self, job: JobName) -> AppResult<()> {
        let as_of = self.ctx.now();
        jobs::run(&self.ctx, job, jobs::manual_slot(), JobTrigger::Manual, as_of, None).await?;
        Ok(())
    }
}

async fn person(
    ctx: &Ctx,
    org: Option<&organization::Model>,
    subject: &str,
    role: Role,
    name: &str,
) -> AppResult<Principal> {
    let now = ctx.now();
    let u = user::ActiveModel {
        organization_id: Set(org.map(|o| o.id)),
        subject: Set(subject.into()),
        role: Set(role),
        name: Set(Some(name.into())),
        email: Set(Some(format!("{subject}@demo.example"))),
        created_at: Set(now),
        last_seen_at: Set(now),
        ..Default::default()
    }
    .insert(&ctx.db)
    .await?;
    Ok(Principal {
        user_id: u.id,
        org_id: org.map(|o| o.id),
        org_kind: org.map(|o| o.kind),
        role,
        name: u.name,
        expires_at: None,
    })
}

async fn cast(ctx: &Ctx, start: DateTime<Utc>) -> AppResult<Cast> {
    let clock = ManualClock::new(start);
    let ctx = Ctx { clock: Arc::new(clock.clone()), ..ctx.clone() };
    let vendor_org =
        organizations::create_unchecked(&ctx, "Sunrise Solar Installers", OrganizationKind::Vendor).await?;
    let mut partner_users = Vec::new();
    for (org, subject, name) in [
        ("GreenHome Realty", "demo-partner", "Gwen Green"),
        ("BrightPath Energy Consultants", "brightpath", "Bo Bright"),
        ("Metro Facility Managers", "metro", "Mia Metro"),
    ] {
        let org = organizations::create_unchecked(&ctx, org, OrganizationKind::Partner).await?;
        partner_users.push(person(&ctx, Some(&org), subject, Role::Partner, name).await?);
    }
    let vendor = person(&ctx, Some(&vendor_org), "demo-vendor", Role::Vendor, "Dana Vendor").await?;
    let admin = person(&ctx, None, "demo-admin", Role::Admin, "Operator").await?;
    let partners: [Principal; 3] = partner_users.try_into().expect("three partner users");
    Ok(Cast { ctx, clock, vendor, admin, partners, vendor_org })
}

/// Program 1's partners: (name, starting status, lifecycle events, days
/// since the last lead, linked to the partner user at this index).
type PartnerPlan = (&'static str, PartnerStatus, &'static [PartnerEvent], Option<i64>, Option<usize>);

const HOMEOWNER_PARTNERS: [PartnerPlan; 12] = {
    use PartnerEvent as E;
    [
        ("Oak Street Realty", PartnerStatus::Prospect, &[], None, None),
        ("Blue Roof Inspections", PartnerStatus::Prospect, &[E::SendTerms], None, None),
        ("Harbor Mortgage", PartnerStatus::Prospect, &[E::SendTerms], None, None),
        ("Cedar Electricians", PartnerStatus::Prospect, &[E::SendTerms, E::TermsSigned], None, None),
        ("Maple HVAC", PartnerStatus::Live, &[], None, None),
        ("GreenHome Realty", PartnerStatus::Live, &[], None, Some(0)),
        ("Summit Roofing", PartnerStatus::Live, &[], Some(12), None),
        ("Lakeside Builders", PartnerStatus::Live, &[], Some(27), None),
        ("Pine Energy Advisors", PartnerStatus::Live, &[], Some(45), None),
        ("Riverside Home Services", PartnerStatus::Live, &[], Some(60), None),
        ("Old Mill Contractors", PartnerStatus::Live, &[E::End], None, None),
        ("Granite Plumbing", PartnerStatus::Live, &[E::Archive], None, None),
    ]
};

const COMMERCIAL_PARTNERS: [PartnerPlan; 3] = [
    ("GreenHome Realty (commercial)", PartnerStatus::Live, &[], None, Some(0)),
    ("BrightPath Energy Consultants", PartnerStatus::Live, &[], None, Some(1)),
    ("Metro Facility Managers", PartnerStatus::Live, &[], None, Some(2)),
];

/// Creates a program's partners; returns their ids in plan order.
async fn partnerships(c: &Cast, program: i64, plan: &[PartnerPlan], now: DateTime<Utc>) -> AppResult<Vec<i64>> {
    let mut ids = Vec::new();
    for (i, (name, status, events, lead_days_ago, linked)) in plan.iter().enumerate() {
        let input = partners::NewPartner {
            program_id: program,
            name: (*name).into(),
            contact_name: Some(format!("Contact {}", i + 1)),
            contact_email: Some(format!("partner{}.{program}@demo.example", i + 1)),
            status: Some(*status),
            stage_editor: None,
        };
        let p = partners::create(&c.ctx, &c.vendor, input).await?;
        if let Some(days) = lead_days_ago {
            let tx = c.ctx.db.begin().await?;
            let actor = Actor::person(&c.vendor, entity::ChangeSource::Manual);
            partners::lead_received(&tx, p.id, actor, now - Duration::days(*days)).await?;
            tx.commit().await?;
        }
        for event in *events {
            let reason = (*event == PartnerEvent::Archive).then_some("Duplicate of another partner record");
            partners::apply_event(&c.ctx, &c.vendor, p.id, *event, None, reason).await?;
        }
        if let Some(user) = linked {
            partners::accept_invite(&c.ctx, &c.partners[*user], &p.invite_code).await?;
        }
        if i % 3 == 0 {
            partner_contacts::log(&c.ctx, &c.vendor, p.id, ContactChannel::Phone, "Intro call about the program", None)
                .await?;
            let due = c.ctx.now() + Duration::days(90 + i as i64);
            tasks::create(&c.ctx, &c.vendor, p.id, "Follow up on the intro call", due, None).await?;
        }
        ids.push(p.id);
    }
    Ok(ids)
}

/// A lead submitted by `by` through partnership `partner`.
async fn lead(c: &Cast, by: &Principal, partner: i64, name: &str, external: Option<&str>) -> AppResult<i64> {
    // Each lead its own company: a shared domain would flag the leads of
    // different partners as conflicts (§4) and hold their money back.
    let slug = name.to_lowercase().replace(' ', "-");
    let email = format!("contact@{slug}.example");
    let input = NewReferral {
        partner_id: Some(partner),
        program_id: None,
        lead: Lead { name: Some(name.into()), email: Some(email), company: None, ..Lead::default() },
        external_id: external.map(str::to_owned),
        source: ReferralSource::Manual,
    };
    Ok(referrals::submit(&c.ctx, by, input).await?.id)
}

async fn status(c: &Cast, id: i64, to: S, note: Option<&str>) -> AppResult<()> {
    let req = StatusRequest { status: Some(to), note: note.map(str::to_owned), ..StatusRequest::default() };
    referrals::set_status(&c.ctx, &c.vendor, id, req).await?;
    Ok(())
}

async fn outcome(c: &Cast, id: i64, req: OutcomeRequest) -> AppResult<()> {
    outcomes::report(&c.ctx, &c.vendor, id, req).await?;
    Ok(())
}

async fn note(c: &Cast, by: &Principal, id: i64, body: &str, visibility: NoteVisibility) -> AppResult<()> {
    notes::add(&c.ctx, by, id, body, visibility).await?;
    Ok(())
}

/// The vendor's newest invoice in `currency` and `status` (OPEN: the one a
/// billing run just issued).
async fn newest_invoice(c: &Cast, currency: &str, status: InvoiceStatus) -> AppResult<Option<invoice::Model>> {
    Ok(invoice::Entity::find()
        .filter(invoice::Column::VendorOrgId.eq(c.vendor_org.id))
        .filter(invoice::Column::Currency.eq(currency))
        .filter(invoice::Column::Status.eq(status))
        .order_by_desc(invoice::Column::Id)
        .one(&c.ctx.db)
        .await?)
}

/// Bills the balances over the threshold and moves the new `currency`
/// invoice by `event` (ADMIN, as the payment gateway would).
async fn bill_and(c: &Cast, currency: &str, event: Option<(InvoiceEvent, &str)>) -> AppResult<()> {
    c.job(JobName::BillThreshold).await?;
    if let (Some((event, note)), Some(inv)) = (event, newest_invoice(c, currency, InvoiceStatus::Open).await?) {
        billing::transition(&c.ctx, &c.admin, inv.id, event, Some(note.into())).await?;
    }
    Ok(())
}

/// The vendor's OPEN `currency` invoice, paid.
async fn pay_open(c: &Cast, currency: &str, reference: &str) -> AppResult<()> {
    if let Some(inv) = newest_invoice(c, currency, InvoiceStatus::Open).await? {
        billing::transition(&c.ctx, &c.admin, inv.id, InvoiceEvent::Pay, Some(reference.into())).await?;
    }
    Ok(())
}

/// The vendor's FAILED `currency` invoice, collected again: reopened, then paid.
async fn retry_and_pay(c: &Cast, currency: &str, reference: &str) -> AppResult<()> {
    if let Some(inv) = newest_invoice(c, currency, InvoiceStatus::Failed).await? {
        billing::transition(&c.ctx, &c.admin, inv.id, InvoiceEvent::Retry, None).await?;
        billing::transition(&c.ctx, &c.admin, inv.id, InvoiceEvent::Pay, Some(reference.into())).await?;
    }
    Ok(())
}

pub async fn load(ctx: &Ctx) -> AppResult<Demo> {
    let now = ctx.now();
    let c = cast(ctx, now - Duration::days(100)).await?;
    let homeowner = programs::create(
        &c.ctx,
        &c.vendor,
        None,
        ProgramSettings {
            name: Some("Homeowner referrals".into()),
            reward_model: Some(RewardModel::Flat),
            reward_amount_minor: Some(25_000),
            reward_trigger: Some(S::Pending),
            ..ProgramSettings::default()
        },
    )
    .await?;
    let commercial = programs::create(
        &c.ctx,
        &c.vendor,
        None,
        ProgramSettings {
            name: Some("Commercial installs".into()),
            currency: Some("EUR".into()),
            reward_model: Some(RewardModel::Commission),
            reward_basis_points: Some(1_000),
            reward_trigger: Some(S::Approved),
            report_back_days: Some(14),
            value_added_services: Some(vec!["Monitoring".into(), "Battery storage".into(), "Maintenance plan".into()]),
            active_usage_url: Some("https://dashboard.sunrise-solar.example/active-usage".into()),
            ..ProgramSettings::default()
        },
    )
    .await?;
    let home = partnerships(&c, homeowner.id, &HOMEOWNER_PARTNERS, now).await?;
    let trade = partnerships(&c, commercial.id, &COMMERCIAL_PARTNERS, now).await?;
    // Invoices when a balance reaches 600.00 (any currency).
    billing::set_threshold(&c.ctx, &c.admin, c.vendor_org.id, Some(60_000)).await?;
    webhook(&c).await?;

    story(&c, &home, &trade, commercial.id, now).await?;
    // A customer waiting in the vendor's pool.
    c.clock.set(now - Duration::hours(3));
    assigned_referral(&c, commercial.id, "Adventure Works", false).await?;

    // Today: the report backs still owed are overdue, partners without a
    // recent lead lapse, and the rankings are taken.
    c.clock.set(now);
    c.job(JobName::ReportBackOverdue).await?;
    c.job(JobName::LapsePartners).await?;
    c.job(JobName::Rank).await?;
    Ok(Demo {
        vendor_org_id: c.vendor_org.id,
        partner_org_id: c.partners[0].org_id.unwrap_or_default(),
        program_id: homeowner.id,
        partners: HOMEOWNER_PARTNERS.len() + COMMERCIAL_PARTNERS.len(),
    })
}

/// A registered endpoint, off until the vendor points it at a real receiver.
async fn webhook(c: &Cast) -> AppResult<()> {
    let endpoint = webhooks::create(&c.ctx, &c.vendor, "https://hooks.sunrise-solar.example/referral-hub").await?;
    webhooks::set_active(&c.ctx, &c.vendor, endpoint.id, false).await?;
    Ok(())
}

/// The hundred days, in order. Homeowner referrals earn 250.00 USD each as
/// they arrive and are billed five times: paid, failed and collected on
/// the second attempt, voided (and billed again), open, and failed 12 days
/// ago; one denied after it was paid is clawed back. Commercial installs
/// earn 10 % of the sale in EUR once sold (invoiced, paid by wire), and owe
/// a report back within 14 days: sold, sold and recurring, no sale,
/// invalid, in progress, and one overdue. Sunrise stays within the intake
/// policy's limits, close to the overdue one.
async fn story(c: &Cast, home: &[i64], trade: &[i64], commercial: i64, now: DateTime<Utc>) -> AppResult<()> {
    let [greenhome, brightpath, metro] = &c.partners;
    let (gh, summit, lakeside) = (home[5], home[6], home[7]);
    let report = |outcome: ReferralOutcome, text: &str| OutcomeRequest {
        note: Some(text.into()),
        ..OutcomeRequest::new(outcome)
    };
    c.advance_to(90, now);
    let morgan = lead(c, greenhome, gh, "Morgan Lee", Some("CRM-1001")).await?;
    let priya = lead(c, greenhome, gh, "Priya Shah", Some("CRM-1002")).await?;
    let ana = lead(c, &c.vendor, summit, "Ana Souza", Some("CRM-1003")).await?;
    status(c, priya, S::Qualified, None).await?;
    referrals::set_stage(&c.ctx, &c.vendor, priya, "Demo", Some("Site visit booked for Tuesday"), None).await?;
    note(c, greenhome, priya, "They also asked about battery storage.", NoteVisibility::Shared).await?;
    note(c, &c.vendor, priya, "Large roof, south facing: a good fit.", NoteVisibility::Internal).await?;
    c.advance_to(80, now);
    bill_and(c, "USD", Some((InvoiceEvent::Pay, "ch_demo_1001"))).await?;
    c.advance_to(70, now);
    let depot = lead(c, brightpath, trade[1], "Northside Logistics Depot", Some("OPP-2001")).await?;
    let school = lead(c, metro, trade[2], "Westfield School District", Some("OPP-2002")).await?;
    let mall = lead(c, greenhome, trade[0], "Harborview Mall", Some("OPP-2003")).await?;
    c.advance_to(65, now);
    let tom = lead(c, greenhome, gh, "Tom Becker", None).await?;
    status(c, tom, S::RequiresInfo, Some("Please add a phone number")).await?;
    lead(c, &c.vendor, lakeside, "Sam Ortiz", None).await?;
    lead(c, greenhome, gh, "Lena Fischer", None).await?;
    status(c, ana, S::Approved, Some("Contract signed")).await?;
    referrals::set_stage(&c.ctx, &c.vendor, ana, "Closed won", None, None).await?;
    c.advance_to(60, now);
    bill_and(c, "USD", Some((InvoiceEvent::Fail, "card declined"))).await?;
    c.advance_to(58, now);
    // Collected on the second attempt: an invoice left unpaid would pause
    // Sunrise's intake under the network's policy (30 days).
    retry_and_pay(c, "USD", "ch_demo_1002").await?;
    let sold = |amount: i64, text: &str| OutcomeRequest {
        sale_amount_minor: Some(amount),
        ..report(ReferralOutcome::Sold, text)
    };
    outcome(c, depot, sold(4_200_000, "Signed: 180 kWp rooftop array")).await?;
    outcome(c, school, sold(2_650_000, "Signed, with a maintenance contract")).await?;
    referrals::mark_recurring(&c.ctx, &c.vendor, school, true).await?;
    outcome(c, mall, report(ReferralOutcome::NoSale, "They postponed the project to next year")).await?;
    c.advance_to(45, now);
    lead(c, greenhome, gh, "Raj Patel", None).await?;
    lead(c, &c.vendor, summit, "Eva Novak", None).await?;
    // Denied before it was billed: its reward is void.
    let test = lead(c, &c.vendor, lakeside, "Test Test", None).await?;
    status(c, test, S::Denied, Some("Not a real lead")).await?;
    lead(c, greenhome, gh, "Kim Young", None).await?;
    referrals::record_recurring_invoice(&c.ctx, &c.vendor, school, "MAINT-2026-09", 120_000).await?;
    let reseller = lead(c, metro, trade[2], "Cheap Solar Leads Ltd", None).await?;
    let invalid = OutcomeRequest {
        invalid_reason: Some(entity::InvalidReason::Spam),
        ..report(ReferralOutcome::NoSale, "A lead reseller, not a customer")
    };
    outcome(c, reseller, invalid).await?;
    c.advance_to(40, now);
    // Voided: its rewards are earned again and billed on the next run.
    bill_and(c, "USD", Some((InvoiceEvent::Void, "billed with the wrong terms"))).await?;
    c.advance_to(32, now);
    pay_open(c, "EUR", "wire-2026-10-31").await?;
    c.advance_to(30, now);
    referrals::record_recurring_invoice(&c.ctx, &c.vendor, school, "MAINT-2026-10", 120_000).await?;
    c.advance_to(24, now);
    // Owed a report back for 24 days, due 14 days after it came in: overdue
    // by 10 days today. The intake policy warns Sunrise tomorrow and pauses
    // its intake 4 days later unless it reports back.
    lead(c, brightpath, trade[1], "Eastgate Cold Storage", Some("OPP-2004")).await?;
    c.advance_to(20, now);
    let jo = lead(c, greenhome, gh, "Jo Kramer", None).await?;
    status(c, jo, S::Qualified, None).await?;
    bill_and(c, "USD", None).await?;
    let hospital = lead(c, greenhome, trade[0], "St. Mary's Hospital", Some("OPP-2005")).await?;
    hand_offs(c, commercial, now).await?;
    c.advance_to(18, now);
    lead(c, greenhome, gh, "Lia Gomez", None).await?;
    lead(c, greenhome, gh, "Omar Haddad", None).await?;
    lead(c, greenhome, gh, "Ivy Chen", None).await?;
    c.advance_to(12, now);
    // Failed 12 days ago, within the policy's 30 days: not yet a cause.
    bill_and(c, "USD", Some((InvoiceEvent::Fail, "card declined"))).await?;
    c.job(JobName::ReassignExpired).await?; // Wingtip was not accepted in 7 days: the next partner
    c.advance_to(10, now);
    outcome(c, hospital, report(ReferralOutcome::InProgress, "Their board decides next month")).await?;
    c.advance_to(4, now);
    c.job(JobName::ReassignExpired).await?; // … nor by the next: the third partner has it now
    c.advance_to(5, now);
    // Paid out with the first invoice, then found to be a duplicate: clawed back.
    status(c, morgan, S::Denied, Some("Duplicate of an existing customer")).await?;
    c.advance_to(2, now);
    lead(c, greenhome, gh, "Noah Berg", None).await?; // earned, not billed yet
    c.advance_to(1, now);
    assigned_referral(c, commercial, "Northwind Traders", true).await?; // pending
    Ok(())
}

/// An assigned referral of the commercial program with a profile and two
/// contacts; offered by the rule at once when `assign`.
async fn assigned_referral(c: &Cast, program: i64, name: &str, assign: bool) -> AppResult<i64> {
    let slug = name.to_lowercase().replace(' ', "");
    let input = assigned::NewAssigned {
        program_id: program,
        tenant_name: name.into(),
        tenant_id: Some(format!("TEN-{}", &slug[..slug.len().min(6)].to_uppercase())),
        tenant_source: entity::TenantSource::Marketplace,
        external_id: None,
        profile: assigned::Profile {
            country: Some("DE".into()),
            company_size: Some("250-999".into()),
            industry: Some("Logistics".into()),
            need: Some("Rooftop solar with monitoring for three warehouses".into()),
        },
        contacts: vec![
            assigned::NewContact {
                name: "Jordan Facility".into(),
                email: Some(format!("jordan@{slug}.example")),
                phone: Some("+49 30 555 0100".into()),
                job_title: Some("Facility manager".into()),
            },
            assigned::NewContact {
                name: "Sam Finance".into(),
                email: Some(format!("sam@{slug}.example")),
                phone: None,
                job_title: Some("CFO".into()),
            },
        ],
        assign_now: assign,
    };
    Ok(assigned::create(&c.ctx, &c.vendor, input).await?.id)
}

/// The partner user holding the live offer of a referral.
async fn holder_of(c: &Cast, referral: i64) -> AppResult<(&Principal, i64)> {
    let offer = assigned::live_offer(&c.ctx.db, referral)
        .await?
        .ok_or_else(|| crate::error::AppError::Internal("the demo's referral has no offer".into()))?;
    let holder = c
        .partners
        .iter()
        .find(|p| p.org_id == Some(offer.partner_org_id))
        .ok_or_else(|| crate::error::AppError::Internal("the demo's offer went to an unknown partner".into()))?;
    Ok((holder, offer.id))
}

/// Hand-offs in every acceptance state (PRODUCT.md §7), from 20 days ago:
/// accepted and worked, declined (and offered again), withdrawn, and one
/// the partners let expire (the sweeps later in the story pass it on).
async fn hand_offs(c: &Cast, program: i64, now: DateTime<Utc>) -> AppResult<()> {
    use crate::service::assigned::offers::{self, OfferUpdate, Response};
    let answer = |accept: bool| Response {
        accept,
        decline_reason: (!accept).then_some(entity::DeclineReason::Budget),
        decline_comment: None,
        note: None,
        expected_version: None,
    };
    c.advance_to(20, now);
    let contoso = assigned_referral(c, program, "Contoso Retail", true).await?;
    let fabrikam = assigned_referral(c, program, "Fabrikam Foods", true).await?;
    let tailspin = assigned_referral(c, program, "Tailspin Toys", true).await?;
    assigned_referral(c, program, "Wingtip Logistics", true).await?;
    c.advance_to(19, now);
    let (holder, offer) = holder_of(c, contoso).await?;
    offers::respond(&c.ctx, holder, offer, answer(true)).await?;
    let work = OfferUpdate {
        stage: Some("Demo".into()),
        services_sold: Some(vec!["Monitoring".into()]),
        estimated_value_minor: Some(1_200_000),
        note: Some("Site survey booked for Thursday".into()),
        expected_version: None,
    };
    offers::update(&c.ctx, holder, offer, work).await?;
    assigned::record_active_usage(&c.ctx, &c.vendor, contoso, 42.5, Some(c.ctx.now() - Duration::hours(6))).await?;
    c.advance_to(18, now);
    // Declined: offered to the next partner at once.
    let (holder, offer) = holder_of(c, fabrikam).await?;
    offers::respond(&c.ctx, holder, offer, answer(false)).await?;
    c.advance_to(15, now);
    let (_, offer) = holder_of(c, tailspin).await?;
    offers::withdraw(&c.ctx, &c.vendor, offer, "The customer asked us to wait until spring").await?;
    Ok(())
}
