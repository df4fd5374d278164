//! function-bench: measures each Lambda function's real, optimised binary
//! as Lambda runs it, against the local AWS emulator.
//!
//! The harness plays the Lambda service: it starts the function with the
//! environment Lambda gives (`AWS_LAMBDA_RUNTIME_API` pointing at a fake
//! Runtime API of its own), times the init phase (process start to the
//! first poll for an invocation), hands it one Kinesis batch, and reads the
//! process's peak memory and CPU time from the kernel when the answer
//! arrives. The AWS calls go to another process (a fast fake endpoint for
//! the figures, the moto emulator for an end-to-end check), so the CPU
//! measured is the function's own, its SDK clients included.
//!
//! Layout:
//! - [`runtime_api`]: the fake Lambda Runtime API, over [`http`] (the small
//!   part of HTTP/1.1 it needs).
//! - [`fake_aws`]: a fast, stateless AWS endpoint with a set latency, for
//!   the CPU and memory figures; the emulator checks behaviour.
//! - [`process`]: one function process: launch, ready, invoke, stop.
//! - [`proc_stats`]: CPU time and memory of a process, from the kernel.
//! - [`functions`]: per function: its resources in the emulator, the
//!   records it is fed, the check that a batch had its effect.
//! - [`bench`]: the plan (init runs, batch sizes) and its results.
//! - [`report`]: the table and the JSON report.
//! - [`cli`]: the command line.
//!
//! `src/bin/echo-function.rs` is a minimal function on `lambda_runtime`
//! that the harness's own tests run, with no AWS needed.

pub mod bench;
pub mod cli;
pub mod fake_aws;
pub mod functions;
pub mod http;
pub mod proc_stats;
pub mod process;
pub mod report;
pub mod runtime_api;

pub use bench::{BatchResult, FunctionResult, InitResult, Plan};
pub use functions::Function;
pub use report::Report;
