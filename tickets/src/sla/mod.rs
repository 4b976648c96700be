//! SLA core (being written).
