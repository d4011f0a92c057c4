//! `callscope import`: replays rtcstats dump files through the pipeline.

use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub struct ImportArgs {
    /// rtcstats dump files (one JSON array per line).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

pub async fn run(args: ImportArgs, _config: &crate::config::Config) -> anyhow::Result<()> {
    anyhow::bail!("import of {} file(s) is not built yet", args.files.len())
}
