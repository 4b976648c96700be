//! guichet-media (skeleton)
