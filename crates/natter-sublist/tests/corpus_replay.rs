//! Replays the `sublist_ops` fuzz corpus on stable, so every input the fuzzer ever kept
//! (seeds and findings alike) stays a regression test.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use natter_sublist::fuzzing::run_ops;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/sublist_ops")
}

#[test]
fn every_corpus_input_agrees_with_the_model() {
    let dir = corpus_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "expected the checked-in seeds in {}",
        dir.display()
    );

    let failures: Vec<String> = files
        .iter()
        .filter_map(|path| {
            let data = std::fs::read(path).expect("corpus file is readable");
            catch_unwind(AssertUnwindSafe(|| run_ops(&data)))
                .err()
                .map(|_| path.display().to_string())
        })
        .collect();
    assert!(
        failures.is_empty(),
        "inputs disagreeing with the model: {failures:#?}"
    );
}

#[test]
fn truncated_and_empty_inputs_are_accepted() {
    // Inputs that end mid-operation or are empty are valid, not errors.
    run_ops(&[]);
    run_ops(&[5]);
    run_ops(&[5, 0, 1]);
}
