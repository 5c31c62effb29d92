//! The OpenSLO documents from the spec and its SDK, accepted and rejected exactly as
//! `testdata/fixtures/README.md` lists them.

use std::path::PathBuf;

fn fixtures() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/fixtures/openslo");
    assert!(
        dir.is_dir(),
        "the fixtures are missing at {}",
        dir.display()
    );
    dir
}

fn outcome(rel: &str) -> Result<(), Vec<String>> {
    steward_config::load(&fixtures().join(rel))
        .map(|_| ())
        .map_err(|errs| errs.iter().map(|d| d.to_string()).collect())
}

const ACCEPTED: &[&str] = &[
    "schema-tests/alert-condition/alert-condition.yaml",
    "schema-tests/alert-condition/alert-condition-no-description.yaml",
    "schema-tests/alert-notification-target/alert-notification-target.yaml",
    "schema-tests/alert-notification-target/alert-notification-target-no-description.yaml",
    "schema-tests/alert-policy/alert-policy.yaml",
    "schema-tests/alert-policy/alert-policy-inline-cond.yaml",
    "schema-tests/alert-policy/alert-policy-many-notificationref.yaml",
    "schema-tests/data-source/data-source.yaml",
    "schema-tests/service/service.yaml",
    "schema-tests/service/service-no-displayname.yaml",
];

/// File, and a piece of the message the user must see.
const REJECTED: &[(&str, &str)] = &[
    (
        "schema-tests/invalid-apiversion.yaml",
        "unsupported apiVersion `openslo/v1alpha`",
    ),
    (
        "schema-tests/alert-condition/alert-condition-no-condition.yaml",
        "AlertCondition spec is missing `condition`",
    ),
    (
        "schema-tests/alert-condition/alert-condition-no-sev.yaml",
        "AlertCondition spec is missing `severity`",
    ),
    (
        "schema-tests/alert-notification-target/alert-notification-target-no-target.yaml",
        "AlertNotificationTarget spec is missing `target`",
    ),
    (
        "schema-tests/alert-policy/alert-policy-malformed-cond.yaml",
        "unknown field `foo` in condition entry",
    ),
    (
        "schema-tests/alert-policy/alert-policy-malformed-targetref.yaml",
        "unknown field `foo` in notification target entry",
    ),
    (
        "schema-tests/alert-policy/alert-policy-many-cond.yaml",
        "conditions must hold exactly one condition, found 9",
    ),
    (
        "schema-tests/alert-policy/alert-policy-no-cond.yaml",
        "AlertPolicy spec is missing `conditions`",
    ),
    (
        "schema-tests/alert-policy/alert-policy-no-notification.yaml",
        "AlertPolicy spec is missing `notificationTargets`",
    ),
    (
        "schema-tests/service/service-long-description.yaml",
        "at most 1050 are allowed",
    ),
];

#[test]
fn accepts_the_valid_schema_tests() {
    for rel in ACCEPTED {
        assert_eq!(outcome(rel), Ok(()), "{rel} must be accepted");
    }
}

#[test]
fn accepts_every_sli_and_slo_schema_test() {
    for dir in ["schema-tests/sli", "schema-tests/slo"] {
        let mut n = 0;
        for entry in std::fs::read_dir(fixtures().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let rel = path
                .strip_prefix(fixtures())
                .unwrap()
                .to_str()
                .unwrap()
                .to_string();
            assert_eq!(outcome(&rel), Ok(()), "{rel} must be accepted");
            n += 1;
        }
        assert!(n >= 8, "expected the fixture files in {dir}, found {n}");
    }
}

#[test]
fn rejects_the_invalid_schema_tests_with_a_clear_message() {
    for (rel, expected) in REJECTED {
        let errors = outcome(rel).expect_err(rel);
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "{rel}: expected a message containing {expected:?}, got {errors:#?}"
        );
        for e in &errors {
            // file:line:col: message
            let mut parts = e.splitn(4, ':');
            let (file, line, col) = (
                parts.next().unwrap(),
                parts.next().unwrap(),
                parts.next().unwrap(),
            );
            assert!(file.ends_with(".yaml"), "{e}");
            assert!(line.parse::<usize>().unwrap() >= 1, "{e}");
            assert!(col.parse::<usize>().unwrap() >= 1, "{e}");
        }
    }
}

#[test]
fn accepts_the_spec_and_sdk_examples_but_not_their_duplicate_names() {
    for dir in ["spec-examples", "sdk-v1-examples"] {
        for entry in std::fs::read_dir(fixtures().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let rel = path
                .strip_prefix(fixtures())
                .unwrap()
                .to_str()
                .unwrap()
                .to_string();
            // The SDK's example files show each kind twice under one name: in one catalog
            // that is a conflict, and the only thing wrong with them.
            if let Err(errors) = outcome(&rel) {
                assert!(
                    errors.iter().all(|e| e.contains("is declared twice")),
                    "{rel} must be accepted, got {errors:#?}"
                );
            }
        }
    }
}

#[test]
fn spec_example_with_a_one_minute_calendar_window_warns() {
    let loaded =
        steward_config::load(&fixtures().join("spec-examples/timeslices-slo.yaml")).unwrap();
    let warnings: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
    assert!(
        warnings.iter().any(|w| w.contains("`m` means minutes")),
        "{warnings:#?}"
    );
}

/// Regression: OpenSLO AlertPolicy, AlertCondition and AlertNotificationTarget documents were
/// accepted and then ignored without a word, so a user could believe they page someone.
#[test]
fn openslo_alerting_documents_are_read_with_a_warning_that_they_are_not_used() {
    let loaded =
        steward_config::load(&fixtures().join("schema-tests/alert-policy/alert-policy.yaml"))
            .unwrap();
    let warnings: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("OpenSLO AlertPolicy `") && w.contains("is read but not used")),
        "{warnings:#?}"
    );
}
