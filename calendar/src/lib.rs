//! guichet-calendar (skeleton)
