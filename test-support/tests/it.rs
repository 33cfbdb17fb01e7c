//! The `iam-coverage` report over a coverage log written as the kit writes it.

use std::process::Command;

#[test]
fn the_report_counts_pairs_and_names_each_statement_no_request_relied_on() {
    let dir = tempfile::tempdir().unwrap();
    let log = "statement\tdeployer\tp1\tTheStack\n\
               statement\tdeployer\tp1\tTheQueue\n\
               statement\tci-role\tp1\tTheStack\n\
               statement\tci-role\tp1\tTheQueue\n\
               allowed\tdeployer\tcloudformation:DescribeStacks\tp1\tTheStack\n\
               allowed\tdeployer\tcloudformation:DescribeStacks\tp1\tTheStack\n\
               denied\tci-role\tsqs:DeleteQueue\tarn:aws:sqs:eu-west-1:1:q\n";
    std::fs::write(dir.path().join("1.tsv"), log).unwrap();
    let run = |check: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_iam-coverage"));
        command.arg(dir.path());
        if check {
            command.arg("--check");
        }
        command.output().unwrap()
    };
    let report = run(false);
    assert!(report.status.success());
    let text = String::from_utf8_lossy(&report.stdout);
    assert!(
        text.contains("1 distinct (identity, action) pairs exercised, by 1 identities"),
        "{text}"
    );
    // One policy held by two identities: its statement counts once, exercised by either.
    assert!(
        text.contains("1 of 2 policy statements no test exercised"),
        "{text}"
    );
    assert!(
        text.contains("TheQueue (policy p1, held by ci-role, deployer)"),
        "{text}"
    );
    assert!(text.contains("ci-role sqs:DeleteQueue"), "{text}");
    assert_eq!(run(true).status.code(), Some(1));
}
