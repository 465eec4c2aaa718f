//! The log subscriber: Lambda's advanced logging controls, without a regex engine.
//!
//! `lambda_runtime`'s default subscriber filters with `EnvFilter`, which links a
//! regex engine (0.3 MB of the binary and a slice of every build) to parse
//! `RUST_LOG`. A [`Targets`] filter reads the same `target=level` lists; only
//! span-field and regex directives, which nothing here needs, are not understood.
//!
//! The AWS SDK's DEBUG lines print the credentials of the client they describe
//! (the access key id of a user's own key, for the self-service strategy): they
//! are capped at `INFO` unless `RUST_LOG` asks for them by name.

use std::str::FromStr;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, registry};

/// Installs the global subscriber: JSON lines when `AWS_LAMBDA_LOG_FORMAT=JSON`,
/// else plain text; no timestamp (CloudWatch stamps each line) and no target.
pub fn init() {
    let filter = filter(
        std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref(),
        std::env::var("RUST_LOG").ok().as_deref(),
    );
    let lines = fmt::layer()
        .with_target(false)
        .without_time()
        .with_writer(std::io::stdout);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT")
        .is_ok_and(|format| format.eq_ignore_ascii_case("json"));
    if json {
        registry().with(lines.json()).with(filter).init();
    } else {
        registry().with(lines).with(filter).init();
    }
}

/// The AWS SDK's crates, whose DEBUG and TRACE lines print the configuration they
/// resolve, a user's access key id among it (`Credentials { access_key_id: .. }`).
const SDK_TARGETS: [&str; 4] = ["aws_smithy", "aws_sdk", "aws_config", "aws_runtime"];

/// The filter from Lambda's log level and `RUST_LOG`: `RUST_LOG`'s per-target
/// directives apply; the default level is `AWS_LAMBDA_LOG_LEVEL` when set (Lambda's
/// setting wins, as in `lambda_runtime`), else `RUST_LOG`'s, else `INFO`. The SDK's
/// own lines stop at `INFO` whatever the default, unless `RUST_LOG` names an SDK
/// target itself (`RUST_LOG=aws_smithy_runtime=debug`: an explicit choice to see
/// them, credentials included). A value that does not parse is ignored rather than
/// refused: logging must not stop a rotation.
pub fn filter(lambda_level: Option<&str>, rust_log: Option<&str>) -> Targets {
    let directives = rust_log
        .and_then(|value| Targets::from_str(value).ok())
        .unwrap_or_default();
    let default = lambda_level
        .and_then(|level| LevelFilter::from_str(level).ok())
        .or_else(|| directives.default_level())
        .unwrap_or(LevelFilter::INFO);
    let named = |prefix: &str| {
        directives
            .iter()
            .any(|(target, _)| target.starts_with(prefix) || prefix.starts_with(target))
    };
    let capped: Vec<&str> = SDK_TARGETS
        .into_iter()
        .filter(|prefix| !named(prefix))
        .collect();
    capped
        .into_iter()
        .fold(directives.with_default(default), |targets, prefix| {
            targets.with_target(prefix, default.min(LevelFilter::INFO))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn info_is_the_default_when_nothing_is_set() {
        let filter = filter(None, None);
        assert!(filter.would_enable("iam_password_rotation", &Level::INFO));
        assert!(!filter.would_enable("iam_password_rotation", &Level::DEBUG));
    }

    #[test]
    fn lambdas_log_level_wins_over_rust_logs_default() {
        let filter = filter(Some("WARN"), Some("debug"));
        assert!(filter.would_enable("iam_password_rotation", &Level::WARN));
        assert!(!filter.would_enable("iam_password_rotation", &Level::INFO));
    }

    #[test]
    fn rust_logs_per_target_directives_still_apply_under_lambdas_level() {
        let filter = filter(Some("INFO"), Some("aws_smithy_runtime=debug"));
        assert!(filter.would_enable("aws_smithy_runtime::client", &Level::DEBUG));
        assert!(!filter.would_enable("iam_password_rotation", &Level::DEBUG));
    }

    #[test]
    fn rust_log_sets_the_level_when_lambda_does_not() {
        let filter = filter(None, Some("debug"));
        assert!(filter.would_enable("iam_password_rotation", &Level::DEBUG));
    }

    #[test]
    fn the_sdks_own_lines_stop_at_info_at_lambdas_debug_and_trace_levels() {
        for level in ["DEBUG", "TRACE"] {
            let filter = filter(Some(level), None);
            assert!(filter.would_enable("iam_password_rotation", &Level::DEBUG));
            for target in [
                "aws_smithy_runtime::client::orchestrator::endpoints",
                "aws_sdk_iam::config",
                "aws_config::meta::credentials",
                "aws_runtime::user_agent",
            ] {
                assert!(
                    !filter.would_enable(target, &Level::DEBUG),
                    "{level} {target}"
                );
                assert!(
                    filter.would_enable(target, &Level::INFO),
                    "{level} {target}"
                );
            }
        }
    }

    #[test]
    fn a_level_below_info_also_applies_to_the_sdk() {
        let filter = filter(Some("ERROR"), None);
        assert!(!filter.would_enable("aws_smithy_runtime", &Level::WARN));
    }

    #[test]
    fn rust_log_naming_an_sdk_target_is_the_explicit_way_to_see_its_debug_lines() {
        let named = filter(Some("DEBUG"), Some("aws_smithy_runtime=debug"));
        assert!(named.would_enable("aws_smithy_runtime::client", &Level::DEBUG));
        assert!(!named.would_enable("aws_sdk_iam", &Level::DEBUG));
        // A bare default level in RUST_LOG names no SDK target.
        let bare = filter(Some("DEBUG"), Some("trace"));
        assert!(!bare.would_enable("aws_smithy_runtime", &Level::DEBUG));
    }

    #[test]
    fn values_that_do_not_parse_fall_back_to_info() {
        let filter = filter(Some("loud"), Some("a=b=c"));
        assert!(filter.would_enable("iam_password_rotation", &Level::INFO));
        assert!(!filter.would_enable("iam_password_rotation", &Level::DEBUG));
    }
}
