//! The short fuzzing pass CI runs on stable: every fuzz target's library function over every
//! seed in `fuzz/corpus/<target>/` and every minimised crash in `fuzz/regressions/<target>/`.
//! `make fuzz` runs the same functions under libFuzzer (nightly) for longer.
//!
//! A missing or empty seed directory fails the test, so seeds cannot silently vanish; a target
//! with no crash found yet has a `regressions/<target>/` directory holding only a `.gitkeep`.

use std::path::{Path, PathBuf};

type Target = fn(&[u8]);

/// Every target, by the name of its cargo-fuzz binary and corpus directory.
const TARGETS: &[(&str, Target)] = &[
    ("request_path", vcproxy::fuzz_targets::request_path),
    ("list_stream", vcproxy::fuzz_targets::list_stream),
    ("watch_stream", vcproxy::fuzz_targets::watch_stream),
    ("selectors", vcproxy::fuzz_targets::selectors),
    ("patches", vcproxy::fuzz_targets::patches),
    ("protobuf", vcproxy::fuzz_targets::protobuf),
    ("policy_toml", vcproxy::fuzz_targets::policy_toml),
    ("crd_schema", vcproxy::fuzz_targets::crd_schema),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The input files of one directory (dotfiles such as `.gitkeep` are not inputs), sorted.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.is_file() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect();
    files.sort();
    files
}

/// Runs `target` over every file in `dir`, naming the file that fails.
fn run_all(target: Target, name: &str, files: &[PathBuf]) {
    for file in files {
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let outcome = std::panic::catch_unwind(|| target(&data));
        if outcome.is_err() {
            panic!("fuzz target {name} fails on {}", file.display());
        }
    }
}

#[test]
fn every_target_has_seeds_and_a_regressions_directory() {
    let built: Vec<String> = inputs(&fuzz_dir().join("fuzz_targets"))
        .iter()
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    let listed: Vec<String> = TARGETS.iter().map(|(name, _)| name.to_string()).collect();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(built, sorted, "fuzz/fuzz_targets/ and this test must list the same targets");
    for (name, _) in TARGETS {
        let seeds = inputs(&fuzz_dir().join("corpus").join(name));
        assert!(!seeds.is_empty(), "fuzz/corpus/{name}/ has no seeds");
        let regressions = fuzz_dir().join("regressions").join(name);
        assert!(regressions.is_dir(), "fuzz/regressions/{name}/ is missing");
    }
}

#[test]
fn seeds_pass_every_property() {
    for (name, target) in TARGETS {
        run_all(*target, name, &inputs(&fuzz_dir().join("corpus").join(name)));
    }
}

#[test]
fn crashes_found_by_fuzzing_stay_fixed() {
    for (name, target) in TARGETS {
        run_all(*target, name, &inputs(&fuzz_dir().join("regressions").join(name)));
    }
}
