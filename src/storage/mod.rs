//! Storage adapters: D1 for users, DRF tokens and the atomic arbiters; KV for refresh-token records.

pub mod d1;
pub mod kv;
