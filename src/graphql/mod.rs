//! The GraphQL API: schema assembly, object types, inputs and DataLoaders.
//! Resolvers are a few lines that call `service`; the API is designed, not a
//! dump of tables, so no entity derives a GraphQL type.

pub mod armor;
mod assigned;
mod at_once;
mod billing;
mod connection;
mod enums;
mod ids;
mod imports;
mod intake;
mod jobs;
mod loaders;
mod node;
mod notification;
pub mod observe;
mod organization;
mod partner;
mod program;
mod query;
mod rankings;
mod reads;
mod referral;
mod scalars;

/// The lists' filters, which the CSV exports read from their query strings.
pub use assigned::AssignedReferralFilter as AssignedReferralFilterInput;
pub use referral::ReferralFilter as ReferralFilterInput;
mod subscription;
mod viewer;
mod webhook;

use std::sync::Arc;

use async_graphql::{Context, MergedObject, Schema};

use crate::auth::Principal;
use crate::context::Ctx;
use crate::error::{AppError, AppResult};
use crate::events::Hub;
use crate::ratelimit::LinkLimits;

pub use armor::Limits;
pub use at_once::Prewritten;
pub use connection::PageInfo;
pub use scalars::MinorUnits;

#[derive(MergedObject, Default)]
pub struct Query(
    viewer::ViewerQuery,
    node::NodeQuery,
    organization::OrganizationQuery,
    intake::IntakeQuery,
    program::ProgramQuery,
    partner::PartnerQuery,
    referral::ReferralQuery,
    imports::ImportQuery,
    jobs::JobQuery,
    notification::NotificationQuery,
    webhook::WebhookQuery,
    billing::BillingQuery,
    rankings::RankingQuery,
    assigned::AssignedQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    organization::OrganizationMutation,
    intake::IntakeMutation,
    program::ProgramMutation,
    partner::PartnerMutation,
    referral::ReferralMutation,
    imports::ImportMutation,
    jobs::JobMutation,
    webhook::WebhookMutation,
    billing::BillingMutation,
    assigned::AssignedMutation,
    notification::NotificationMutation,
);

pub type AppSchema = Schema<Query, Mutation, subscription::SubscriptionRoot>;

/// The `Idempotency-Key` header of one request, if any.
#[derive(Debug, Clone)]
pub struct IdempotencyHeader(pub Option<String>);

/// The caller of one request, put into the request's data by the HTTP layer.
#[derive(Debug, Clone)]
pub struct Caller(pub Option<Arc<Principal>>);

/// The schema behind its gate: every request, over HTTP or a WebSocket,
/// passes the request limits before it runs.
#[derive(Clone)]
pub struct Api {
    schema: AppSchema,
    gate: Arc<armor::Gate>,
    ctx: Ctx,
    /// The one loader of every subscription: it caches nothing, so sharing
    /// it only batches the loads of subscribers that receive the same
    /// event, and an idle subscriber holds no loader of its own.
    subscriptions: Arc<loaders::Loaders>,
}

impl Api {
    /// Runs a query or mutation, with a loader of its own.
    pub async fn execute(&self, request: async_graphql::Request) -> async_graphql::Response {
        let loaders = |request: async_graphql::Request, kind: observe::OperationKind| {
            request.data(Arc::new(loaders::for_request(&self.ctx, kind.is_query())))
        };
        self.gate.execute(&self.schema, request, loaders).await
    }

    /// Runs a subscription with its socket's data (`session`).
    pub fn execute_stream(
        &self,
        request: async_graphql::Request,
        session: Arc<async_graphql::Data>,
    ) -> futures_util::stream::BoxStream<'static, async_graphql::Response> {
        self.gate.execute_stream(&self.schema, request, session)
    }

    /// What every subscription of one socket shares (async-graphql's
    /// session data), so an idle subscription holds none of it: the caller,
    /// its address, and the subscriptions' one loader.
    pub fn socket_data(&self, caller: Option<Principal>, ip: Option<std::net::IpAddr>) -> Arc<async_graphql::Data> {
        let mut data = async_graphql::Data::default();
        data.insert(Caller(caller.map(Arc::new)));
        data.insert(crate::ratelimit::ClientIp(ip));
        data.insert(self.subscriptions.clone());
        Arc::new(data)
    }
}

/// Builds the schema and its gate. Depth, aliases, directives and the size
/// of the text are `armor`'s; complexity is async-graphql's, with list costs
/// declared on the list fields. Without introspection (production) there
/// are no "Did you mean …" suggestions either: they would spell out the
/// schema. No engine extensions either: the limits wrap the engine, and a
/// list answered at once (`at_once`) calls no hook around its fields.
pub fn build_api(ctx: Ctx, introspection: bool, limits: Limits, link_limits: LinkLimits, hub: Hub) -> Api {
    let mut builder = Schema::build(Query::default(), Mutation::default(), subscription::SubscriptionRoot)
        .data(hub)
        .data(link_limits)
        // Shared: a subscription keeps it for its life.
        .data(Arc::new(ctx.clone()))
        .limit_complexity(limits.max_complexity);
    if !introspection {
        builder = builder.disable_introspection().disable_suggestions();
    }
    let subscriptions = Arc::new(loaders::for_request(&ctx, false));
    Api { schema: builder.finish(), gate: Arc::new(armor::Gate::new(limits)), ctx, subscriptions }
}

/// The SDL printed by `referral-hub schema` and kept in `schema.graphql`.
pub fn sdl() -> String {
    Schema::build(Query::default(), Mutation::default(), subscription::SubscriptionRoot).finish().sdl()
}

/// The service context.
pub(crate) fn svc<'a>(ctx: &'a Context<'_>) -> &'a Ctx {
    ctx.data_unchecked::<Arc<Ctx>>()
}

/// The authenticated caller, or UNAUTHENTICATED for an anonymous request.
pub(crate) fn principal<'a>(ctx: &'a Context<'_>) -> AppResult<&'a Principal> {
    ctx.data_opt::<Caller>()
        .and_then(|c| c.0.as_deref())
        .ok_or_else(|| AppError::Unauthenticated("this operation needs a bearer token".into()))
}

/// The caller, shared (a subscription keeps it for its life).
pub(crate) fn shared_principal(ctx: &Context<'_>) -> AppResult<Arc<Principal>> {
    ctx.data_opt::<Caller>()
        .and_then(|c| c.0.clone())
        .ok_or_else(|| AppError::Unauthenticated("this operation needs a bearer token".into()))
}

pub(crate) fn loader<'a>(ctx: &'a Context<'_>) -> &'a loaders::Loaders {
    ctx.data_unchecked::<Arc<loaders::Loaders>>()
}

/// A field's database work, in an allocation of its own. async-graphql
/// boxes one future per selected field of every object it resolves, each as
/// large as the type's largest field future, and moves it into place: while
/// `Referral`'s loader and service fields awaited inline, each of its
/// fields took 3 KB (a page of 50 referrals with six fields moved 900 KB).
/// The fields of listed types that go to the database run through this,
/// so that the plain ones stay small.
pub(crate) fn apart<F: std::future::Future>(work: F) -> std::pin::Pin<Box<F>> {
    Box::pin(work)
}
