//! guichet-tickets (skeleton; the store and the SLA core are being written).

pub mod priority;
pub mod sla;
