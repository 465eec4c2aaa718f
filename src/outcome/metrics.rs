//! CloudWatch embedded metric format: one JSON line on stdout per step and per
//! reset decision, which CloudWatch Logs turns into metrics with no AWS call.
//!
//! The format is a single JSON object (`_aws.CloudWatchMetrics` declaring the
//! namespace, dimensions and metrics, and the values at the top level); a metrics
//! crate would add a global recorder and a flush per invocation for one object.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "IamPasswordRotation";

/// The line for one rotation step. `finished`: the step promoted the new version.
pub fn step_line(step: &str, succeeded: bool, duration_ms: u64, finished: bool) -> String {
    let mut values = vec![
        ("StepSucceeded", u64::from(succeeded), "Count"),
        ("StepFailed", u64::from(!succeeded), "Count"),
        ("StepDuration", duration_ms, "Milliseconds"),
    ];
    if finished {
        values.push(("RotationsSucceeded", 1, "Count"));
    }
    if !succeeded {
        values.push(("RotationsFailed", 1, "Count"));
    }
    line(("Step", step), &values)
}

/// The line for one reset decision (`decision` as in [`crate::reset::Decision::as_str`],
/// or `refused`).
pub fn reset_line(trigger: &str, decision: &str) -> String {
    let counted = |names: &[&str]| u64::from(names.contains(&decision));
    let values = [
        ("ResetsRequested", 1, "Count"),
        ("ResetsStarted", counted(&["rotation_started"]), "Count"),
        (
            "ResetsScheduled",
            counted(&["scheduled", "retry_scheduled"]),
            "Count",
        ),
        (
            "ResetsSkipped",
            counted(&["skipped", "coalesced", "reported"]),
            "Count",
        ),
        ("ResetsRefused", counted(&["refused"]), "Count"),
    ];
    line(("Trigger", trigger), &values)
}

/// The line for one account's audit: users looked at and findings by kind.
pub fn audit_line(account: &str, console_users: u64, findings: &[(&str, u64)]) -> String {
    let mut values = vec![("AuditedUsers", console_users, "Count")];
    values.extend(
        findings
            .iter()
            .map(|(kind, count)| (*kind, *count, "Count")),
    );
    line(("Account", account), &values)
}

fn line(dimension: (&str, &str), values: &[(&str, u64, &str)]) -> String {
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let metrics: Vec<Value> = values
        .iter()
        .map(|(name, _, unit)| json!({"Name": name, "Unit": unit}))
        .collect();
    let mut object = Map::new();
    object.insert(
        "_aws".into(),
        json!({"Timestamp": timestamp, "CloudWatchMetrics": [{
            "Namespace": NAMESPACE, "Dimensions": [[dimension.0]], "Metrics": metrics}]}),
    );
    object.insert(dimension.0.into(), json!(dimension.1));
    for (name, value, _) in values {
        object.insert((*name).into(), json!(value));
    }
    Value::Object(object).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(line: &str) -> Value {
        serde_json::from_str(line).expect("one JSON object")
    }

    #[test]
    fn a_step_line_declares_its_metrics_and_carries_their_values() {
        let line = parsed(&step_line("finishSecret", true, 42, true));
        let declared = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(declared["Namespace"], NAMESPACE);
        assert_eq!(declared["Dimensions"], json!([["Step"]]));
        let names: Vec<&str> = declared["Metrics"]
            .as_array()
            .expect("metrics")
            .iter()
            .filter_map(|m| m["Name"].as_str())
            .collect();
        assert_eq!(
            names,
            [
                "StepSucceeded",
                "StepFailed",
                "StepDuration",
                "RotationsSucceeded"
            ]
        );
        for name in names {
            assert!(line[name].is_u64(), "{name} has no value");
        }
        assert_eq!(
            (line["Step"].clone(), line["StepDuration"].clone()),
            (json!("finishSecret"), json!(42))
        );
        let failed = parsed(&step_line("setSecret", false, 7, false));
        assert_eq!(
            (
                failed["StepFailed"].clone(),
                failed["RotationsFailed"].clone()
            ),
            (json!(1), json!(1))
        );
    }

    #[test]
    fn an_audit_line_counts_users_and_findings_per_account() {
        let line = parsed(&audit_line("222222222222", 3, &[("password_drift", 1)]));
        assert_eq!(line["Account"], "222222222222");
        assert_eq!(line["AuditedUsers"], 3);
        assert_eq!(line["password_drift"], 1);
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Account"]])
        );
    }

    #[test]
    fn a_reset_line_counts_the_decision_under_its_trigger() {
        let line = parsed(&reset_line("drift", "rotation_started"));
        assert_eq!(line["Trigger"], "drift");
        assert_eq!(
            (
                line["ResetsRequested"].clone(),
                line["ResetsStarted"].clone()
            ),
            (json!(1), json!(1))
        );
        assert_eq!(line["ResetsRefused"], 0);
        assert_eq!(
            parsed(&reset_line("on-demand", "refused"))["ResetsRefused"],
            1
        );
        assert_eq!(
            parsed(&reset_line("console-login", "scheduled"))["ResetsScheduled"],
            1
        );
    }
}
