//! The pipeline stages every shell calls: the CLI, `tailwatch serve`, and the Lambda functions all
//! run exactly these functions, so local and AWS behaviour cannot drift.

pub mod normalize;

pub use normalize::{normalize_body, normalize_object, NormalizeOutcome};
