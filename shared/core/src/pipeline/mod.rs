//! The pipeline stages every shell calls: the CLI, `tailwatch serve`, and the Lambda functions all
//! run exactly these functions, so local and AWS behaviour cannot drift.

pub mod auth;
pub mod batch;
pub mod detect;
pub mod ingest;
pub mod normalize;
pub mod pack;

pub use batch::{part_name, process_batch, BatchReport, ChunkDetector, Detector, Discard, NoDetect, RawBatch};
pub use detect::{detect, DetectReport, LakeObjectRows};
pub use ingest::{ingest, HecResponse, IngestReport, IngestRequest};
pub use normalize::{normalize_body, normalize_chunks, normalize_object, undecodable, NormalizeChunks, NormalizeOutcome, CHUNK_ROWS};
pub use pack::{object_stem, LakePacker};
