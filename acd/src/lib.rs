//! guichet-acd (skeleton)
