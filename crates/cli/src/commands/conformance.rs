//! `mesh conformance DIR`: read a directory of the reference implementation's example files
//! and measure mesh-rs against them (see the `mesh-conformance` crate).

use clap::Args;

use crate::output;

#[derive(Args)]
pub struct ConformanceArgs {
    /// A directory of the reference's example `.md` files, as published.
    pub dir: std::path::PathBuf,
    /// One JSON document: every row and the summary.
    #[arg(long)]
    pub json: bool,
}

#[derive(serde::Serialize)]
struct Json<'a> {
    summary: mesh_conformance::Summary,
    report: &'a mesh_conformance::Report,
}

pub fn run(args: ConformanceArgs) -> anyhow::Result<()> {
    if !args.dir.is_dir() {
        anyhow::bail!("{} is not a directory", args.dir.display());
    }
    let report = mesh_conformance::check_dir(&args.dir)?;
    if report.files == 0 {
        anyhow::bail!("{} holds no example files (*.md)", args.dir.display());
    }
    let json = Json {
        summary: report.summary(),
        report: &report,
    };
    output::emit(args.json, &json, |j| print!("{}", j.report.table()))
}
