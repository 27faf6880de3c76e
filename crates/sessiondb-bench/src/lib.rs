//! Library side of `sessiondb-bench`: the WebSocket echo floor, so that the `sessiondb-echo`
//! binary and its tests serve with the same code. The load generator itself is the
//! `sessiondb-bench` binary (`src/main.rs`).

pub mod echo;
