//! The `ingest` Lambda function. Placeholder until the AWS path lands: it links the core so the
//! workspace builds with its final layout, and exits with an error if invoked.

fn main() {
    eprintln!("tailwatch ingest: the Lambda shell is not implemented yet (see the AWS path issue)");
    std::process::exit(2);
}
