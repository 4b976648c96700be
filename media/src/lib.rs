//! guichet-media
pub mod g711;
