//! The black-box tests: each module starts a real server (`common::spawn_app`)
//! on a random port over a fresh database — SQLite by default, PostgreSQL when
//! `TEST_DATABASE_URL` is set — and talks to it over HTTP and WebSocket as a
//! client would. One test binary (as zero-to-production does), so `common` is
//! compiled and linked once.

mod common;

mod assigned;
mod auth;
mod billing;
mod conflicts;
mod delivery;
mod demo;
mod edge;
mod events;
mod http;
mod imports;
mod intake;
mod jobs;
mod partners;
mod payloads;
mod plans;
mod rankings;
mod reads;
mod referrals;
mod schema;
mod subscriptions;
