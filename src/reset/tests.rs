//! Unit tests of the reset decisions over in-memory fakes.

use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use super::fakes::{FakeAws, FUNCTION, OWN_ROLE, SECRET};
use super::*;

fn resetter(
    aws: &FakeAws,
    settings: ResetSettings,
    reset_required: bool,
) -> Resetter<FakeAws, FakeAws, FakeAws> {
    Resetter::new(
        aws.clone(),
        aws.clone(),
        aws.clone(),
        settings,
        reset_required,
    )
    .with_clock(aws.clock())
}

fn settings() -> ResetSettings {
    ResetSettings {
        function_role_arn: Some(OWN_ROLE.into()),
        ..ResetSettings::default()
    }
}

/// CloudTrail's `eventTime` for a trigger `seconds` ago.
fn ago(seconds: u64) -> String {
    humantime::format_rfc3339_seconds(SystemTime::now() - Duration::from_secs(seconds)).to_string()
}

fn request(payload: Value) -> ResetRequest {
    ResetRequest::from_value(&payload).expect("valid event")
}

fn on_demand(detail: Value) -> ResetRequest {
    request(
        json!({"source": "iam-password-rotation", "detail-type": "IAM Password Reset Requested", "detail": detail}),
    )
}

fn login(success: bool, time: &str) -> ResetRequest {
    request(
        json!({"source": "aws.signin", "detail-type": "AWS Console Sign In via CloudTrail", "detail": {
        "eventName": "ConsoleLogin", "eventTime": time, "eventID": "ct-login",
        "userIdentity": {"type": "IAMUser", "userName": "alice", "arn": "arn:aws:iam::123456789012:user/alice"},
        "responseElements": {"ConsoleLogin": if success { "Success" } else { "Failure" }}}}),
    )
}

fn drift(event_name: &str, actor_role: &str, time: &str) -> ResetRequest {
    request(
        json!({"source": "aws.iam", "detail-type": "AWS API Call via CloudTrail", "detail": {
        "eventName": event_name, "eventTime": time, "eventID": "ct-drift",
        "requestParameters": {"userName": "alice"},
        "userIdentity": {"type": "AssumedRole", "userName": "alice", "arn": format!("{actor_role}/session"),
            "sessionContext": {"sessionIssuer": {"arn": actor_role}}}}}),
    )
}

async fn decide(resetter: &Resetter<FakeAws, FakeAws, FakeAws>, request: &ResetRequest) -> Decided {
    let mut report = resetter.handle(request, FUNCTION).await.expect("decided");
    assert_eq!(report.decisions.len(), 1);
    report.decisions.remove(0)
}

fn decision(decided: Decided) -> Decision {
    decided.decision.expect("a decision, not a refusal")
}

#[tokio::test]
async fn an_on_demand_reset_by_user_starts_a_rotation_in_six_calls() {
    let aws = FakeAws::enrolled();
    let decided = decide(
        &resetter(&aws, settings(), false),
        &on_demand(json!({"userName": "alice"})),
    )
    .await;
    assert_eq!(decided.secret.as_deref(), Some(SECRET));
    assert_eq!(decision(decided).as_str(), "rotation_started");
    assert_eq!(
        aws.calls(),
        [
            "GetUser",
            "DescribeSecret",
            "GetSecretValue",
            "GetLoginProfile",
            "ListSecretVersionIds",
            "RotateSecret"
        ]
    );
}

#[tokio::test]
async fn an_on_demand_reset_by_secret_checks_the_user_is_bound_to_it() {
    let aws = FakeAws::enrolled();
    let decided = decide(
        &resetter(&aws, settings(), false),
        &on_demand(json!({"secretId": SECRET})),
    )
    .await;
    assert_eq!(decided.user.as_deref(), Some("alice"));
    assert_eq!(decision(decided).as_str(), "rotation_started");
    assert_eq!(
        aws.calls(),
        [
            "DescribeSecret",
            "GetSecretValue",
            "GetUser",
            "GetLoginProfile",
            "ListSecretVersionIds",
            "RotateSecret"
        ]
    );
}

#[tokio::test]
async fn every_refusal_is_named_and_writes_nothing() {
    let other = "arn:aws:secretsmanager:us-east-1:123456789012:secret:other-XyZ";
    let cases: Vec<(&str, FakeAws, Value)> = vec![
        (
            "BindingTagMissing",
            {
                let aws = FakeAws::enrolled();
                aws.add_user("alice", None);
                aws
            },
            json!({"userName": "alice"}),
        ),
        (
            "UserNotFound",
            FakeAws::enrolled(),
            json!({"userName": "bob"}),
        ),
        (
            "RotatedByAnotherFunction",
            {
                let aws = FakeAws::enrolled();
                aws.with_secret(SECRET, |s| {
                    s.rotation_lambda_arn =
                        Some("arn:aws:lambda:us-east-1:123456789012:function:other".into())
                });
                aws
            },
            json!({"userName": "alice"}),
        ),
        (
            "RotationNotEnabled",
            {
                let aws = FakeAws::enrolled();
                aws.with_secret(SECRET, |s| s.rotation_enabled = false);
                aws
            },
            json!({"userName": "alice"}),
        ),
        (
            "SecretNamesAnotherUser",
            {
                let aws = FakeAws::enrolled();
                aws.with_secret(SECRET, |s| s.current_user = "mallory".into());
                aws
            },
            json!({"userName": "alice"}),
        ),
        (
            "BindingTagMismatch",
            {
                let aws = FakeAws::enrolled();
                aws.add_user("alice", Some(other));
                aws
            },
            json!({"secretId": SECRET}),
        ),
        (
            "SecretNotFound",
            FakeAws::enrolled(),
            json!({"secretId": "console/missing"}),
        ),
    ];
    for (expected, aws, detail) in cases {
        let decided = decide(&resetter(&aws, settings(), false), &on_demand(detail)).await;
        let error = decided.decision.expect_err(expected);
        assert_eq!(error.error_type(), expected, "{error}");
        assert!(aws.writes().is_empty(), "{expected}: {:?}", aws.writes());
    }
}

#[tokio::test]
async fn a_rotation_in_progress_is_not_disturbed_and_the_reset_is_retried_after_it() {
    let aws = FakeAws::enrolled();
    aws.rotation_in_progress(SECRET, SystemTime::now() - Duration::from_secs(5));
    let resetter = resetter(&aws, settings(), false);
    let decided = decide(&resetter, &on_demand(json!({"userName": "alice"}))).await;
    let Decision::RetryScheduled(_, 2) = decision(decided) else {
        panic!("not a retry")
    };
    assert!(!aws.calls().contains(&"RotateSecret".to_owned()));
    let schedules = aws.schedules();
    assert_eq!(schedules.len(), 1);
    assert_eq!(schedules[0].name, schedule_name(SECRET));
    assert_eq!(schedules[0].target_arn, FUNCTION);
    // When it fires after the rotation ended, the reset happens.
    aws.with_secret(SECRET, |s| s.versions.retain(|v| v.id != "v-pending"));
    aws.set_now(schedules[0].at);
    let fired = request(serde_json::from_str(&schedules[0].input).expect("json"));
    assert_eq!(fired.attempt, Some(2));
    let decided = decide(&resetter, &fired).await;
    assert_eq!(decision(decided).as_str(), "rotation_started");
    assert!(aws.schedules().is_empty(), "the fired schedule is deleted");
}

#[tokio::test]
async fn a_reset_gives_up_with_a_clear_error_after_its_last_attempt() {
    let aws = FakeAws::enrolled();
    aws.rotation_in_progress(SECRET, SystemTime::UNIX_EPOCH);
    let fired = request(
        json!({"source": "iam-password-rotation", "detail-type": "IAM Password Reset Scheduled",
        "detail": {"secretId": SECRET, "userName": "alice", "trigger": "on-demand", "attempt": 12,
                   "triggerTime": "2026-01-01T00:00:00Z"}}),
    );
    let decided = decide(&resetter(&aws, settings(), false), &fired).await;
    let error = decided.decision.expect_err("exhausted");
    assert_eq!(error.error_type(), "ResetRetriesExhausted");
    assert!(error.to_string().contains("12 times"));
}

#[tokio::test]
async fn a_successful_console_sign_in_schedules_one_delayed_reset_and_repeats_coalesce() {
    let aws = FakeAws::enrolled();
    let resetter = resetter(&aws, settings(), false);
    let signed_in = ago(120);
    let Decision::Scheduled(at) = decision(decide(&resetter, &login(true, &signed_in)).await)
    else {
        panic!("not scheduled")
    };
    // The delay counts from the sign-in (eventTime), not from the delivery.
    assert_eq!(
        at,
        humantime::parse_rfc3339(&signed_in).expect("time") + Duration::from_secs(3600)
    );
    // A later sign-in does not postpone the reset, and the schedule now covers it.
    let again = decision(decide(&resetter, &login(true, &ago(60))).await);
    assert_eq!(again.as_str(), "coalesced");
    let schedules = aws.schedules();
    assert_eq!(schedules.len(), 1);
    assert_eq!(schedules[0].at, at);
    let fired = request(serde_json::from_str(&schedules[0].input).expect("json"));
    assert_eq!(
        fired.time,
        Some(humantime::parse_rfc3339(&ago(60)).expect("time"))
    );
    // The same delivery again writes nothing.
    let writes = aws.writes().len();
    decide(&resetter, &login(true, &ago(60))).await;
    assert_eq!(aws.writes().len(), writes);
    assert!(!aws.calls().contains(&"RotateSecret".to_owned()));
}

#[tokio::test]
async fn a_failed_sign_in_never_resets_and_calls_nothing() {
    let aws = FakeAws::enrolled();
    let skipped = decision(
        decide(
            &resetter(&aws, settings(), false),
            &login(false, "2026-01-01T10:00:00Z"),
        )
        .await,
    );
    assert_eq!(skipped.as_str(), "skipped");
    assert!(aws.calls().is_empty());
}

#[tokio::test]
async fn a_fired_sign_in_schedule_resets_unless_a_later_rotation_covers_it() {
    let aws = FakeAws::enrolled();
    let resetter = resetter(&aws, settings(), false);
    decide(&resetter, &login(true, &ago(10))).await;
    aws.set_now(aws.schedules()[0].at);
    let input = aws.schedules()[0].input.clone();
    let fired = request(serde_json::from_str(&input).expect("json"));
    assert_eq!(
        decision(decide(&resetter, &fired).await).as_str(),
        "rotation_started"
    );
    assert!(aws.schedules().is_empty(), "the fired schedule is deleted");
    // A second firing of the same schedule starts no second rotation.
    let again = decision(decide(&resetter, &fired).await);
    assert_eq!(again.as_str(), "coalesced", "{again:?}");
    // A rotation that finished after the trigger, IAM-applied, covers it.
    assert!(aws.apply_pending(SECRET));
    assert!(aws.finish_pending(SECRET).is_some());
    aws.with_secret(SECRET, |s| {
        for v in &mut s.versions {
            if v.stages.iter().any(|l| l == "AWSCURRENT") {
                v.created = Some(SystemTime::now());
            }
        }
    });
    assert_eq!(
        decision(decide(&resetter, &fired).await).as_str(),
        "coalesced"
    );
}

#[tokio::test]
async fn drift_by_another_principal_resets_now_and_the_functions_own_call_never_does() {
    let aws = FakeAws::enrolled();
    let resetter = resetter(&aws, settings(), false);
    let own = decision(
        decide(
            &resetter,
            &drift("UpdateLoginProfile", OWN_ROLE, "2026-01-01T10:00:00Z"),
        )
        .await,
    );
    assert_eq!(own, Decision::NotOurs("the function's own call".into()));
    assert!(aws.calls().is_empty());
    let admin = "arn:aws:iam::123456789012:role/admin";
    let other = decision(
        decide(
            &resetter,
            &drift("UpdateLoginProfile", admin, "2026-01-01T10:00:00Z"),
        )
        .await,
    );
    assert_eq!(other.as_str(), "rotation_started");
    assert!(aws.calls().contains(&"ListSecretVersionIds".to_owned()));
}

#[tokio::test]
async fn delete_login_profile_cancels_the_pending_reset_and_an_expected_first_sign_in_is_skipped() {
    let aws = FakeAws::enrolled();
    let admin = "arn:aws:iam::123456789012:role/admin";
    let reset = resetter(&aws, settings(), false);
    decide(&reset, &login(true, &ago(10))).await;
    let pending = aws.schedules();
    assert_eq!(pending.len(), 1);
    // With a login profile still there, a DeleteLoginProfile record cancels nothing.
    let reported = decision(decide(&reset, &drift("DeleteLoginProfile", admin, &ago(5))).await);
    assert_eq!(reported.as_str(), "reported");
    assert_eq!(aws.schedules().len(), 1);
    aws.set_profile("alice", false);
    let reported = decision(decide(&reset, &drift("DeleteLoginProfile", admin, &ago(5))).await);
    assert_eq!(reported.as_str(), "reported");
    assert!(aws.schedules().is_empty(), "the pending reset is cancelled");
    // Every trigger skips a user without a login profile, and writes nothing.
    let writes = aws.writes().len();
    let fired = request(serde_json::from_str(&pending[0].input).expect("json"));
    for trigger in [fired, on_demand(json!({"userName": "alice"}))] {
        assert_eq!(decision(decide(&reset, &trigger).await).as_str(), "skipped");
    }
    assert_eq!(
        aws.writes().len(),
        writes + 1,
        "only the fired schedule's deletion"
    );
    aws.set_profile("alice", true);
    aws.0.lock().expect("state").calls.clear();
    let first_sign_in = decision(
        decide(
            &resetter(&aws, settings(), true),
            &drift("ChangePassword", admin, "2026-01-01T10:00:00Z"),
        )
        .await,
    );
    assert_eq!(first_sign_in.as_str(), "skipped");
    assert!(aws.calls().is_empty());
    let drifted = decision(
        decide(
            &resetter(&aws, settings(), false),
            &drift("UpdateLoginProfile", admin, "2026-01-01T10:00:00Z"),
        )
        .await,
    );
    assert_eq!(drifted.as_str(), "rotation_started");
}

#[tokio::test]
async fn drift_of_a_user_not_enrolled_is_skipped_and_drift_without_the_own_role_setting_is_a_config_error(
) {
    let aws = FakeAws::enrolled();
    aws.add_user("alice", None);
    let admin = "arn:aws:iam::123456789012:role/admin";
    let skipped = decision(
        decide(
            &resetter(&aws, settings(), false),
            &drift("UpdateLoginProfile", admin, "2026-01-01T10:00:00Z"),
        )
        .await,
    );
    assert_eq!(
        skipped,
        Decision::NotOurs("the user is not enrolled (no binding tag)".into())
    );
    let error = decide(
        &resetter(&aws, ResetSettings::default(), false),
        &drift("UpdateLoginProfile", admin, "2026-01-01T10:00:00Z"),
    )
    .await
    .decision
    .expect_err("no FUNCTION_ROLE_ARN");
    assert_eq!(error.error_type(), "InvalidConfig");
    assert!(error.to_string().contains("FUNCTION_ROLE_ARN"));
}

#[tokio::test]
async fn a_dry_run_decides_everything_and_writes_nothing() {
    let aws = FakeAws::enrolled();
    let dry = ResetSettings {
        dry_run: true,
        ..settings()
    };
    let resetter = resetter(&aws, dry, false);
    let report = resetter
        .handle(&on_demand(json!({"userName": "alice"})), FUNCTION)
        .await
        .expect("ok");
    assert!(report.dry_run);
    assert_eq!(
        report.decisions[0]
            .decision
            .as_ref()
            .map(Decision::as_str)
            .ok(),
        Some("rotation_started")
    );
    assert_eq!(
        decision(decide(&resetter, &login(true, &ago(0))).await).as_str(),
        "scheduled"
    );
    aws.rotation_in_progress(SECRET, SystemTime::UNIX_EPOCH);
    assert_eq!(
        decision(decide(&resetter, &on_demand(json!({"userName": "alice"}))).await).as_str(),
        "retry_scheduled"
    );
    assert!(aws.writes().is_empty(), "{:?}", aws.writes());
}

#[test]
fn a_schedule_name_is_one_per_secret_and_fits_schedulers_limit() {
    let name = schedule_name(SECRET);
    assert_eq!(name, schedule_name(SECRET));
    assert_ne!(
        name,
        schedule_name("arn:aws:secretsmanager:us-east-1:123456789012:secret:console/bob-AbCdEf")
    );
    assert!(name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
}

#[test]
fn a_qualified_function_arn_names_the_same_function() {
    assert!(same_function(&format!("{FUNCTION}:live"), FUNCTION));
    assert!(same_function(FUNCTION, &format!("{FUNCTION}:$LATEST")));
    assert!(!same_function("", FUNCTION));
    assert!(!same_function(
        "arn:aws:lambda:us-east-1:123456789012:function:iam-password-rotation-2",
        FUNCTION
    ));
}

#[tokio::test]
async fn the_functions_own_self_service_change_password_is_not_drift_but_the_users_is() {
    let aws = FakeAws::enrolled();
    let credentials = "arn:aws:secretsmanager:us-east-1:123456789012:secret:keys/alice-XyZ";
    aws.set_raw_value(
        SECRET,
        json!({"username": "alice", "password": "pw", "changePasswordCredentials": credentials}),
    );
    aws.set_raw_value(
        credentials,
        json!({"accessKeyId": "AKIAALICEKEY", "secretAccessKey": "s"}),
    );
    let change = |key: &str| {
        request(
            json!({"source": "aws.iam", "detail-type": "AWS API Call via CloudTrail", "detail": {
        "eventName": "ChangePassword", "eventTime": "2026-01-01T10:00:00Z",
        "userIdentity": {"type": "IAMUser", "userName": "alice", "accessKeyId": key,
                         "arn": "arn:aws:iam::123456789012:user/alice"}}}),
        )
    };
    let resetter = resetter(&aws, settings(), false);
    let own = decision(decide(&resetter, &change("AKIAALICEKEY")).await);
    assert_eq!(
        own,
        Decision::Skipped("the function's own ChangePassword, made with the user's key".into())
    );
    assert!(aws.writes().is_empty());
    // Someone else's change: the secret's password is no longer IAM's, and a
    // self-service rotation (ChangePassword with it as OldPassword) cannot succeed.
    let users = decide(&resetter, &change("ASIACONSOLESESSION")).await;
    assert_eq!(
        users.decision.expect_err("re-enrolment").error_type(),
        "ReenrolmentRequired"
    );
    assert!(aws.writes().is_empty());
}

#[tokio::test]
async fn a_secret_the_function_may_not_describe_is_rotated_by_another_function() {
    let aws = FakeAws::enrolled();
    let not_ours = "arn:aws:secretsmanager:us-east-1:123456789012:secret:not-ours-AbC";
    aws.add_user("alice", Some(not_ours));
    aws.0.lock().expect("state").denied.push(not_ours.into());
    let decided = decide(
        &resetter(&aws, settings(), false),
        &on_demand(json!({"userName": "alice"})),
    )
    .await;
    assert_eq!(
        decided.decision.expect_err("refused").error_type(),
        "RotatedByAnotherFunction"
    );
    let admin = "arn:aws:iam::123456789012:role/admin";
    let skipped = decision(
        decide(
            &resetter(&aws, settings(), false),
            &drift("UpdateLoginProfile", admin, "2026-01-01T10:00:00Z"),
        )
        .await,
    );
    assert_eq!(skipped.as_str(), "skipped");
}

#[tokio::test]
async fn with_a_required_reset_only_the_first_own_password_change_after_a_rotation_is_exempt() {
    let aws = FakeAws::enrolled();
    let resetter = resetter(&aws, settings(), true);
    let change = |id: &str| {
        request(
            json!({"source": "aws.iam", "detail-type": "AWS API Call via CloudTrail", "detail": {
        "eventName": "ChangePassword", "eventTime": ago(5), "eventID": id,
        "userIdentity": {"type": "IAMUser", "userName": "alice",
                         "arn": "arn:aws:iam::123456789012:user/alice"}}}),
        )
    };
    let first = decision(decide(&resetter, &change("ct-first")).await);
    assert_eq!(first.as_str(), "skipped", "{first:?}");
    // The same record delivered again is the same first change.
    let again = decision(decide(&resetter, &change("ct-first")).await);
    assert_eq!(again.as_str(), "skipped", "{again:?}");
    assert_eq!(
        aws.writes(),
        ["UpdateSecretVersionStage"],
        "the exemption is recorded once"
    );
    // Any later change is drift.
    let second = decision(decide(&resetter, &change("ct-second")).await);
    assert_eq!(second.as_str(), "rotation_started");
}
