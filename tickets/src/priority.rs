//! Priority matrix (being written).
