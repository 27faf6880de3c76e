//! Async sessiondb client.
