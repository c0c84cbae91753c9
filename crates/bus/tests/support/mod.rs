//! Shared support of the bus's integration tests: real nats-server processes.

#![allow(dead_code, unused_imports)]

pub mod nats_server;

pub use nats_server::{NatsCluster, NatsServer};
