//! function-bench: measures what Lambda bills for each function, running
//! its real, optimised binary (and its Python counterpart under
//! `bench/python/`) as Lambda runs it.
//!
//! The harness plays the Lambda service: it starts the function with the
//! environment Lambda gives (`AWS_LAMBDA_RUNTIME_API` pointing at a fake
//! Runtime API of its own), times the init phase (process start to the
//! first poll for an invocation), hands it one Kinesis batch, and reads the
//! process's CPU time, context switches, syscalls and peak memory from the
//! kernel when the answer arrives. The AWS calls go to a fake endpoint in
//! the harness with a set latency that counts every call, so the CPU
//! measured is the function's own, its SDK clients included. A matrix of
//! latencies, batch sizes and partition keys gives the wall and CPU time
//! per batch, from which the billed duration at a memory size, and the
//! cost per million events, follow.
//!
//! Layout:
//! - [`server`]: the HTTP/1.1 server (hyper) both fakes run on.
//! - [`runtime_api`]: the fake Lambda Runtime API.
//! - [`fake_aws`]: a fast, stateless AWS endpoint with a set latency.
//! - [`process`]: one function process: launch, ready, invoke, stop.
//! - [`proc_stats`]: CPU time, switches, syscalls, memory, from the kernel.
//! - [`quota`]: a CPU-quota cgroup like a 128 MB function's share.
//! - [`strace`]: every syscall of one invocation, for one cell.
//! - [`functions`]: which functions there are (from `functions.json`), the
//!   records each is fed, the check that a batch had its effect.
//! - [`bench`]: the matrix and its results.
//! - [`cost`]: billed duration and the price of a million events.
//! - [`report`]: the tables and the JSON report; [`svg`]: the chart.
//! - [`cli`]: the command line.
//!
//! `src/bin/echo-function.rs` is a minimal function on `lambda_runtime`
//! that the harness's own tests run, with no AWS needed.

pub mod bench;
pub mod cli;
pub mod cost;
pub mod fake_aws;
pub mod functions;
pub mod proc_stats;
pub mod process;
pub mod quota;
pub mod report;
pub mod runtime_api;
pub mod server;
pub mod strace;
pub mod svg;

pub use bench::{CellResult, FunctionResult, Plan};
pub use functions::Function;
pub use report::Report;
