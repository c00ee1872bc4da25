//! The database: pool, schema, seed data and the timed data-access layer.
//!
//! The SQL is portable between SQLite (the default, embedded) and PostgreSQL: it runs on
//! sqlx's `Any` driver, binds with `$N` placeholders (both backends accept them), keeps
//! times as integer Unix seconds and casts aggregates to `BIGINT` / `DOUBLE PRECISION`.
//!
//! Every query is a method of [`Db`] carrying `#[performance_timer("db.<query>")]`, so
//! `/performance` reports real query latencies.
//!
//! - `pool`: [`Db`] itself: connecting, the backend, the pool's figures.
//! - `schema`: the tables and indexes.
//! - `models`: the rows the queries return.
//! - `queries`: the timed queries.
//! - `seed`: the demonstration dataset, generated; `load`: writing it into an empty
//!   database.

mod load;
mod models;
mod pool;
mod queries;
mod schema;
mod seed;

pub use load::SeedReport;
pub use models::{Channel, ChannelTotals, HourlyViews, PostTotals, TimeSlot, User};
pub use pool::{Backend, Db};
pub(crate) use seed::random_hex;
