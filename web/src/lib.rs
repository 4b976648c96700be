//! guichet-web (skeleton)
