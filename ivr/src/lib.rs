//! guichet-ivr (skeleton)
