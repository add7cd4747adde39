//! tillflow's engine, free of Python: sources, the normalizer, validation
//! rules and the demo shop. The `tillflow-py` crate binds it as `tillflow._native`.

pub mod airbyte;
pub mod demo;
pub mod durations;
pub mod error;
pub mod files;
pub mod http_server;
pub mod kernels;
pub mod logs;
pub mod normalize;
pub mod rules;
pub mod runtime;
pub mod secret;
pub mod singer;
pub mod sources;

pub use error::{CoreError, Result};
