//! `tailwatch ddl athena|snowflake`: the lake tables' DDL, generated from the column list in
//! `tailwatch_core::lake`, printed or written one file per table (the committed copies live in
//! `infra/athena` and `infra/snowflake`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use tailwatch_core::ddl::{self, Dialect};

/// Which engine's DDL.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// Amazon Athena / AWS Glue: external tables over the OpenX JSON SerDe with partition projection.
    Athena,
    /// Snowflake: a file format, a stage and external tables with typed virtual columns.
    Snowflake,
}

/// `tailwatch ddl …`
#[derive(clap::Args, Debug)]
pub struct DdlArgs {
    /// Engine to generate for.
    #[arg(value_enum)]
    pub engine: Engine,
    /// Write one `<table>.sql` per table (plus Snowflake's `00_stage_and_format.sql`) into this
    /// directory instead of printing everything.
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
    /// The lake bucket's name, substituted for the `${LakeBucket}` placeholder (the stack's
    /// LakeBucketName output). Without it the placeholder stays, as in the committed files.
    #[arg(long)]
    pub lake_bucket: Option<String>,
}

/// Runs the subcommand.
///
/// # Errors
/// A file that cannot be written.
pub fn run(args: DdlArgs) -> Result<ExitCode> {
    let dialect = match args.engine {
        Engine::Athena => Dialect::Athena,
        Engine::Snowflake => Dialect::Snowflake,
    };
    let files: Vec<ddl::DdlFile> = ddl::files(dialect)
        .into_iter()
        .map(|mut f| {
            if let Some(bucket) = &args.lake_bucket {
                f.sql = ddl::with_lake_bucket(&f.sql, bucket);
            }
            f
        })
        .collect();
    match &args.out_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            for f in &files {
                let path = dir.join(&f.name);
                std::fs::write(&path, &f.sql).with_context(|| format!("writing {}", path.display()))?;
                eprintln!("wrote {}", path.display());
            }
        }
        None => {
            let text: Vec<&str> = files.iter().map(|f| f.sql.as_str()).collect();
            print!("{}", text.join("\n"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_one_file_per_table_with_the_bucket_substituted() {
        let dir = tempfile::tempdir().unwrap();
        let args = DdlArgs {
            engine: Engine::Snowflake,
            out_dir: Some(dir.path().to_path_buf()),
            lake_bucket: Some("tailwatch-lake-example".into()),
        };
        assert_eq!(run(args).unwrap(), ExitCode::SUCCESS);
        let setup = std::fs::read_to_string(dir.path().join("00_stage_and_format.sql")).unwrap();
        assert!(setup.contains("URL = 's3://tailwatch-lake-example/'"));
        for t in tailwatch_core::lake::TABLES {
            assert!(dir.path().join(format!("{}.sql", t.name)).exists(), "{}", t.name);
        }
    }
}
