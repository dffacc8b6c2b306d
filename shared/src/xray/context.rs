//! The invocation's trace context: the `X-Amzn-Trace-Id` value Lambda gave the invocation
//! (`Root=1-…;Parent=…;Sampled=1`), held in a task-local for the invocation's future only.
//!
//! Never process-global: with many invocations at once (Lambda Managed Instances) the runtime sets
//! no `_X_AMZN_TRACE_ID`, and each invocation's AWS calls must carry its own trace, not another's.
//! A future spawned with `tokio::spawn` leaves the scope (its calls are not traced).

use std::future::Future;

tokio::task_local! {
    static CURRENT: TraceContext;
}

/// One invocation's X-Ray trace header, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// `1-<8 hex>-<24 hex>`: the trace every segment of the request belongs to.
    pub root: String,
    /// The segment this invocation's work hangs under (Lambda's function segment).
    pub parent: Option<String>,
    /// Whether X-Ray records this trace (`Sampled=1`); an undecided `Sampled=?` is not.
    pub sampled: bool,
    /// Other fields (`Lineage=…`), passed on unchanged.
    rest: Vec<String>,
}

impl TraceContext {
    /// Parses a trace header; `None` without a `Root`.
    pub fn parse(header: &str) -> Option<Self> {
        let mut ctx = TraceContext {
            root: String::new(),
            parent: None,
            sampled: false,
            rest: Vec::new(),
        };
        for field in header.split(';').map(str::trim).filter(|f| !f.is_empty()) {
            match field.split_once('=') {
                Some(("Root", v)) => ctx.root = v.to_owned(),
                Some(("Parent", v)) => ctx.parent = Some(v.to_owned()),
                Some(("Sampled", v)) => ctx.sampled = v == "1",
                _ => ctx.rest.push(field.to_owned()),
            }
        }
        (!ctx.root.is_empty()).then_some(ctx)
    }

    /// The header for a downstream call whose segment is `parent` (the call's own subsegment when
    /// sampled; else this invocation's parent, unchanged).
    pub fn header_with_parent(&self, parent: Option<&str>) -> String {
        let mut header = format!("Root={}", self.root);
        if let Some(p) = parent.or(self.parent.as_deref()) {
            header.push_str(";Parent=");
            header.push_str(p);
        }
        header.push_str(if self.sampled {
            ";Sampled=1"
        } else {
            ";Sampled=0"
        });
        for field in &self.rest {
            header.push(';');
            header.push_str(field);
        }
        header
    }

    /// This invocation's own header, as received (normalised).
    pub fn header(&self) -> String {
        self.header_with_parent(None)
    }
}

/// Runs `f` with `header` (the invocation's `xray_trace_id`) as its trace context; without one
/// (local runs, tests) `f` runs untraced.
pub async fn traced<F: Future>(header: Option<&str>, f: F) -> F::Output {
    match header.and_then(TraceContext::parse) {
        Some(ctx) => CURRENT.scope(ctx, f).await,
        None => f.await,
    }
}

/// The trace context of the invocation this code runs in, if any.
pub fn current() -> Option<TraceContext> {
    CURRENT.try_with(Clone::clone).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAMBDA: &str =
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:0";

    #[test]
    fn a_lambda_header_is_parsed_and_passed_on_with_a_new_parent() {
        let ctx = TraceContext::parse(LAMBDA).expect("a trace");
        assert_eq!(ctx.root, "1-5759e988-bd862e3fe1be46a994272793");
        assert_eq!(ctx.parent.as_deref(), Some("53995c3f42cd8ad8"));
        assert!(ctx.sampled);
        assert_eq!(ctx.header(), LAMBDA);
        assert_eq!(
            ctx.header_with_parent(Some("0123456789abcdef")),
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=0123456789abcdef;Sampled=1;Lineage=a87bd80c:0"
        );
    }

    #[test]
    fn undecided_or_unsampled_traces_are_not_sampled_and_a_header_needs_a_root() {
        for h in ["Root=1-a-b;Sampled=0", "Root=1-a-b;Sampled=?", "Root=1-a-b"] {
            assert!(!TraceContext::parse(h).expect("a trace").sampled, "{h}");
        }
        assert_eq!(TraceContext::parse("Parent=1;Sampled=1"), None);
        assert_eq!(TraceContext::parse(""), None);
    }

    #[tokio::test]
    async fn each_future_sees_only_its_own_context() {
        assert_eq!(current(), None);
        let one = traced(Some("Root=1-a-1;Sampled=1"), async {
            tokio::task::yield_now().await;
            current().map(|c| c.root)
        });
        let two = traced(Some("Root=1-a-2;Sampled=0"), async {
            tokio::task::yield_now().await;
            current().map(|c| c.root)
        });
        let none = traced(None, async { current() });
        let (one, two, none) = tokio::join!(one, two, none);
        assert_eq!(one.as_deref(), Some("1-a-1"));
        assert_eq!(two.as_deref(), Some("1-a-2"));
        assert_eq!(none, None);
    }
}
