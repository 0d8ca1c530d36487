//! Who is calling. Users are provisioned on their first request from the
//! token's claims, so an identity provider is all a deployment needs.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use entity::{OrganizationKind, Role, organization, user};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

use crate::auth::JwtKeys;
use crate::context::Ctx;
use crate::error::{AppError, AppResult};

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: i64,
    /// None only for an ADMIN whose token names no organization.
    pub org_id: Option<i64>,
    pub org_kind: Option<OrganizationKind>,
    pub role: Role,
    pub name: Option<String>,
    /// When the token ends (a WebSocket is closed then).
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Staff or analysts of a vendor organization.
    pub fn is_vendor_side(&self) -> bool {
        self.org_kind == Some(OrganizationKind::Vendor) && self.role != Role::Admin
    }

    /// Staff or analysts of a partner organization.
    pub fn is_partner_side(&self) -> bool {
        self.org_kind == Some(OrganizationKind::Partner) && self.role != Role::Admin
    }

    pub fn require(&self, roles: &[Role]) -> AppResult<()> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!("role {} may not do this", self.role.as_str())))
        }
    }

    /// The vendor organization of a VENDOR user, for the vendor's own tools
    /// (imports, webhooks, the update integration).
    pub fn vendor_org(&self, what: &str) -> AppResult<i64> {
        self.require(&[Role::Vendor])?;
        if !self.is_vendor_side() {
            return Err(AppError::Forbidden(format!("{what} belong to a vendor organization")));
        }
        self.org()
    }

    /// The caller's organization, for operations that need one.
    pub fn org(&self) -> AppResult<i64> {
        self.org_id.ok_or_else(|| AppError::Forbidden("this operation needs a token naming an organization".into()))
    }
}

fn parse_role(raw: &str) -> AppResult<Role> {
    Role::from_name(raw).ok_or_else(|| AppError::Unauthenticated(format!("invalid token: unknown role {raw}")))
}

/// Which organization kinds a role may belong to.
fn role_fits(role: Role, kind: OrganizationKind) -> bool {
    match role {
        Role::Vendor => kind == OrganizationKind::Vendor,
        Role::Partner => kind == OrganizationKind::Partner,
        Role::ReportViewer | Role::ExecutiveReportViewer => kind != OrganizationKind::Operator,
        Role::Admin => true,
    }
}

/// Callers resolved in the last `CACHE_SECONDS`: a request whose token was
/// seen lately costs no database round trip. The key is everything the
/// token says about the caller (subject, organization, role, name,
/// e-mail), so a token with another role or profile resolves afresh; what
/// is cached (the user's id, the organization's kind) never changes once
/// created. Bounded: when full, it starts again.
#[derive(Default)]
pub struct PrincipalCache {
    entries: Mutex<HashMap<CacheKey, (DateTime<Utc>, Resolved)>>,
}

/// How long a resolved caller is trusted: the user's `lastSeenAt` moves at
/// most this late, and nothing else it holds can change.
pub const CACHE_SECONDS: i64 = 60;
const CACHE_ENTRIES: usize = 10_000;

type CacheKey = (String, Option<i64>, Role, Option<String>, Option<String>);

#[derive(Debug, Clone)]
struct Resolved {
    user_id: i64,
    org_kind: Option<OrganizationKind>,
    name: Option<String>,
}

impl PrincipalCache {
    fn get(&self, key: &CacheKey, now: DateTime<Utc>) -> Option<Resolved> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(key).filter(|(at, _)| now - *at < Duration::seconds(CACHE_SECONDS)).map(|(_, r)| r.clone())
    }

    fn put(&self, key: CacheKey, now: DateTime<Utc>, resolved: Resolved) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CACHE_ENTRIES {
            entries.clear();
        }
        entries.insert(key, (now, resolved));
    }
}

/// Resolves the `Authorization` header: `None` for an anonymous request, an
/// error for a present but invalid token.
pub async fn authenticate(ctx: &Ctx, keys: &JwtKeys, header: Option<&str>) -> AppResult<Option<Principal>> {
    let Some(header) = header else { return Ok(None) };
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .ok_or_else(|| AppError::Unauthenticated("Authorization must be `Bearer <token>`".into()))?
        .trim();
    let now = ctx.now();
    let claims = keys.verify(token, now)?;
    let role = parse_role(&claims.role)?;
    let org_id = claims.org_id()?;
    // Claims become stored text: control characters (NUL above all, which
    // PostgreSQL cannot store) make the token invalid.
    let texts = [Some(claims.sub.as_str()), claims.name.as_deref(), claims.email.as_deref()];
    if texts.iter().flatten().any(|t| t.chars().any(char::is_control)) {
        return Err(AppError::Unauthenticated("invalid token: a claim contains control characters".into()));
    }
    let key = (claims.sub.clone(), org_id, role, claims.name.clone(), claims.email.clone());
    if let Some(hit) = ctx.principals.get(&key, now) {
        return Ok(Some(principal_of(hit, org_id, role, claims.exp)));
    }
    let org = match org_id {
        Some(id) => Some(
            organization::Entity::find_by_id(id)
                .one(&ctx.db)
                .await?
                .ok_or_else(|| AppError::Unauthenticated("invalid token: unknown organization".into()))?,
        ),
        None if role == Role::Admin => None,
        None => return Err(AppError::Unauthenticated("invalid token: claim `org` is required".into())),
    };
    if let Some(org) = &org
        && !role_fits(role, org.kind)
    {
        return Err(AppError::Unauthenticated("invalid token: role does not fit the organization".into()));
    }
    let user = provision(ctx, &claims.sub, org_id, role, claims.name.clone(), claims.email.clone()).await?;
    let resolved = Resolved { user_id: user.id, org_kind: org.map(|o| o.kind), name: user.name };
    ctx.principals.put(key, now, resolved.clone());
    Ok(Some(principal_of(resolved, org_id, role, claims.exp)))
}

fn principal_of(r: Resolved, org_id: Option<i64>, role: Role, exp: i64) -> Principal {
    Principal {
        user_id: r.user_id,
        org_id,
        org_kind: r.org_kind,
        role,
        name: r.name,
        expires_at: chrono::DateTime::from_timestamp(exp, 0),
    }
}

/// Finds or creates the user of a token, keeping its role and profile as the
/// token says. `last_seen_at` is refreshed at most every few minutes so that
/// reads do not turn into writes.
async fn provision(
    ctx: &Ctx,
    subject: &str,
    org_id: Option<i64>,
    role: Role,
    name: Option<String>,
    email: Option<String>,
) -> AppResult<user::Model> {
    let now = ctx.now();
    let find = || {
        let mut q = user::Entity::find().filter(user::Column::Subject.eq(subject));
        q = match org_id {
            Some(id) => q.filter(user::Column::OrganizationId.eq(id)),
            None => q.filter(user::Column::OrganizationId.is_null()),
        };
        q.one(&ctx.db)
    };
    if let Some(existing) = find().await? {
        let stale = now - existing.last_seen_at > Duration::minutes(5);
        let changed = existing.role != role
            || (name.is_some() && existing.name != name)
            || (email.is_some() && existing.email != email);
        if !stale && !changed {
            return Ok(existing);
        }
        let mut active: user::ActiveModel = existing.clone().into();
        active.role = Set(role);
        if name.is_some() {
            active.name = Set(name);
        }
        if email.is_some() {
            active.email = Set(email);
        }
        active.last_seen_at = Set(now);
        return Ok(active.update(&ctx.db).await?);
    }
    let created = user::ActiveModel {
        organization_id: Set(org_id),
        subject: Set(subject.to_owned()),
        role: Set(role),
        name: Set(name),
        email: Set(email),
        created_at: Set(now),
        last_seen_at: Set(now),
        ..Default::default()
    }
    .insert(&ctx.db)
    .await;
    match created {
        Ok(user) => Ok(user),
        // Two first requests raced; the other one created the row.
        Err(e) if AppError::is_unique_violation(&e) => find().await?.ok_or(AppError::Database(e)),
        Err(e) => Err(e.into()),
    }
}
