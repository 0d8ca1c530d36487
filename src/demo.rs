//! `referral-hub demo-data`: a small realistic program so a new user sees
//! something at once — a vendor, a dozen partners across every status, a
//! contact log and tasks.

use chrono::Duration;
use entity::{ContactChannel, JobTrigger, OrganizationKind, PartnerStatus, Role, user};
use sea_orm::{ActiveModelTrait, Set, TransactionTrait};

use crate::auth::Principal;
use crate::domain::partner_status::PartnerEvent;
use crate::error::AppResult;
use crate::jobs::{self, JobName};
use crate::service::audit::Actor;
use crate::service::programs::ProgramSettings;
use crate::service::{Ctx, organizations, partner_contacts, partners, programs, tasks};

/// A few referrals through the partners that are ACTIVE now, in each status.
async fn referrals_for_demo(ctx: &Ctx, me: &Principal) -> AppResult<()> {
    use crate::service::referrals::{self, Lead, NewReferral, StatusRequest};
    use entity::{ReferralSource, ReferralStatus as S};
    let active = partners::list(
        ctx,
        me,
        &partners::PartnerFilter { statuses: Some(vec![PartnerStatus::Active]), ..Default::default() },
        partners::PartnerSortField::Name,
        false,
        &crate::service::page::PageRequest::new(Some(10), None)?,
    )
    .await?;
    let leads = [
        ("Morgan Lee", None, None),
        ("Priya Shah", Some(S::Qualified), Some("Demo")),
        ("Tom Becker", Some(S::RequiresInfo), None),
        ("Ana Souza", Some(S::Approved), Some("Closed won")),
        ("Sam Ortiz", Some(S::Denied), None),
    ];
    for (i, (name, status, stage)) in leads.into_iter().enumerate() {
        let (_, partner) = &active.items[i % active.items.len()];
        let input = NewReferral {
            partner_id: Some(partner.id),
            program_id: None,
            lead: Lead {
                name: Some(name.into()),
                email: Some(format!("{}@example.net", name.to_lowercase().replace(' ', "."))),
                ..Lead::default()
            },
            external_id: Some(format!("CRM-{}", 1000 + i)),
            source: ReferralSource::Manual,
        };
        let r = referrals::submit(ctx, me, input).await?;
        if let Some(status) = status {
            let note = (status == S::RequiresInfo).then(|| "Please add a phone number".to_owned());
            let req = StatusRequest { status: Some(status), note, ..StatusRequest::default() };
            referrals::set_status(ctx, me, r.id, req).await?;
        }
        if let Some(stage) = stage {
            referrals::set_stage(ctx, me, r.id, stage, None, None).await?;
        }
    }
    Ok(())
}

/// What was created, for the CLI to print.
#[derive(Debug)]
pub struct Demo {
    pub vendor_org_id: i64,
    pub partner_org_id: i64,
    pub program_id: i64,
    pub partners: usize,
}

pub async fn load(ctx: &Ctx) -> AppResult<Demo> {
    let vendor = organizations::create_unchecked(ctx, "Sunrise Solar Installers", OrganizationKind::Vendor).await?;
    let partner_org = organizations::create_unchecked(ctx, "GreenHome Realty", OrganizationKind::Partner).await?;
    let now = ctx.now();
    let staff = user::ActiveModel {
        organization_id: Set(Some(vendor.id)),
        subject: Set("demo-vendor".into()),
        role: Set(Role::Vendor),
        name: Set(Some("Dana Vendor".into())),
        email: Set(Some("dana@sunrise.example".into())),
        created_at: Set(now),
        last_seen_at: Set(now),
        ..Default::default()
    }
    .insert(&ctx.db)
    .await?;
    let me = Principal {
        user_id: staff.id,
        org_id: Some(vendor.id),
        org_kind: Some(OrganizationKind::Vendor),
        role: Role::Vendor,
        name: staff.name.clone(),
        expires_at: None,
    };
    let program = programs::create(
        ctx,
        &me,
        None,
        ProgramSettings {
            name: Some("Homeowner referrals".into()),
            reward_amount_minor: Some(25_000),
            ..ProgramSettings::default()
        },
    )
    .await?;

    use PartnerEvent as E;
    // (name, starting status, lifecycle events, days since last lead)
    let plan: [(&str, PartnerStatus, &[E], Option<i64>); 12] = [
        ("Oak Street Realty", PartnerStatus::Prospect, &[], None),
        ("Blue Roof Inspections", PartnerStatus::Prospect, &[E::SendTerms], None),
        ("Harbor Mortgage", PartnerStatus::Prospect, &[E::SendTerms], None),
        ("Cedar Electricians", PartnerStatus::Prospect, &[E::SendTerms, E::TermsSigned], None),
        ("Maple HVAC", PartnerStatus::Live, &[], None),
        ("GreenHome Realty", PartnerStatus::Live, &[], Some(3)),
        ("Summit Roofing", PartnerStatus::Live, &[], Some(12)),
        ("Lakeside Builders", PartnerStatus::Live, &[], Some(27)),
        ("Pine Energy Advisors", PartnerStatus::Live, &[], Some(45)),
        ("Riverside Home Services", PartnerStatus::Live, &[], Some(60)),
        ("Old Mill Contractors", PartnerStatus::Live, &[E::End], None),
        ("Granite Plumbing", PartnerStatus::Live, &[E::Archive], None),
    ];
    for (i, (name, status, events, lead_days_ago)) in plan.iter().enumerate() {
        let p = partners::create(
            ctx,
            &me,
            partners::NewPartner {
                program_id: program.id,
                name: (*name).into(),
                contact_name: Some(format!("Contact {}", i + 1)),
                contact_email: Some(format!("partner{}@example.com", i + 1)),
                status: Some(*status),
                stage_editor: None,
            },
        )
        .await?;
        if let Some(days) = lead_days_ago {
            let tx = ctx.db.begin().await?;
            partners::lead_received(
                &tx,
                p.id,
                Actor::person(&me, entity::ChangeSource::Manual),
                now - Duration::days(*days),
            )
            .await?;
            tx.commit().await?;
        }
        for event in *events {
            let reason = (*event == E::Archive).then_some("Duplicate of another partner record");
            partners::apply_event(ctx, &me, p.id, *event, None, reason).await?;
        }
        if i % 3 == 0 {
            partner_contacts::log(ctx, &me, p.id, ContactChannel::Phone, "Intro call about the referral program", None)
                .await?;
            tasks::create(ctx, &me, p.id, "Follow up on the intro call", now + Duration::days(i as i64 - 2), None)
                .await?;
        }
        if *name == "GreenHome Realty" {
            // Link the demo partner organization to this partnership.
            let mut m: entity::partner::ActiveModel = partners::get(ctx, &me, p.id).await?.into();
            m.partner_org_id = Set(Some(partner_org.id));
            m.update(&ctx.db).await?;
        }
    }
    // Partners whose last lead is older than the lapse period become LAPSED.
    jobs::run(ctx, JobName::LapsePartners, jobs::manual_slot(), JobTrigger::Manual, now, None).await?;
    referrals_for_demo(ctx, &me).await?;
    Ok(Demo { vendor_org_id: vendor.id, partner_org_id: partner_org.id, program_id: program.id, partners: plan.len() })
}
