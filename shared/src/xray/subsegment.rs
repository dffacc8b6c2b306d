//! The subsegment document of one AWS call, sent on its own (not inside its segment), as the
//! X-Ray segment document format describes it: `type: "subsegment"` with the trace and parent
//! ids, `namespace: "aws"` so X-Ray infers the service's node, and the `aws` and `http` fields.

use serde::Serialize;

/// One AWS call, as X-Ray records it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Subsegment {
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// 16 hex digits, unique within the trace.
    pub id: String,
    pub trace_id: String,
    pub parent_id: String,
    /// The service (`DynamoDB`, `EventBridge`, `SQS`, `SSM`).
    pub name: String,
    pub namespace: &'static str,
    /// Seconds since the epoch, with fractions.
    pub start_time: f64,
    pub end_time: f64,
    pub aws: AwsCall,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<Http>,
    /// A 4xx answer.
    pub error: bool,
    /// A 429 answer.
    pub throttle: bool,
    /// A 5xx answer, or none at all (timeout, connection).
    pub fault: bool,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct AwsCall {
    pub operation: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Http {
    pub response: HttpResponse,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HttpResponse {
    pub status: u16,
}

impl Subsegment {
    /// Sets `error` / `throttle` / `fault` from the answer's status (`None`: no answer).
    pub fn answered(&mut self, status: Option<u16>) {
        match status {
            Some(status) => {
                self.http = Some(Http {
                    response: HttpResponse { status },
                });
                self.throttle = status == 429;
                self.error = (400..500).contains(&status);
                self.fault = status >= 500;
            }
            None => self.fault = true,
        }
    }
}

/// A new 64-bit segment id, as 16 hex digits.
pub fn new_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// Now, in seconds since the epoch.
pub fn epoch_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_set_the_flags_x_ray_reads() {
        let mut s = Subsegment {
            kind: "subsegment",
            id: new_id(),
            trace_id: "1-a-b".into(),
            parent_id: "p".into(),
            name: "DynamoDB".into(),
            namespace: "aws",
            start_time: 1.0,
            end_time: 2.0,
            aws: AwsCall::default(),
            http: None,
            error: false,
            throttle: false,
            fault: false,
        };
        assert_eq!(s.id.len(), 16);
        let flags = |s: &Subsegment| (s.error, s.throttle, s.fault);
        s.answered(Some(200));
        assert_eq!(flags(&s), (false, false, false));
        s.answered(Some(400));
        assert_eq!(flags(&s), (true, false, false));
        s.answered(Some(429));
        assert_eq!(flags(&s), (true, true, false));
        s.answered(Some(503));
        assert_eq!(flags(&s), (false, false, true));
        let doc = serde_json::to_value(&s).expect("json");
        assert_eq!(doc["type"], "subsegment");
        assert_eq!(doc["http"]["response"]["status"], 503);
        assert!(doc["aws"].get("table_name").is_none());
    }
}
