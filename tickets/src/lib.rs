//! guichet-tickets: where calls become accountable work.
//!
//! One job: persist and report everything the helpdesk is held to — the
//! call log, tickets (dossiers) with their lifecycle and audit trail, the
//! people directory, the event journal — on SQLite or PostgreSQL, and hold
//! the sans-IO SLA core and the priority matrix.
//!
//! Public API (persistence half):
//! - [`Store`]: `Store::open(url)` applies the embedded migrations; cheap to
//!   clone. Call log: [`Store::open_call`], [`Store::update_call`],
//!   [`Store::close_call`], [`Store::mark_in_flight_interrupted`],
//!   [`Store::caller_history`], [`Store::calls_between`],
//!   [`Store::calls_in_flight`]; [`call_log::CallLogWriter`] commits the switchboard's
//!   call-log writes in batches without making it wait.
//! - Tickets ([`ticket`]): [`Store::create_ticket`], [`Store::transition_ticket`],
//!   [`Store::assign_ticket`], notes, tasks, links to calls, parent/child,
//!   [`Store::close_resolved_tickets`], audit trail.
//! - Directory ([`directory`]): [`Store::import_directory_csv`],
//!   [`Store::lookup_caller`], [`directory::normalize_number`].
//! - Reports ([`reports`]): [`Store::report`] (day, week, month, quarter),
//!   [`reports::write_report_csv`], [`reports::write_report_xlsx`],
//!   [`Store::export_calls_csv`], [`Store::export_calls_xlsx`].
//! - Agents, live messages and callbacks ([`admin`]): [`Store::save_message`],
//!   [`Store::active_message`], [`Store::upsert_agent`], [`Store::create_callback`].
//! - Dashboards ([`dashboard`]): [`Store::dashboard`] (per time bucket, queue,
//!   agent; ticket counts), tables exported to CSV and XLSX.
//! - API tokens ([`api_tokens`]): hashed bearer tokens, created and revoked
//!   by admins ([`Store::create_api_token`], [`Store::live_api_token`]).
//! - Major incidents ([`incidents`]): [`Store::declare_incident`],
//!   [`Store::update_incident`], [`Store::incidents`], [`Store::incident_totals`].
//! - Journal and security log: [`Store::journal`], [`Store::log_security_event`].
//!
//! The SLA core (`sla`) and the priority matrix (`priority`) are sans-IO;
//! tickets store the SLA clock state they serialise ([`Store::save_sla_state`]).
//!
//! Instants are passed in (`now`) and stored as UTC epoch milliseconds.

pub mod admin;
pub mod api_tokens;
pub mod audio_files;
pub mod call_log;
pub mod call_quality;
pub mod calls;
pub mod dashboard;
pub mod desk;
pub mod directory;
pub mod incidents;
pub mod live;
pub mod priority;
pub mod refusals;
pub mod reports;
pub mod settings;
pub mod sla;
pub mod sla_changes;
pub mod sla_lease;
pub mod sla_live;
mod store;
mod text_enum;
pub mod ticket;

pub use calls::{CallEvent, CallOutcome, CallRecord, CallState, CallUpdate, FinishedCall, NewCall};
pub use store::{Backend, JournalEntry, SecurityEvent, Store, StoreError};
