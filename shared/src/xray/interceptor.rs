//! Every AWS call of an invocation in its trace: an SDK interceptor, installed on every client the
//! shop builds ([`crate::aws`]), that reads the invocation's [`TraceContext`] (task-local) and
//! - sets the request's `X-Amzn-Trace-Id` (the call's own subsegment as `Parent` when sampled), so
//!   the called service joins the trace; the header is not signed (SigV4 leaves it out);
//! - when the trace is sampled, sends the call's subsegment to the X-Ray daemon once it ends.
//!
//! Outside an invocation (local tools, tests, init) it does nothing.

use std::sync::{Arc, OnceLock};

use aws_config::Region;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextMut,
    FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

use super::context::{current, TraceContext};
use super::daemon::Daemon;
use super::subsegment::{epoch_seconds, new_id, AwsCall, Subsegment};

/// The trace header's name on requests.
pub const TRACE_HEADER: &str = "x-amzn-trace-id";

/// What one call carries from its start to its end (in the call's config bag).
#[derive(Debug, Clone)]
struct TracedCall {
    ctx: TraceContext,
    /// The call's subsegment, when sampled.
    subsegment: Option<Subsegment>,
}

impl Storable for TracedCall {
    type Storer = StoreReplace<Self>;
}

#[derive(Debug, Clone)]
pub struct XrayInterceptor {
    daemon: Arc<Daemon>,
}

impl XrayInterceptor {
    /// Sending sampled subsegments to `daemon`.
    pub fn new(daemon: Arc<Daemon>) -> Self {
        Self { daemon }
    }

    /// The process's: one daemon (`AWS_XRAY_DAEMON_ADDRESS`) for every client.
    pub fn from_env() -> Self {
        static DAEMON: OnceLock<Arc<Daemon>> = OnceLock::new();
        Self::new(DAEMON.get_or_init(|| Arc::new(Daemon::from_env())).clone())
    }
}

/// `TableName` / `QueueUrl` of a JSON request body (DynamoDB, SQS): what X-Ray shows per call.
fn resource_of(body: Option<&[u8]>, aws: &mut AwsCall) {
    let Some(v) = body.and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok()) else {
        return;
    };
    let field = |name: &str| v.get(name).and_then(|s| s.as_str()).map(str::to_owned);
    aws.table_name = field("TableName");
    aws.queue_url = field("QueueUrl");
}

impl Intercept for XrayInterceptor {
    fn name(&self) -> &'static str {
        "XrayInterceptor"
    }

    // The operation's name is in the bag from serialization on (not yet at `read_before_execution`).
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(ctx) = current() else {
            return Ok(());
        };
        let subsegment = ctx.sampled.then(|| {
            let (service, operation) = cfg
                .load::<Metadata>()
                .map(|m| (m.service().to_owned(), m.name().to_owned()))
                .unwrap_or_default();
            Subsegment {
                kind: "subsegment",
                id: new_id(),
                trace_id: ctx.root.clone(),
                parent_id: ctx.parent.clone().unwrap_or_default(),
                name: service,
                namespace: "aws",
                start_time: epoch_seconds(),
                end_time: 0.0,
                aws: AwsCall {
                    operation,
                    region: cfg.load::<Region>().map(|r| r.to_string()),
                    ..AwsCall::default()
                },
                http: None,
                error: false,
                throttle: false,
                fault: false,
            }
        });
        cfg.interceptor_state()
            .store_put(TracedCall { ctx, subsegment });
        Ok(())
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(mut call) = cfg.load::<TracedCall>().cloned() else {
            return Ok(());
        };
        let request = context.request_mut();
        let parent = call.subsegment.as_ref().map(|s| s.id.as_str());
        // A header value that is not valid (it came from outside) is left off, not fatal.
        let _ = request
            .headers_mut()
            .try_insert(TRACE_HEADER, call.ctx.header_with_parent(parent));
        if let Some(s) = call.subsegment.as_mut() {
            resource_of(request.body().bytes(), &mut s.aws);
            cfg.interceptor_state().store_put(call);
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(mut s) = cfg.load::<TracedCall>().and_then(|c| c.subsegment.clone()) else {
            return Ok(());
        };
        s.end_time = epoch_seconds();
        let response = context.response();
        s.answered(response.map(|r| r.status().as_u16()));
        s.aws.request_id = response.and_then(|r| {
            let h = r.headers();
            h.get("x-amzn-requestid")
                .or_else(|| h.get("x-amz-request-id"))
                .map(str::to_owned)
        });
        if let Ok(document) = serde_json::to_string(&s) {
            self.daemon.send(&document);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_or_queue_of_a_json_request_is_named() {
        let mut aws = AwsCall::default();
        resource_of(Some(br#"{"TableName":"shop-orders","Key":{}}"#), &mut aws);
        assert_eq!(aws.table_name.as_deref(), Some("shop-orders"));
        let mut aws = AwsCall::default();
        resource_of(Some(br#"{"QueueUrl":"http://q/1"}"#), &mut aws);
        assert_eq!(
            (aws.table_name, aws.queue_url.as_deref()),
            (None, Some("http://q/1"))
        );
        let mut aws = AwsCall::default();
        resource_of(Some(b"not json"), &mut aws);
        resource_of(None, &mut aws);
        assert_eq!(aws, AwsCall::default());
    }
}
