//! Fault injection by position at the SDK's HTTP boundary: the n-th DynamoDB call (any
//! operation) fails before DynamoDB applies it, or is applied and its answer lost, or the process
//! "dies" before or after it: from then on no call reaches DynamoDB (so nothing more happens),
//! and whatever the handler answers is thrown away.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::{Response as HttpResponse, StatusCode};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Not applied; the caller sees a 500 (it cannot tell).
    FailBefore,
    /// Applied; the caller sees a 500.
    LoseAnswer,
    /// The process dies before this call reaches DynamoDB.
    CrashBefore,
    /// The process dies right after DynamoDB applied this call.
    CrashAfter,
}

#[derive(Debug, Default)]
struct Inner {
    rule: Mutex<Option<(usize, usize, Kind)>>,
    calls: AtomicUsize,
    dead: AtomicBool,
    trace: Mutex<Vec<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct Switchboard {
    inner: Arc<Inner>,
}

impl Switchboard {
    /// Calls `from .. from + count` (counting from 0 now) get `kind`.
    pub fn set(&self, from: usize, count: usize, kind: Kind) {
        self.inner.calls.store(0, Ordering::SeqCst);
        self.inner.dead.store(false, Ordering::SeqCst);
        self.inner.trace.lock().expect("trace").clear();
        *self.inner.rule.lock().expect("rule") = Some((from, count, kind));
    }

    /// Everything goes through again (the process is alive).
    pub fn clear(&self) {
        *self.inner.rule.lock().expect("rule") = None;
        self.inner.dead.store(false, Ordering::SeqCst);
        self.inner.calls.store(0, Ordering::SeqCst);
        self.inner.trace.lock().expect("trace").clear();
    }

    pub fn dead(&self) -> bool {
        self.inner.dead.load(Ordering::SeqCst)
    }

    /// The operations called since the last `set`/`clear`.
    pub fn trace(&self) -> Vec<String> {
        self.inner.trace.lock().expect("trace").clone()
    }
}

#[derive(Debug, Clone)]
struct Injected;

impl Storable for Injected {
    type Storer = StoreReplace<Self>;
}

impl Intercept for Switchboard {
    fn name(&self) -> &'static str {
        "Switchboard"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        let op = request
            .headers()
            .get("x-amz-target")
            .unwrap_or_default()
            .rsplit('.')
            .next()
            .unwrap_or_default()
            .to_owned();
        let i = self.inner.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.trace.lock().expect("trace").push(op);
        let kind = if self.dead() {
            Some(Kind::CrashBefore)
        } else {
            self.inner
                .rule
                .lock()
                .expect("rule")
                .filter(|(from, count, _)| i >= *from && i < from + count)
                .map(|(_, _, k)| k)
        };
        let neuter = match kind {
            None => return Ok(()),
            Some(Kind::FailBefore) => true,
            Some(Kind::LoseAnswer) => false,
            Some(Kind::CrashBefore) => {
                self.inner.dead.store(true, Ordering::SeqCst);
                true
            }
            Some(Kind::CrashAfter) => {
                self.inner.dead.store(true, Ordering::SeqCst);
                false
            }
        };
        if neuter {
            *request.body_mut() = SdkBody::from("{}");
            request.headers_mut().insert("content-length", "2");
        }
        cfg.interceptor_state().store_put(Injected);
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if cfg.load::<Injected>().is_none() {
            return Ok(());
        }
        cfg.interceptor_state().unset::<Injected>();
        let body = serde_json::json!({
            "__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
            "message": "injected",
        });
        let mut response =
            HttpResponse::new(StatusCode::try_from(500)?, SdkBody::from(body.to_string()));
        response
            .headers_mut()
            .insert("content-type", "application/x-amz-json-1.0");
        *context.response_mut() = response;
        Ok(())
    }
}
