//! Servers: I/O schedulers that drive the sans-IO sessions of [`crate::proto`].
//!
//! Every server receives an already bound socket and a [`crate::shutdown::Shutdown`]
//! handle; only the binary binds, so tests can hand in a socket of their own.

pub mod udp;
