//! `tributary precheck --task FILE`: runs the precheck (`crate::precheck`) against the task's
//! source and broker and prints every item, as a table or `--json`. Exit 0 when the task may
//! start, 1 when an item fails or a warning is not accepted, 2 for usage errors.

use std::path::PathBuf;

use crate::config::{check_item_names, TaskSpec};
use crate::precheck::{Context, Report};

#[derive(Debug, clap::Args)]
pub struct PrecheckArgs {
    /// The task file (TOML).
    #[arg(long, value_name = "FILE")]
    pub task: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Warnings to accept besides the task file's precheck.accept_warnings (item names).
    #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
    pub accept_warnings: Vec<String>,
}

pub async fn run(args: PrecheckArgs) -> i32 {
    let spec = match TaskSpec::load(&args.task) {
        Ok(s) => s,
        Err(e) => return super::fail(&e, 2),
    };
    if let Err(e) = check_item_names("--accept-warnings", &args.accept_warnings) {
        return super::fail(&e, 2);
    }
    let ctx = Context {
        accept_warnings: args.accept_warnings,
        ..Context::new_task()
    };
    let report = crate::precheck::run(&spec, &ctx).await;
    print!("{}", render(&report, args.json));
    if report.may_start {
        0
    } else {
        1
    }
}

/// The report as JSON (one pretty document) or as an aligned table with a verdict line.
pub(crate) fn render(report: &Report, json: bool) -> String {
    if json {
        let mut s = serde_json::to_string_pretty(report)
            .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
        s.push('\n');
        return s;
    }
    let rows: Vec<Vec<String>> = report
        .items
        .iter()
        .map(|i| {
            let status = if i.accepted {
                "warn (accepted)"
            } else {
                i.status.as_str()
            };
            let text = if i.fix.is_empty() {
                i.found.clone()
            } else {
                format!("{} → fix: {}", i.found, i.fix)
            };
            vec![i.name.clone(), status.to_owned(), text]
        })
        .collect();
    let mut out = super::ctl::table::columns(&["ITEM", "STATUS", "FOUND"], &rows);
    out.push_str(&match report.refusal() {
        None => format!("task {} may start\n", report.task),
        Some(_) => {
            let blocking: Vec<&str> = report.items.iter().filter(|i| i.blocks()).map(|i| i.name.as_str()).collect();
            format!("task {} may not start: {} (warnings can be accepted with precheck.accept_warnings or --accept-warnings)\n", report.task, blocking.join(", "))
        }
    });
    out
}
