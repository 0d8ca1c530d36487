//! SeaORM models for Referral Hub, one module per table.
//!
//! Status enums live here as `DeriveActiveEnum`s stored as short strings, so
//! the same column type works on SQLite and PostgreSQL. The pure state machines
//! in the server's `domain` module use these enums as plain values; nothing in
//! this crate knows about GraphQL.

pub mod active_usage;
pub mod delivery;
pub mod delivery_attempt;
pub mod enums;
pub mod idempotency_key;
pub mod import_batch;
pub mod import_row;
pub mod intake_policy;
pub mod intake_suspension;
pub mod invoice;
pub mod invoice_line;
pub mod job_run;
pub mod lead_conflict;
pub mod lead_identity;
pub mod note;
pub mod notification;
pub mod notification_read;
pub mod notification_read_mark;
pub mod organization;
pub mod partial;
pub mod partner;
pub mod partner_contact;
pub mod program;
pub mod ranking_row;
pub mod ranking_snapshot;
pub mod referral;
pub mod referral_assignment;
pub mod referral_contact;
pub mod reward;
pub mod status_change;
pub mod task;
pub mod user;
pub mod webhook_endpoint;

pub use enums::*;
