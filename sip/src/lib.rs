//! guichet-sip (skeleton)
