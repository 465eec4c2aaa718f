//! Request shapes of the SDK adapters, checked with `aws-smithy-mocks`: what each
//! port call sends to AWS, and how AWS's answers map back to the port.

use std::time::Duration;

use aws_sdk_iam::config::retry::RetryConfig;
use aws_sdk_iam::operation::generate_credential_report::GenerateCredentialReportOutput;
use aws_sdk_iam::operation::get_account_authorization_details::GetAccountAuthorizationDetailsOutput;
use aws_sdk_iam::operation::get_account_password_policy::GetAccountPasswordPolicyOutput;
use aws_sdk_iam::operation::get_credential_report::GetCredentialReportOutput;
use aws_sdk_iam::operation::get_user::{GetUserError, GetUserOutput};
use aws_sdk_iam::operation::update_login_profile::UpdateLoginProfileOutput;
use aws_sdk_iam::types::{EntityType, PasswordPolicy as AwsPasswordPolicy, Tag, User, UserDetail};
use aws_sdk_lambda::operation::invoke::InvokeOutput;
use aws_sdk_lambda::types::InvocationType;
use aws_sdk_organizations::operation::describe_account::{
    DescribeAccountError, DescribeAccountOutput,
};
use aws_sdk_organizations::operation::list_accounts::ListAccountsOutput;
use aws_sdk_organizations::types::error::AccountNotFoundException;
use aws_sdk_organizations::types::{Account as OrgAccount, AccountStatus};
use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use aws_sdk_secretsmanager::operation::list_secrets::ListSecretsOutput;
use aws_sdk_secretsmanager::operation::put_secret_value::{
    PutSecretValueError, PutSecretValueOutput,
};
use aws_sdk_secretsmanager::operation::update_secret_version_stage::UpdateSecretVersionStageOutput;
use aws_sdk_secretsmanager::types::error::{ResourceExistsException, ResourceNotFoundException};
use aws_sdk_secretsmanager::types::RotationRulesType;
use aws_sdk_secretsmanager::types::SecretListEntry;
use aws_sdk_sts::operation::assume_role::AssumeRoleOutput;
use aws_sdk_sts::types::Credentials as StsCredentials;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use iam_password_rotation::accounts::ports::MemberAccounts;
use iam_password_rotation::accounts::{Account, MemberRoleSettings};
use iam_password_rotation::adapters::iam::with_retry_classifiers;
use iam_password_rotation::adapters::{AssumedRoles, IamLoginProfiles, SecretsManagerStore};
use iam_password_rotation::audit::ports::{CredentialReports, SecretInventory, UserDirectory};
use iam_password_rotation::password::CharClass;
use iam_password_rotation::ports::{
    AccessKey, LoginProfiles, PutOutcome, SecretStore, SelfService,
};
use secrecy::SecretString;

const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:demo-AbCdEf";
const TOKEN: &str = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

fn iam_error(status: u16, code: &str) -> HttpResponse {
    let body = format!(
        "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type>\
         <Code>{code}</Code><Message>{code} happened</Message></Error><RequestId>r-1</RequestId></ErrorResponse>"
    );
    HttpResponse::new(
        StatusCode::try_from(status).expect("status"),
        SdkBody::from(body),
    )
}

#[tokio::test]
async fn put_pending_sends_the_token_the_pending_stage_and_the_rotation_token() {
    let rule = mock!(aws_sdk_secretsmanager::Client::put_secret_value)
        .match_requests(|req| {
            req.secret_id() == Some(ARN)
                && req.client_request_token() == Some("tok-1")
                && req.secret_string() == Some("{\"username\":\"alice\"}")
                && req.version_stages() == ["AWSPENDING".to_owned()]
                && req.rotation_token() == Some("rt-1")
        })
        .then_output(|| PutSecretValueOutput::builder().build());
    let store = SecretsManagerStore::new(mock_client!(aws_sdk_secretsmanager, [&rule]));
    let outcome = store
        .put_pending(
            ARN,
            "tok-1",
            &SecretString::from("{\"username\":\"alice\"}"),
            Some(&SecretString::from("rt-1")),
        )
        .await
        .expect("stored");
    assert_eq!(outcome, PutOutcome::Stored);
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn put_pending_without_a_rotation_token_sends_none() {
    let rule = mock!(aws_sdk_secretsmanager::Client::put_secret_value)
        .match_requests(|req| req.rotation_token().is_none())
        .then_output(|| PutSecretValueOutput::builder().build());
    let store = SecretsManagerStore::new(mock_client!(aws_sdk_secretsmanager, [&rule]));
    store
        .put_pending(ARN, "tok-1", &SecretString::from("{}"), None)
        .await
        .expect("stored");
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn a_token_conflict_on_put_is_reported_as_already_existing() {
    let rule = mock!(aws_sdk_secretsmanager::Client::put_secret_value).then_error(|| {
        PutSecretValueError::ResourceExistsException(
            ResourceExistsException::builder().message("exists").build(),
        )
    });
    let store = SecretsManagerStore::new(mock_client!(aws_sdk_secretsmanager, [&rule]));
    let outcome = store
        .put_pending(ARN, "tok-1", &SecretString::from("{}"), None)
        .await
        .expect("no error");
    assert_eq!(outcome, PutOutcome::AlreadyExists);
}

#[tokio::test]
async fn a_version_without_value_reads_as_none() {
    let rule = mock!(aws_sdk_secretsmanager::Client::get_secret_value)
        .match_requests(|req| req.secret_id() == Some(ARN) && req.version_id() == Some("tok-1"))
        .then_error(|| {
            GetSecretValueError::ResourceNotFoundException(
                ResourceNotFoundException::builder().build(),
            )
        });
    let store = SecretsManagerStore::new(mock_client!(aws_sdk_secretsmanager, [&rule]));
    assert!(store
        .get_version(ARN, "tok-1")
        .await
        .expect("no error")
        .is_none());
}

#[tokio::test]
async fn describe_maps_rotation_and_version_stages() {
    let rule = mock!(aws_sdk_secretsmanager::Client::describe_secret).then_output(|| {
        DescribeSecretOutput::builder()
            .arn(ARN)
            .rotation_enabled(true)
            .version_ids_to_stages("v1", vec!["AWSCURRENT".into()])
            .version_ids_to_stages("tok-1", vec!["AWSPENDING".into(), "IAM_APPLIED".into()])
            .rotation_rules(
                RotationRulesType::builder()
                    .schedule_expression("rate(10 days)")
                    .automatically_after_days(10)
                    .build(),
            )
            .build()
    });
    let store = SecretsManagerStore::new(mock_client!(aws_sdk_secretsmanager, [&rule]));
    let metadata = SecretStore::describe(&store, "demo")
        .await
        .expect("described");
    assert_eq!(metadata.arn, ARN);
    assert!(metadata.rotation_enabled);
    assert_eq!(metadata.version_with("AWSPENDING"), Some("tok-1"));
    assert!(metadata.has_stage("v1", "AWSCURRENT"));
    assert!(metadata.has_stage("tok-1", "IAM_APPLIED"));
    assert_eq!(metadata.rotation_rules.interval_hours(), Some(240));
}

#[tokio::test]
async fn update_stage_sends_move_and_remove_version_ids() {
    let rule = mock!(aws_sdk_secretsmanager::Client::update_secret_version_stage)
        .match_requests(|req| {
            req.secret_id() == Some(ARN)
                && req.version_stage() == Some("AWSCURRENT")
                && req.move_to_version_id() == Some("tok-1")
                && req.remove_from_version_id() == Some("v1")
        })
        .then_output(|| UpdateSecretVersionStageOutput::builder().build());
    let store = SecretsManagerStore::new(mock_client!(aws_sdk_secretsmanager, [&rule]));
    store
        .update_stage(ARN, "AWSCURRENT", Some("tok-1"), Some("v1"))
        .await
        .expect("moved");
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn update_login_profile_sends_user_password_and_reset_flag() {
    let rule = mock!(aws_sdk_iam::Client::update_login_profile)
        .match_requests(|req| {
            req.user_name() == Some("alice")
                && req.password() == Some("New-pass-1!")
                && req.password_reset_required() == Some(true)
        })
        .then_output(|| UpdateLoginProfileOutput::builder().build());
    let iam = IamLoginProfiles::new(mock_client!(aws_sdk_iam, [&rule]));
    iam.update_login_profile("alice", Some(&SecretString::from("New-pass-1!")), true)
        .await
        .expect("updated");
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn a_flag_only_update_sends_no_password() {
    let rule = mock!(aws_sdk_iam::Client::update_login_profile)
        .match_requests(|req| {
            req.password().is_none() && req.password_reset_required() == Some(false)
        })
        .then_output(|| UpdateLoginProfileOutput::builder().build());
    let iam = IamLoginProfiles::new(mock_client!(aws_sdk_iam, [&rule]));
    iam.update_login_profile("alice", None, false)
        .await
        .expect("updated");
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn documented_update_login_profile_errors_map_to_their_own_variants() {
    for (status, code, expected) in [
        (404, "NoSuchEntity", "LoginProfileMissing"),
        (400, "PasswordPolicyViolation", "PasswordPolicyViolation"),
        (409, "LimitExceeded", "LimitExceeded"),
        (500, "ServiceFailure", "AwsApiError"),
    ] {
        let rule = mock!(aws_sdk_iam::Client::update_login_profile)
            .sequence()
            .http_response(move || iam_error(status, code))
            .repeatedly()
            .build();
        let client = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&rule], |c| c
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(2)
                    .with_initial_backoff(Duration::from_millis(1))
            ));
        let error = IamLoginProfiles::new(client)
            .update_login_profile("alice", Some(&SecretString::from("pw-never-echoed")), false)
            .await
            .expect_err("fails");
        assert_eq!(error.error_type(), expected, "{code}");
        assert!(!error.to_string().contains("pw-never-echoed"));
        if expected == "AwsApiError" {
            assert!(error.to_string().contains("ServiceFailure"), "{error}");
        }
    }
}

#[tokio::test]
async fn entity_temporarily_unmodifiable_is_retried_by_the_sdk() {
    let rule = mock!(aws_sdk_iam::Client::update_login_profile)
        .sequence()
        .http_response(|| iam_error(409, "EntityTemporarilyUnmodifiable"))
        .times(2)
        .output(|| UpdateLoginProfileOutput::builder().build())
        .build();
    let client = mock_client!(aws_sdk_iam, RuleMode::Sequential, [&rule], |c| {
        with_retry_classifiers(c).retry_config(
            RetryConfig::standard()
                .with_max_attempts(5)
                .with_initial_backoff(Duration::from_millis(1)),
        )
    });
    IamLoginProfiles::new(client)
        .update_login_profile("alice", Some(&SecretString::from("New-pass-1!")), false)
        .await
        .expect("succeeds after retries");
    assert_eq!(rule.num_calls(), 3);
}

#[tokio::test]
async fn entity_temporarily_unmodifiable_through_every_retry_is_its_own_error() {
    let rule = mock!(aws_sdk_iam::Client::update_login_profile)
        .sequence()
        .http_response(|| iam_error(409, "EntityTemporarilyUnmodifiable"))
        .repeatedly()
        .build();
    let client = mock_client!(aws_sdk_iam, RuleMode::Sequential, [&rule], |c| {
        with_retry_classifiers(c).retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(1)),
        )
    });
    let error = IamLoginProfiles::new(client)
        .update_login_profile("alice", Some(&SecretString::from("New-pass-1!")), false)
        .await
        .expect_err("gives up");
    assert_eq!(error.error_type(), "EntityTemporarilyUnmodifiable");
    assert_eq!(rule.num_calls(), 3);
}

#[tokio::test]
async fn get_user_returns_the_tags_and_maps_a_missing_user() {
    let found = mock!(aws_sdk_iam::Client::get_user)
        .match_requests(|req| req.user_name() == Some("alice"))
        .then_output(|| {
            let tag = Tag::builder()
                .key("password-rotation:secret-arn")
                .value(ARN)
                .build()
                .expect("tag");
            let user = User::builder()
                .path("/")
                .user_name("alice")
                .user_id("AIDA1")
                .arn("arn:aws:iam::123456789012:user/alice")
                .create_date(aws_smithy_types::DateTime::from_secs(0))
                .tags(tag)
                .build()
                .expect("user");
            GetUserOutput::builder().user(user).build()
        });
    let missing = mock!(aws_sdk_iam::Client::get_user).then_error(|| {
        GetUserError::NoSuchEntityException(
            aws_sdk_iam::types::error::NoSuchEntityException::builder().build(),
        )
    });
    let iam = IamLoginProfiles::new(mock_client!(
        aws_sdk_iam,
        RuleMode::Sequential,
        [&found, &missing]
    ));
    let user = iam.get_user("alice").await.expect("found");
    assert_eq!(
        user.tags
            .get("password-rotation:secret-arn")
            .map(String::as_str),
        Some(ARN)
    );
    assert_eq!(
        iam.get_user("ghost")
            .await
            .expect_err("missing")
            .error_type(),
        "UserNotFound"
    );
}

#[tokio::test]
async fn the_account_policy_maps_to_classes_length_and_reuse() {
    let rule = mock!(aws_sdk_iam::Client::get_account_password_policy).then_output(|| {
        GetAccountPasswordPolicyOutput::builder()
            .password_policy(
                AwsPasswordPolicy::builder()
                    .minimum_password_length(20)
                    .require_symbols(true)
                    .require_numbers(true)
                    .password_reuse_prevention(5)
                    .max_password_age(45)
                    .hard_expiry(true)
                    .build(),
            )
            .build()
    });
    let iam = IamLoginProfiles::new(mock_client!(aws_sdk_iam, [&rule]));
    let policy = iam.password_policy().await.expect("read").expect("present");
    assert_eq!(policy.minimum_length, 20);
    assert_eq!(policy.reuse_prevention, 5);
    assert_eq!(policy.max_password_age_days, Some(45));
    assert!(policy.hard_expiry);
    assert_eq!(
        policy.required_classes.into_iter().collect::<Vec<_>>(),
        vec![CharClass::Number, CharClass::Symbol]
    );
}

#[tokio::test]
async fn no_account_policy_reads_as_none() {
    let rule = mock!(aws_sdk_iam::Client::get_account_password_policy)
        .sequence()
        .http_response(|| iam_error(404, "NoSuchEntity"))
        .build();
    let iam = IamLoginProfiles::new(mock_client!(aws_sdk_iam, [&rule]));
    assert!(iam.password_policy().await.expect("read").is_none());
}

// ---- event-triggered resets: RotateSecret, ListSecretVersionIds, Scheduler, PutEvents ----

use aws_sdk_eventbridge::operation::put_events::PutEventsOutput;
use aws_sdk_eventbridge::types::PutEventsResultEntry;
use aws_sdk_scheduler::operation::create_schedule::{CreateScheduleError, CreateScheduleOutput};
use aws_sdk_scheduler::operation::delete_schedule::DeleteScheduleError;
use aws_sdk_scheduler::types::error::{
    ConflictException, ResourceNotFoundException as ScheduleNotFound,
};
use aws_sdk_scheduler::types::{ActionAfterCompletion, FlexibleTimeWindowMode};
use aws_sdk_secretsmanager::operation::list_secret_version_ids::ListSecretVersionIdsOutput;
use aws_sdk_secretsmanager::operation::rotate_secret::{RotateSecretError, RotateSecretOutput};
use aws_sdk_secretsmanager::types::error::InvalidRequestException;
use aws_sdk_secretsmanager::types::SecretVersionsListEntry;
use iam_password_rotation::adapters::{EventBridgeOutcomes, EventBridgeSchedules};
use iam_password_rotation::outcome::{OutcomeEvent, OutcomeEvents, RESET_DECISION};
use iam_password_rotation::reset::ports::{
    OneTimeSchedule, RotateOutcome, RotationControl, ScheduleOutcome, Schedules,
};
use iam_password_rotation::reset::settings::SchedulerSettings;

#[tokio::test]
async fn rotate_secret_starts_a_rotation_and_a_previous_rotation_in_progress_is_told_apart() {
    let started = mock!(aws_sdk_secretsmanager::Client::rotate_secret)
        .match_requests(|req| {
            req.secret_id() == Some(ARN)
                && req.rotation_lambda_arn().is_none()
                && req.client_request_token() == Some(TOKEN)
        })
        .then_output(|| RotateSecretOutput::builder().version_id("v-9").build());
    let store = SecretsManagerStore::new(mock_client!(aws_sdk_secretsmanager, [&started]));
    assert_eq!(
        store.rotate(ARN, TOKEN).await.expect("ok"),
        RotateOutcome::Started("v-9".into())
    );

    let in_progress = mock!(aws_sdk_secretsmanager::Client::rotate_secret).then_error(|| {
        RotateSecretError::InvalidRequestException(
            InvalidRequestException::builder()
                .message("A previous rotation isn't complete. That rotation will be reattempted.")
                .build(),
        )
    });
    let store = SecretsManagerStore::new(mock_client!(aws_sdk_secretsmanager, [&in_progress]));
    assert_eq!(
        store.rotate(ARN, TOKEN).await.expect("ok"),
        RotateOutcome::InProgress
    );

    let other = mock!(aws_sdk_secretsmanager::Client::rotate_secret).then_error(|| {
        RotateSecretError::InvalidRequestException(
            InvalidRequestException::builder()
                .message("the secret is marked deleted")
                .build(),
        )
    });
    let store = SecretsManagerStore::new(mock_client!(aws_sdk_secretsmanager, [&other]));
    assert_eq!(
        store
            .rotate(ARN, TOKEN)
            .await
            .expect_err("error")
            .error_type(),
        "AwsApiError"
    );

    let exists = mock!(aws_sdk_secretsmanager::Client::rotate_secret).then_error(|| {
        RotateSecretError::generic(
            aws_smithy_types::error::ErrorMetadata::builder()
                .code("ResourceExistsException")
                .message("You can't use ClientRequestToken because that value is already in use")
                .build(),
        )
    });
    let store = SecretsManagerStore::new(mock_client!(aws_sdk_secretsmanager, [&exists]));
    assert_eq!(
        store.rotate(ARN, TOKEN).await.expect("ok"),
        RotateOutcome::AlreadyStarted
    );
}

#[tokio::test]
async fn list_secret_version_ids_gives_stages_and_creation_times() {
    let rule = mock!(aws_sdk_secretsmanager::Client::list_secret_version_ids).then_output(|| {
        ListSecretVersionIdsOutput::builder()
            .versions(
                SecretVersionsListEntry::builder()
                    .version_id("v1")
                    .version_stages("AWSCURRENT")
                    .created_date(aws_smithy_types::DateTime::from_secs(1_800_000_000))
                    .build(),
            )
            .build()
    });
    let store = SecretsManagerStore::new(mock_client!(aws_sdk_secretsmanager, [&rule]));
    let versions = store.versions(ARN).await.expect("listed");
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].stages, vec!["AWSCURRENT".to_owned()]);
    assert_eq!(
        versions[0].created,
        Some(std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000))
    );
}

fn scheduler_settings() -> SchedulerSettings {
    SchedulerSettings {
        group: Some("resets".into()),
        role_arn: Some("arn:aws:iam::123456789012:role/scheduler".into()),
        dead_letter_arn: Some("arn:aws:sqs:us-east-1:123456789012:dlq".into()),
    }
}

fn one_time() -> OneTimeSchedule {
    OneTimeSchedule {
        name: "reset-0123".into(),
        at: std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        target_arn: "arn:aws:lambda:us-east-1:123456789012:function:f".into(),
        input: "{\"source\":\"iam-password-rotation\"}".into(),
    }
}

#[tokio::test]
async fn a_one_time_schedule_fires_once_at_its_time_invokes_the_function_and_deletes_itself() {
    let rule = mock!(aws_sdk_scheduler::Client::create_schedule)
        .match_requests(|req| {
            let target = req.target().expect("target");
            req.name() == Some("reset-0123")
                && req.group_name() == Some("resets")
                && req.schedule_expression() == Some("at(2027-01-15T08:00:00)")
                && req.schedule_expression_timezone() == Some("UTC")
                && req.flexible_time_window().map(|w| w.mode())
                    == Some(&FlexibleTimeWindowMode::Off)
                && req.action_after_completion() == Some(&ActionAfterCompletion::None)
                && target.arn() == "arn:aws:lambda:us-east-1:123456789012:function:f"
                && target.role_arn() == "arn:aws:iam::123456789012:role/scheduler"
                && target.input() == Some("{\"source\":\"iam-password-rotation\"}")
        })
        .then_output(|| {
            CreateScheduleOutput::builder()
                .schedule_arn("arn:s")
                .build()
                .expect("output")
        });
    let schedules = EventBridgeSchedules::new(
        mock_client!(aws_sdk_scheduler, [&rule]),
        scheduler_settings(),
    );
    assert_eq!(
        schedules.create(&one_time()).await.expect("created"),
        ScheduleOutcome::Created
    );
}

#[tokio::test]
async fn a_one_time_schedule_retries_for_an_hour_then_sends_the_invocation_to_the_dead_letter_queue(
) {
    let rule = mock!(aws_sdk_scheduler::Client::create_schedule)
        .match_requests(|req| {
            let target = req.target().expect("target");
            let retry = target.retry_policy().expect("a retry policy");
            retry.maximum_retry_attempts() == Some(20)
                && retry.maximum_event_age_in_seconds() == Some(3600)
                && target.dead_letter_config().and_then(|d| d.arn())
                    == Some("arn:aws:sqs:us-east-1:123456789012:dlq")
        })
        .then_output(|| {
            CreateScheduleOutput::builder()
                .schedule_arn("arn:s")
                .build()
                .expect("output")
        });
    let schedules = EventBridgeSchedules::new(
        mock_client!(aws_sdk_scheduler, [&rule]),
        scheduler_settings(),
    );
    assert_eq!(
        schedules.create(&one_time()).await.expect("created"),
        ScheduleOutcome::Created
    );
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn an_existing_schedule_is_reported_as_such_and_a_missing_one_deletes_fine() {
    let conflict = mock!(aws_sdk_scheduler::Client::create_schedule).then_error(|| {
        CreateScheduleError::ConflictException(
            ConflictException::builder()
                .message("exists")
                .build()
                .expect("e"),
        )
    });
    let schedules = EventBridgeSchedules::new(
        mock_client!(aws_sdk_scheduler, [&conflict]),
        scheduler_settings(),
    );
    assert_eq!(
        schedules.create(&one_time()).await.expect("ok"),
        ScheduleOutcome::AlreadyExists
    );

    let missing = mock!(aws_sdk_scheduler::Client::delete_schedule)
        .match_requests(|req| {
            req.name() == Some("reset-0123") && req.group_name() == Some("resets")
        })
        .then_error(|| {
            DeleteScheduleError::ResourceNotFoundException(
                ScheduleNotFound::builder()
                    .message("gone")
                    .build()
                    .expect("e"),
            )
        });
    let schedules = EventBridgeSchedules::new(
        mock_client!(aws_sdk_scheduler, [&missing]),
        scheduler_settings(),
    );
    schedules
        .delete("reset-0123")
        .await
        .expect("a missing schedule is fine");
}

#[tokio::test]
async fn scheduling_without_a_group_or_role_is_a_configuration_error_before_any_call() {
    let rule = mock!(aws_sdk_scheduler::Client::create_schedule).then_output(|| {
        CreateScheduleOutput::builder()
            .schedule_arn("arn:s")
            .build()
            .expect("output")
    });
    let schedules = EventBridgeSchedules::new(
        mock_client!(aws_sdk_scheduler, [&rule]),
        SchedulerSettings::default(),
    );
    let error = schedules
        .create(&one_time())
        .await
        .expect_err("not configured");
    assert_eq!(error.error_type(), "InvalidConfig");
    assert!(
        error.to_string().contains("SCHEDULE_GROUP")
            && error.to_string().contains("SCHEDULER_ROLE_ARN")
    );
    assert_eq!(rule.num_calls(), 0);
}

fn decision_event() -> OutcomeEvent {
    OutcomeEvent {
        detail_type: RESET_DECISION,
        user: Some("alice".into()),
        secret_arn: Some(ARN.into()),
        version: None,
        trigger: "drift".into(),
        principal: Some("arn:aws:sts::123456789012:assumed-role/admin/bob".into()),
        event_id: Some("ct-1".into()),
        decision: "rotation_started".into(),
        error_type: None,
        ..OutcomeEvent::default()
    }
}

#[tokio::test]
async fn outcome_events_go_to_the_named_bus_with_their_detail() {
    let rule = mock!(aws_sdk_eventbridge::Client::put_events)
        .match_requests(|req| {
            let entry = &req.entries()[0];
            let detail: serde_json::Value =
                serde_json::from_str(entry.detail().unwrap_or("{}")).expect("json detail");
            entry.event_bus_name() == Some("outcomes")
                && entry.source() == Some("iam-password-rotation")
                && entry.detail_type() == Some("IAM Password Reset Decision")
                && detail["user"] == "alice"
                && detail["secretArn"] == ARN
                && detail["eventId"] == "ct-1"
                && detail["decision"] == "rotation_started"
                && detail.get("errorType").is_none()
        })
        .then_output(|| PutEventsOutput::builder().failed_entry_count(0).build());
    let outcomes = EventBridgeOutcomes::new(
        mock_client!(aws_sdk_eventbridge, [&rule]),
        Some("outcomes".into()),
    );
    outcomes
        .publish(&[decision_event()])
        .await
        .expect("published");
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn no_bus_publishes_nothing_and_a_failed_entry_is_an_error() {
    let rule = mock!(aws_sdk_eventbridge::Client::put_events).then_output(|| {
        PutEventsOutput::builder()
            .failed_entry_count(1)
            .entries(
                PutEventsResultEntry::builder()
                    .error_code("ResourceNotFoundException")
                    .build(),
            )
            .build()
    });
    let silent = EventBridgeOutcomes::new(mock_client!(aws_sdk_eventbridge, [&rule]), None);
    silent
        .publish(&[decision_event()])
        .await
        .expect("nothing to do");
    assert_eq!(rule.num_calls(), 0);
    let outcomes = EventBridgeOutcomes::new(
        mock_client!(aws_sdk_eventbridge, [&rule]),
        Some("gone".into()),
    );
    let error = outcomes
        .publish(&[decision_event()])
        .await
        .expect_err("failed entry");
    assert!(error.to_string().contains("ResourceNotFoundException"));
}

fn member_settings() -> MemberRoleSettings {
    MemberRoleSettings::new("rotation-member", "o-abc123def4", Some("central-rotation"))
        .expect("valid")
}

fn member(id: &str) -> Account {
    Account {
        partition: "aws".into(),
        id: id.into(),
    }
}

fn assumed(expires_in: Duration) -> AssumeRoleOutput {
    let expiration = std::time::SystemTime::now() + expires_in;
    AssumeRoleOutput::builder()
        .credentials(
            StsCredentials::builder()
                .access_key_id("ASIAEXAMPLE")
                .secret_access_key("secret-half")
                .session_token("session-token")
                .expiration(aws_smithy_types::DateTime::from(expiration))
                .build()
                .expect("credentials"),
        )
        .build()
}

fn sdk_config() -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .build()
}

fn roles(sts: aws_sdk_sts::Client) -> AssumedRoles<String> {
    let organizations = mock_client!(aws_sdk_organizations, []);
    AssumedRoles::with_clients(&sdk_config(), sts, organizations)
        .with_member_role(member_settings(), |_, role_arn| role_arn.to_owned())
}

#[tokio::test]
async fn a_member_role_is_assumed_once_per_account_with_the_external_id_and_the_function_as_session(
) {
    let rule = mock!(aws_sdk_sts::Client::assume_role)
        .match_requests(|req| {
            req.role_arn().is_some_and(|arn| {
                arn.starts_with("arn:aws:iam::") && arn.ends_with(":role/rotation-member")
            }) && req.external_id() == Some("o-abc123def4")
                && req.role_session_name() == Some("central-rotation")
        })
        .then_output(|| assumed(Duration::from_secs(3600)));
    let sts = mock_client!(aws_sdk_sts, RuleMode::MatchAny, [&rule]);
    let roles = roles(sts);
    assert!(roles.enabled());
    let first = roles
        .handlers(&member("222222222222"))
        .await
        .expect("assumed");
    assert_eq!(*first, "arn:aws:iam::222222222222:role/rotation-member");
    roles
        .handlers(&member("222222222222"))
        .await
        .expect("cached");
    roles
        .handlers(&member("333333333333"))
        .await
        .expect("assumed");
    roles
        .handlers(&member("333333333333"))
        .await
        .expect("cached");
    assert_eq!(rule.num_calls(), 2);
}

#[tokio::test]
async fn credentials_about_to_expire_are_renewed_before_the_next_call() {
    let rule =
        mock!(aws_sdk_sts::Client::assume_role).then_output(|| assumed(Duration::from_secs(120)));
    let sts = mock_client!(aws_sdk_sts, RuleMode::MatchAny, [&rule]);
    let roles = roles(sts);
    roles
        .handlers(&member("222222222222"))
        .await
        .expect("assumed");
    roles
        .handlers(&member("222222222222"))
        .await
        .expect("renewed");
    assert_eq!(rule.num_calls(), 2);
}

#[tokio::test]
async fn a_refused_assume_role_names_the_account_the_role_and_stss_reason() {
    let rule = mock!(aws_sdk_sts::Client::assume_role).then_http_response(|| {
        HttpResponse::new(
            StatusCode::try_from(403).expect("status"),
            SdkBody::from(
                "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
                 <Code>AccessDenied</Code><Message>not authorized to perform: sts:AssumeRole</Message></Error>\
                 <RequestId>r-1</RequestId></ErrorResponse>",
            ),
        )
    });
    let sts = mock_client!(aws_sdk_sts, [&rule]);
    let error = roles(sts)
        .handlers(&member("444444444444"))
        .await
        .expect_err("refused");
    assert_eq!(error.error_type(), "MemberRoleRefused");
    let message = error.to_string();
    assert!(
        message.contains("444444444444") && message.contains("AccessDenied"),
        "{message}"
    );
    assert!(message.contains("arn:aws:iam::444444444444:role/rotation-member"));
}

#[tokio::test]
async fn without_a_member_role_no_account_is_reached() {
    let sts = mock_client!(aws_sdk_sts, []);
    let organizations = mock_client!(aws_sdk_organizations, []);
    let roles: AssumedRoles<String> = AssumedRoles::with_clients(&sdk_config(), sts, organizations);
    assert!(!roles.enabled());
    let error = roles
        .handlers(&member("222222222222"))
        .await
        .expect_err("off");
    assert_eq!(error.error_type(), "InvalidConfig");
}

#[tokio::test]
async fn the_organisations_active_accounts_are_listed_across_pages() {
    let first = mock!(aws_sdk_organizations::Client::list_accounts)
        .match_requests(|req| req.next_token().is_none())
        .then_output(|| {
            ListAccountsOutput::builder()
                .accounts(
                    OrgAccount::builder()
                        .id("111111111111")
                        .status(AccountStatus::Active)
                        .build(),
                )
                .accounts(
                    OrgAccount::builder()
                        .id("555555555555")
                        .status(AccountStatus::Suspended)
                        .build(),
                )
                .next_token("page-2")
                .build()
        });
    let second = mock!(aws_sdk_organizations::Client::list_accounts)
        .match_requests(|req| req.next_token() == Some("page-2"))
        .then_output(|| {
            ListAccountsOutput::builder()
                .accounts(
                    OrgAccount::builder()
                        .id("222222222222")
                        .status(AccountStatus::Active)
                        .build(),
                )
                .build()
        });
    let organizations = mock_client!(aws_sdk_organizations, RuleMode::MatchAny, [&first, &second]);
    let roles: AssumedRoles<String> =
        AssumedRoles::with_clients(&sdk_config(), mock_client!(aws_sdk_sts, []), organizations);
    let accounts = roles.organization_accounts().await.expect("listed");
    assert_eq!(accounts, vec!["111111111111", "222222222222"]);
}

#[tokio::test]
async fn list_secrets_includes_secrets_being_deleted_and_maps_what_the_audit_reads() {
    let rule = mock!(aws_sdk_secretsmanager::Client::list_secrets)
        .match_requests(|req| req.include_planned_deletion() == Some(true))
        .then_output(|| {
            ListSecretsOutput::builder()
                .secret_list(
                    SecretListEntry::builder()
                        .arn(ARN)
                        .rotation_enabled(true)
                        .rotation_lambda_arn("arn:aws:lambda:us-east-1:123456789012:function:f")
                        .rotation_rules(
                            RotationRulesType::builder()
                                .automatically_after_days(30)
                                .build(),
                        )
                        .last_rotated_date(aws_smithy_types::DateTime::from_secs(1_800_000_000))
                        .secret_versions_to_stages("v1", vec!["AWSCURRENT".to_owned()])
                        .build(),
                )
                .secret_list(
                    SecretListEntry::builder()
                        .arn("arn:aws:secretsmanager:us-east-1:123456789012:secret:gone-AbCdEf")
                        .deleted_date(aws_smithy_types::DateTime::from_secs(1_800_000_000))
                        .build(),
                )
                .build()
        });
    let store = SecretsManagerStore::new(mock_client!(aws_sdk_secretsmanager, [&rule]));
    let secrets = store.list_secrets().await.expect("listed");
    assert_eq!(secrets.len(), 2);
    assert!(secrets[0].rotation_enabled && !secrets[0].deleted);
    assert_eq!(secrets[0].rotation_rules.interval_hours(), Some(720));
    assert_eq!(
        secrets[0].last_rotated,
        Some(std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000))
    );
    assert_eq!(secrets[0].versions["v1"], vec!["AWSCURRENT".to_owned()]);
    assert!(secrets[1].deleted && !secrets[1].rotation_enabled);
}

#[tokio::test(start_paused = true)]
async fn a_credential_report_being_generated_is_waited_for() {
    let generate = mock!(aws_sdk_iam::Client::generate_credential_report)
        .then_output(|| GenerateCredentialReportOutput::builder().build());
    let in_progress = mock!(aws_sdk_iam::Client::get_credential_report)
        .then_http_response(|| iam_error(404, "ReportInProgress"));
    let ready = mock!(aws_sdk_iam::Client::get_credential_report).then_output(|| {
        GetCredentialReportOutput::builder()
            .content(aws_smithy_types::Blob::new("user,arn\n"))
            .generated_time(aws_smithy_types::DateTime::from_secs(1_800_000_000))
            .build()
    });
    let iam = IamLoginProfiles::new(mock_client!(
        aws_sdk_iam,
        RuleMode::Sequential,
        [&generate, &in_progress, &ready]
    ));
    let report = iam.credential_report().await.expect("report");
    assert_eq!(report.csv, "user,arn\n");
    assert_eq!(in_progress.num_calls(), 1);
    assert_eq!(ready.num_calls(), 1);
}

#[tokio::test]
async fn whoami_sends_get_user_without_a_name_and_reads_the_account_from_the_users_arn() {
    let rule = mock!(aws_sdk_iam::Client::get_user)
        .match_requests(|req| req.user_name().is_none())
        .then_output(|| {
            let user = User::builder()
                .path("/rotated/")
                .user_name("alice")
                .user_id("AIDA1")
                .arn("arn:aws:iam::222222222222:user/rotated/alice")
                .create_date(aws_smithy_types::DateTime::from_secs(0))
                .build()
                .expect("user");
            GetUserOutput::builder().user(user).build()
        });
    let iam = IamLoginProfiles::new(mock_client!(aws_sdk_iam, [&rule]));
    let key = AccessKey {
        access_key_id: SecretString::from("AKIAALICEKEY"),
        secret_access_key: SecretString::from("alice-secret-key-material"),
    };
    let owner = iam.whoami(&key).await.expect("owner");
    assert_eq!(
        (owner.user.name.as_str(), owner.account.as_str()),
        ("alice", "222222222222")
    );
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn users_and_their_tags_are_read_a_thousand_a_page_with_the_user_filter() {
    let user = |name: &str, path: &str, tag: Option<&str>| {
        let mut detail = UserDetail::builder().user_name(name).path(path);
        if let Some(value) = tag {
            detail = detail.tags(
                Tag::builder()
                    .key("password-rotation:secret-arn")
                    .value(value)
                    .build()
                    .expect("tag"),
            );
        }
        detail.build()
    };
    let first = mock!(aws_sdk_iam::Client::get_account_authorization_details)
        .match_requests(|req| {
            req.filter() == [EntityType::User]
                && req.max_items() == Some(1000)
                && req.marker().is_none()
        })
        .then_output(move || {
            GetAccountAuthorizationDetailsOutput::builder()
                .user_detail_list(user("alice", "/", Some(ARN)))
                .is_truncated(true)
                .marker("m-2")
                .build()
        });
    let second = mock!(aws_sdk_iam::Client::get_account_authorization_details)
        .match_requests(|req| req.marker() == Some("m-2") && req.filter() == [EntityType::User])
        .then_output(move || {
            GetAccountAuthorizationDetailsOutput::builder()
                .user_detail_list(user("bob", "/ops/", None))
                .is_truncated(false)
                .build()
        });
    let iam = IamLoginProfiles::new(mock_client!(
        aws_sdk_iam,
        RuleMode::Sequential,
        [&first, &second]
    ));
    let users = iam.users_with_tags().await.expect("listed");
    assert_eq!(
        users
            .iter()
            .map(|u| (
                u.name.as_str(),
                u.path.as_str(),
                u.tags
                    .get("password-rotation:secret-arn")
                    .map(String::as_str)
            ))
            .collect::<Vec<_>>(),
        vec![("alice", "/", Some(ARN)), ("bob", "/ops/", None)]
    );
    assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
}

#[tokio::test]
async fn an_accounts_audit_is_started_as_an_asynchronous_invocation_of_the_function_itself() {
    const FUNCTION: &str = "arn:aws:lambda:us-east-1:123456789012:function:rotation";
    let invoke = mock!(aws_sdk_lambda::Client::invoke)
        .match_requests(|req| {
            req.function_name() == Some(FUNCTION)
                && req.invocation_type() == Some(&InvocationType::Event)
                && req.payload().map(|p| p.as_ref())
                    == Some(br#"{"detail":{"accounts":["222222222222"]}}"#.as_slice())
        })
        .then_output(|| InvokeOutput::builder().status_code(202).build());
    let roles =
        roles(mock_client!(aws_sdk_sts, [])).with_lambda(mock_client!(aws_sdk_lambda, [&invoke]));
    roles
        .start_audit(
            FUNCTION,
            &serde_json::json!({"detail": {"accounts": ["222222222222"]}}),
        )
        .await
        .expect("started");
    assert_eq!(invoke.num_calls(), 1);
}

#[tokio::test]
async fn an_account_is_in_the_organisation_when_describe_account_finds_it_active() {
    let active = mock!(aws_sdk_organizations::Client::describe_account)
        .match_requests(|req| req.account_id() == Some("222222222222"))
        .then_output(|| {
            DescribeAccountOutput::builder()
                .account(
                    OrgAccount::builder()
                        .id("222222222222")
                        .status(AccountStatus::Active)
                        .build(),
                )
                .build()
        });
    let suspended = mock!(aws_sdk_organizations::Client::describe_account)
        .match_requests(|req| req.account_id() == Some("555555555555"))
        .then_output(|| {
            DescribeAccountOutput::builder()
                .account(
                    OrgAccount::builder()
                        .id("555555555555")
                        .status(AccountStatus::Suspended)
                        .build(),
                )
                .build()
        });
    let unknown = mock!(aws_sdk_organizations::Client::describe_account)
        .match_requests(|req| req.account_id() == Some("444444444444"))
        .then_error(|| {
            DescribeAccountError::AccountNotFoundException(
                AccountNotFoundException::builder()
                    .message("no such account")
                    .build(),
            )
        });
    let organizations = mock_client!(
        aws_sdk_organizations,
        RuleMode::MatchAny,
        [&active, &suspended, &unknown]
    );
    let roles: AssumedRoles<String> =
        AssumedRoles::with_clients(&sdk_config(), mock_client!(aws_sdk_sts, []), organizations);
    assert!(roles
        .is_organization_account("222222222222")
        .await
        .expect("read"));
    assert!(!roles
        .is_organization_account("555555555555")
        .await
        .expect("read"));
    assert!(!roles
        .is_organization_account("444444444444")
        .await
        .expect("read"));
}
