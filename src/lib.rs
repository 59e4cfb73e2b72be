//! juru — a WhatsApp bot runtime for sales teams.
//!
//! The path of one message: `server` (webhook) → `channel` (verify, parse into
//! `Event`) → `runtime` (durable inbox, per-chat lanes) → `router` (command or
//! conversation) → one store transaction → `runtime::outbox` → `channel` senders.
//! See `DESIGN.md` in the shared folder for the invariants.

pub mod channel;
pub mod chat;
pub mod clock;
pub mod commands;
pub mod config;
pub mod connectors;
pub mod crm;
pub mod export;
pub mod live;
pub mod phone;
pub mod router;
pub mod runtime;
pub mod sales;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod texts;
