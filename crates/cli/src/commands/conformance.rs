//! `mesh conformance DIR`: read a directory of the reference implementation's example files
//! and measure mesh-rs against them (see the `mesh-conformance` crate).

use clap::Args;

use crate::output;

#[derive(Args)]
pub struct ConformanceArgs {
    /// A directory of the reference's example `.md` files, as published.
    pub dir: std::path::PathBuf,
    /// Also read the reference's schema definitions (`*.protocol`) in this directory and check
    /// that an object of every type, with every member, is read whole.
    #[arg(long, value_name = "DIR")]
    pub schema: Option<std::path::PathBuf>,
    /// One JSON document: every row and the summary.
    #[arg(long)]
    pub json: bool,
}

#[derive(serde::Serialize)]
struct Json<'a> {
    summary: mesh_conformance::Summary,
    report: &'a mesh_conformance::Report,
    #[serde(skip_serializing_if = "Option::is_none")]
    schema: Option<Vec<mesh_conformance::SchemaRow>>,
}

pub fn run(args: ConformanceArgs) -> anyhow::Result<()> {
    if !args.dir.is_dir() {
        anyhow::bail!("{} is not a directory", args.dir.display());
    }
    let report = mesh_conformance::check_dir(&args.dir)?;
    if report.files == 0 {
        anyhow::bail!("{} holds no example files (*.md)", args.dir.display());
    }
    let schema = match &args.schema {
        None => None,
        Some(dir) if !dir.is_dir() => anyhow::bail!("{} is not a directory", dir.display()),
        Some(dir) => {
            let rows = mesh_conformance::check_schema_dir(dir)?;
            if rows.is_empty() {
                anyhow::bail!("{} holds no schema definitions (*.protocol)", dir.display());
            }
            Some(rows)
        }
    };
    let json = Json {
        summary: report.summary(),
        report: &report,
        schema,
    };
    output::emit(args.json, &json, |j| {
        print!("{}", j.report.table());
        if let Some(rows) = &j.schema {
            print!("{}", mesh_conformance::schema_table(rows));
        }
    })
}
