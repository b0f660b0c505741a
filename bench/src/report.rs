//! What every subcommand hands back, and how it is written: an aligned table on stdout, and
//! `DIR/report.json` + `DIR/report.md`.
//!
//! `report.json` is one object: the envelope (`subcommand`, `command_line`, `started_at`,
//! `duration_s`, `machine`, `git`) followed by the subcommand's own top-level fields, so a
//! subcommand decides its own schema (a scenario report can put e.g. `jain_index` at the top).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use serde_json::{json, Map, Value};

/// A table of results: the same rows go to stdout (aligned) and to `report.md` (Markdown).
#[derive(Debug, Clone)]
pub struct Table {
    pub title: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(title: impl Into<String>, headers: &[&str]) -> Table {
        Table { title: title.into(), headers: headers.iter().map(|h| h.to_string()).collect(), rows: Vec::new() }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn widths(&self) -> Vec<usize> {
        let mut w: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate() {
                if i < w.len() {
                    w[i] = w[i].max(c.chars().count());
                }
            }
        }
        w
    }

    /// Plain text, columns aligned (first column left, the rest right).
    pub fn to_text(&self) -> String {
        let w = self.widths();
        let line = |cells: &[String]| {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate() {
                let width = w.get(i).copied().unwrap_or(0);
                if i == 0 {
                    let _ = write!(s, "{c:<width$}");
                } else {
                    let _ = write!(s, "  {c:>width$}");
                }
            }
            s.trim_end().to_string()
        };
        let mut out = format!("{}\n", self.title);
        out += &line(&self.headers);
        out.push('\n');
        out += &"-".repeat(w.iter().sum::<usize>() + 2 * w.len().saturating_sub(1));
        out.push('\n');
        for r in &self.rows {
            out += &line(r);
            out.push('\n');
        }
        out
    }

    pub fn to_markdown(&self) -> String {
        let mut out = format!("### {}\n\n| {} |\n|", self.title, self.headers.join(" | "));
        for i in 0..self.headers.len() {
            out += if i == 0 { " --- |" } else { " ---: |" };
        }
        out.push('\n');
        for r in &self.rows {
            let _ = writeln!(out, "| {} |", r.join(" | "));
        }
        out
    }
}

/// The result of one subcommand run.
#[derive(Debug, Default)]
pub struct Report {
    /// The subcommand's own top-level JSON fields.
    pub json: Map<String, Value>,
    pub tables: Vec<Table>,
    /// Free-text lines printed under the tables (how to read them, caveats).
    pub notes: Vec<String>,
}

/// Facts about the run that every report carries.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub subcommand: String,
    pub argv: Vec<String>,
    /// The environment variables the benchmarks read, as set for this run.
    pub env: Vec<(String, String)>,
    pub started: SystemTime,
}

impl RunInfo {
    pub fn new(subcommand: &str) -> RunInfo {
        let env = ENV_VARS
            .iter()
            .filter_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()).map(|v| (k.to_string(), v)))
            .collect();
        RunInfo {
            subcommand: subcommand.to_string(),
            argv: std::env::args().collect(),
            env,
            started: SystemTime::now(),
        }
    }

    /// The command exactly as invoked (shell-quoted where needed), with the relevant
    /// environment variables in front.
    pub fn command_line(&self) -> String {
        self.env
            .iter()
            .map(|(k, v)| format!("{k}={}", shell_quote(v)))
            .chain(self.argv.iter().map(|a| shell_quote(a)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The same arguments as a `cargo run` line from the workspace root.
    pub fn cargo_command_line(&self) -> String {
        let env = self.env.iter().map(|(k, v)| format!("{k}={} ", shell_quote(v))).collect::<String>();
        let args: Vec<String> = self.argv.iter().skip(1).map(|a| shell_quote(a)).collect();
        format!("{env}cargo run -p bench --release -- {}", args.join(" "))
    }

    /// `bench/reports/<subcommand>-<UTC timestamp>`.
    pub fn default_out_dir(&self) -> PathBuf {
        let stamp = humantime::format_rfc3339_seconds(self.started).to_string().replace([':', '-'], "");
        Path::new(env!("CARGO_MANIFEST_DIR")).join("reports").join(format!("{}-{stamp}", self.subcommand))
    }
}

/// Environment variables that change what a benchmark runs against.
const ENV_VARS: &[&str] = &["VCPROXY_BIN", "VCPROXY_K8S_BIN"];

fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The machine the numbers come from.
pub fn machine() -> Value {
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|s| {
        s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
    });
    let mem_kib = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        s.lines().find(|l| l.starts_with("MemTotal:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
    });
    json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu_model": cpu_model,
        "mem_total_mb": mem_kib.map(|k| k / 1024),
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").ok().map(|s| s.trim().to_string()),
        // Other work on the machine skews everything; this is the 1/5/15-minute load at the end.
        "loadavg": std::fs::read_to_string("/proc/loadavg").ok().map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")),
    })
}

/// `git describe`-like revision of the workspace (read-only), `None` outside a checkout.
fn git_revision() -> Option<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out =
        std::process::Command::new("git").arg("-C").arg(&root).args(["rev-parse", "--short", "HEAD"]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let rev = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let dirty = std::process::Command::new("git")
        .arg("-C")
        .arg(&root)
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false);
    Some(if dirty { format!("{rev}-dirty") } else { rev })
}

/// Prints the report and writes `out_dir/report.json` and `out_dir/report.md`.
pub fn emit(info: &RunInfo, report: Report, elapsed: Duration, out_dir: &Path) -> anyhow::Result<()> {
    let mut top = Map::new();
    top.insert("subcommand".into(), json!(info.subcommand));
    top.insert("command_line".into(), json!(info.command_line()));
    top.insert("cargo_command_line".into(), json!(info.cargo_command_line()));
    top.insert("started_at".into(), json!(humantime::format_rfc3339_seconds(info.started).to_string()));
    top.insert("duration_s".into(), json!((elapsed.as_secs_f64() * 10.0).round() / 10.0));
    top.insert("machine".into(), machine());
    top.insert("git".into(), json!(git_revision()));
    for (k, v) in report.json {
        top.insert(k, v);
    }
    let machine_line = {
        let m = &top["machine"];
        format!(
            "{} CPUs ({}), {} MB RAM, Linux {}, load average {}",
            m["cpus"],
            m["cpu_model"].as_str().unwrap_or("?"),
            m["mem_total_mb"],
            m["kernel"].as_str().unwrap_or("?"),
            m["loadavg"].as_str().unwrap_or("?")
        )
    };

    // stdout
    println!();
    println!("command: {}", info.command_line());
    println!("         ({})", info.cargo_command_line());
    println!("machine: {machine_line}");
    println!();
    for t in &report.tables {
        println!("{}", t.to_text());
    }
    for n in &report.notes {
        println!("note: {n}");
    }

    // files
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let json_path = out_dir.join("report.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&Value::Object(top.clone()))? + "\n")
        .with_context(|| format!("writing {}", json_path.display()))?;
    let mut md = format!("# bench {}\n\n", info.subcommand);
    let _ = writeln!(md, "Command:\n\n```\n{}\n```\n", info.command_line());
    let _ = writeln!(md, "Equivalent from the workspace root: `{}`\n", info.cargo_command_line());
    let _ = writeln!(
        md,
        "Started {} (took {:.1} s) on {machine_line}; git {}.\n",
        top["started_at"].as_str().unwrap_or(""),
        elapsed.as_secs_f64(),
        top["git"].as_str().unwrap_or("unknown")
    );
    for t in &report.tables {
        md += &t.to_markdown();
        md.push('\n');
    }
    if !report.notes.is_empty() {
        md += "### Notes\n\n";
        for n in &report.notes {
            let _ = writeln!(md, "- {n}");
        }
    }
    let md_path = out_dir.join("report.md");
    std::fs::write(&md_path, md).with_context(|| format!("writing {}", md_path.display()))?;
    println!();
    println!("wrote {} and {}", json_path.display(), md_path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("--out"), "--out");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn table_renders() {
        let mut t = Table::new("T", &["case", "MB/s"]);
        t.row(vec!["copy".into(), "1000.0".into()]);
        assert!(t.to_text().contains("copy  1000.0"));
        assert!(t.to_markdown().contains("| copy | 1000.0 |"));
    }
}
