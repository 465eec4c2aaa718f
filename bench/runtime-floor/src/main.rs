//! The cold-start floor `make bench` compares the function with: a `lambda_runtime`
//! hello-world as the runtime's examples write it, built by this package with the
//! same release profile, that answers every event with itself. Whatever the function
//! spends before its first poll beyond this program's time is its own.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(event.payload)
    }))
    .await
}
