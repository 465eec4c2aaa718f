//! The reset rule, proved over random interleavings: triggers of every kind, repeated
//! and reordered deliveries, rotations that start, stop midway and finish, schedules
//! that fire. After quiescence every trigger at `T` is followed by a rotation IAM
//! accepted that started at or after `T`, or by containment; no trigger starts two
//! rotations; a reset never starts a rotation for a user without a login profile; and
//! two rotations a trigger started are `RESET_MIN_INTERVAL_MINUTES` apart.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use serde_json::{json, Value};

use super::fakes::{FakeAws, FUNCTION, OWN_ROLE, SECRET};
use super::*;

/// What happens next in a run.
#[derive(Debug, Clone)]
enum Step {
    /// Time passes (seconds).
    Wait(u64),
    /// A new trigger of this kind, delivered now.
    Trigger(Kind),
    /// A delivery already made, made again (at-least-once delivery, reordered).
    Redeliver(usize),
    /// An administrator removes the user's console access (containment).
    DeleteLoginProfile,
    /// The rotation in progress runs `setSecret` (IAM accepts the password).
    Apply,
    /// The rotation in progress runs `finishSecret`.
    Finish,
    /// Scheduler fires every schedule that is due.
    FireDue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    SignIn,
    Read,
    Drift,
    OnDemand,
    SecurityHub,
}

const START: u64 = 1_800_000_000;

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (1u64..1800).prop_map(Step::Wait),
        2 => Just(Step::Trigger(Kind::SignIn)),
        1 => Just(Step::Trigger(Kind::Read)),
        1 => Just(Step::Trigger(Kind::Drift)),
        2 => Just(Step::Trigger(Kind::OnDemand)),
        1 => Just(Step::Trigger(Kind::SecurityHub)),
        2 => (0usize..64).prop_map(Step::Redeliver),
        1 => Just(Step::DeleteLoginProfile),
        2 => Just(Step::Apply),
        2 => Just(Step::Finish),
        2 => Just(Step::FireDue),
    ]
}

fn stamp(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

fn envelope(id: &str, at: SystemTime, source: &str, detail_type: &str, detail: Value) -> Value {
    json!({"version": "0", "id": id, "time": stamp(at), "source": source,
        "detail-type": detail_type, "detail": detail})
}

fn event(kind: Kind, id: &str, at: SystemTime) -> Value {
    let admin = json!({"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/admin/bob",
        "sessionContext": {"sessionIssuer": {"arn": "arn:aws:iam::123456789012:role/admin"}}});
    match kind {
        Kind::SignIn => envelope(
            id,
            at,
            "aws.signin",
            "AWS Console Sign In via CloudTrail",
            json!({
            "eventName": "ConsoleLogin", "eventTime": stamp(at), "eventID": format!("ct-{id}"),
            "userIdentity": {"type": "IAMUser", "userName": "alice"},
            "responseElements": {"ConsoleLogin": "Success"}}),
        ),
        Kind::Read => envelope(
            id,
            at,
            "aws.secretsmanager",
            "AWS API Call via CloudTrail",
            json!({
            "eventName": "GetSecretValue", "eventTime": stamp(at), "eventID": format!("ct-{id}"),
            "requestParameters": {"secretId": SECRET}, "userIdentity": admin}),
        ),
        Kind::Drift => envelope(
            id,
            at,
            "aws.iam",
            "AWS API Call via CloudTrail",
            json!({
            "eventName": "UpdateLoginProfile", "eventTime": stamp(at), "eventID": format!("ct-{id}"),
            "requestParameters": {"userName": "alice"}, "userIdentity": admin}),
        ),
        Kind::OnDemand => envelope(
            id,
            at,
            "iam-password-rotation",
            "IAM Password Reset Requested",
            json!({"userName": "alice"}),
        ),
        Kind::SecurityHub => envelope(
            id,
            at,
            "aws.securityhub",
            "Security Hub Findings - Custom Action",
            json!({"findings": [{"Resources": [{"Type": "AwsIamUser",
                "Id": "arn:aws:iam::123456789012:user/alice"}]}]}),
        ),
    }
}

fn delete_login_profile(id: &str, at: SystemTime) -> Value {
    envelope(
        id,
        at,
        "aws.iam",
        "AWS API Call via CloudTrail",
        json!({
        "eventName": "DeleteLoginProfile", "eventTime": stamp(at), "eventID": format!("ct-{id}"),
        "requestParameters": {"userName": "alice"},
        "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/admin/bob",
            "sessionContext": {"sessionIssuer": {"arn": "arn:aws:iam::123456789012:role/admin"}}}}),
    )
}

/// One run: the fakes, the resetter on the fake clock, and what the checks need.
struct World {
    aws: FakeAws,
    resetter: Resetter<FakeAws, FakeAws, FakeAws>,
    runtime: tokio::runtime::Runtime,
    /// Every payload delivered so far, for redelivery.
    delivered: Vec<Value>,
    /// Trigger time of each trigger (by event id).
    triggers: HashMap<String, SystemTime>,
    /// Rotations started, by the delivery that started them (its id or schedule input).
    started_by: HashMap<String, u32>,
    /// Creation times of the rotations the resetter started.
    starts: Vec<SystemTime>,
    /// When the login profile was deleted.
    contained: Option<SystemTime>,
    /// A reset gave up (documented refusal).
    exhausted: bool,
    problems: Vec<String>,
    next_id: u32,
}

impl World {
    fn new() -> Self {
        let aws = FakeAws::enrolled();
        aws.set_now(SystemTime::UNIX_EPOCH + Duration::from_secs(START));
        aws.with_secret(SECRET, |secret| {
            secret.versions[0].created =
                Some(SystemTime::UNIX_EPOCH + Duration::from_secs(START - 86_400));
        });
        let settings = ResetSettings {
            function_role_arn: Some(OWN_ROLE.into()),
            ..ResetSettings::default()
        };
        let resetter = Resetter::new(aws.clone(), aws.clone(), aws.clone(), settings, false)
            .with_clock(aws.clock());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        Self {
            aws,
            resetter,
            runtime,
            delivered: Vec::new(),
            triggers: HashMap::new(),
            started_by: HashMap::new(),
            starts: Vec::new(),
            contained: None,
            exhausted: false,
            problems: Vec::new(),
            next_id: 0,
        }
    }

    fn now(&self) -> SystemTime {
        self.aws.now()
    }

    fn wait(&self, seconds: u64) {
        self.aws.set_now(self.now() + Duration::from_secs(seconds));
    }

    fn deliver(&mut self, payload: &Value) {
        let request = ResetRequest::from_value(payload).expect("a valid event");
        let key = match request.attempt {
            Some(_) => payload.to_string(),
            None => payload["id"].as_str().unwrap_or_default().to_owned(),
        };
        let report = self
            .runtime
            .block_on(self.resetter.handle(&request, FUNCTION))
            .expect("a report");
        for decided in report.decisions {
            match decided.decision {
                Ok(Decision::RotationStarted(version)) => {
                    if !self.aws.has_profile("alice") {
                        self.problems.push(format!(
                            "rotation {version} started for a user without a login profile"
                        ));
                    }
                    let count = self.started_by.entry(key.clone()).or_default();
                    *count += 1;
                    if *count > 1 {
                        self.problems
                            .push(format!("delivery {key} started a second rotation"));
                    }
                    self.starts.push(self.now());
                }
                Err(RotationError::ResetRetriesExhausted { .. }) => self.exhausted = true,
                Err(error) => self.problems.push(format!("error: {error}")),
                Ok(_) => {}
            }
        }
    }

    fn run(&mut self, step: &Step) {
        match step {
            Step::Wait(seconds) => self.wait(*seconds),
            Step::Trigger(kind) => {
                self.next_id += 1;
                let id = format!("ev-{}", self.next_id);
                let payload = event(*kind, &id, self.now());
                self.triggers.insert(id, self.now());
                self.delivered.push(payload.clone());
                self.deliver(&payload);
            }
            Step::Redeliver(index) if !self.delivered.is_empty() => {
                let payload = self.delivered[index % self.delivered.len()].clone();
                self.deliver(&payload);
            }
            Step::Redeliver(_) => {}
            Step::DeleteLoginProfile => {
                self.next_id += 1;
                self.aws.set_profile("alice", false);
                self.contained.get_or_insert(self.now());
                let payload = delete_login_profile(&format!("ev-{}", self.next_id), self.now());
                self.delivered.push(payload.clone());
                self.deliver(&payload);
            }
            Step::Apply => {
                self.aws.apply_pending(SECRET);
            }
            Step::Finish => {
                self.aws.finish_pending(SECRET);
            }
            Step::FireDue => self.fire_due(),
        }
    }

    fn fire_due(&mut self) {
        let now = self.now();
        for schedule in self.aws.schedules() {
            if schedule.at <= now {
                let payload: Value = serde_json::from_str(&schedule.input).expect("json input");
                self.delivered.push(payload.clone());
                self.deliver(&payload);
            }
        }
    }

    /// Runs every rotation to its end (Secrets Manager retries a stopped one) and every
    /// schedule as it comes due, until nothing is left.
    fn quiesce(&mut self) {
        for _ in 0..200 {
            self.aws.apply_pending(SECRET);
            self.aws.finish_pending(SECRET);
            let Some(next) = self.aws.schedules().iter().map(|s| s.at).min() else {
                return;
            };
            if next > self.now() {
                self.aws.set_now(next);
            }
            self.fire_due();
        }
        self.problems.push("no quiescence after 200 rounds".into());
    }

    fn check(mut self) -> Vec<String> {
        self.quiesce();
        let finished = self.aws.finished_rotations(SECRET);
        for (id, at) in &self.triggers {
            let covered = finished.iter().any(|created| created >= at);
            let contained = self.contained.is_some();
            if !covered && !contained && !self.exhausted {
                self.problems.push(format!(
                    "trigger {id} at {} is covered by no rotation IAM accepted",
                    stamp(*at)
                ));
            }
        }
        let interval = ResetSettings::default().min_interval;
        for pair in self.starts.windows(2) {
            if pair[1] < pair[0] + interval {
                self.problems.push(format!(
                    "rotations started at {} and {}: closer than the minimum interval",
                    stamp(pair[0]),
                    stamp(pair[1])
                ));
            }
        }
        self.problems
    }
}

/// Cases per `cargo test` run; `PROPTEST_CASES` overrides it. About 7 s in a debug build.
/// With the schedule taking only its first trigger and any newer version covering it, a
/// failing case turns up after about 15 cases (4–32 in ten runs); 512 found one in every
/// one of 20 runs.
const CASES: u32 = 512;

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(CASES),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_trigger_is_followed_by_a_rotation_iam_accepted_or_by_containment(
        steps in proptest::collection::vec(step(), 1..48)
    ) {
        let mut world = World::new();
        for step in &steps {
            world.run(step);
        }
        let problems = world.check();
        prop_assert!(problems.is_empty(), "{problems:#?}");
    }
}
