//! Read requests and read units of a DynamoDB client: asks every read for
//! `ReturnConsumedCapacity=TOTAL` and adds up what comes back. Safe under parallel calls (the
//! merge reads its heads in parallel): answers are summed, not paired with their requests.
//!
//! DynamoDB Local returns no consumed capacity for PartiQL (`ExecuteStatement`): those
//! statements are kept ([`Reads::statements`]) for the benchmark to count the same reads as
//! Queries.

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::operation::{batch_get_item, execute_statement, get_item, query};
use aws_smithy_runtime_api::client::interceptors::context::{Error, Output};
use aws_smithy_runtime_api::client::orchestrator::OrchestratorError;
use serde_json::Value;

use shop_tools::sdk_boundary::{Boundary, Request};

/// A PartiQL statement as sent: its text and its parameters (DynamoDB JSON).
pub type Statement = (String, Vec<Value>);

/// What the reads of one stretch of time cost.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reads {
    pub queries: u64,
    pub batch_gets: u64,
    /// `ExecuteStatement` requests (every page).
    pub partiql: u64,
    /// Those that came back without consumed capacity (all of them on DynamoDB Local).
    pub statements: Vec<Statement>,
    /// Other calls (`GetItem`, writes, …): none on either path of the benchmark.
    pub other: u64,
    /// Read capacity units DynamoDB reported.
    pub units: f64,
}

impl Reads {
    pub fn requests(&self) -> u64 {
        self.queries + self.batch_gets + self.partiql + self.other
    }
}

#[derive(Debug, Clone, Default)]
pub struct ReadMeter(Arc<Mutex<Reads>>);

impl ReadMeter {
    /// What was read since the last call, and start again from zero.
    pub fn take(&self) -> Reads {
        self.0
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default()
    }

    fn with(&self, f: impl FnOnce(&mut Reads)) {
        if let Ok(mut r) = self.0.lock() {
            f(&mut r);
        }
    }
}

const READS: [&str; 4] = ["Query", "BatchGetItem", "GetItem", "ExecuteStatement"];

impl Boundary for ReadMeter {
    fn on_call(&self, op: &str) {
        self.with(|r| match op {
            "Query" => r.queries += 1,
            "BatchGetItem" => r.batch_gets += 1,
            "ExecuteStatement" => r.partiql += 1,
            _ => r.other += 1,
        });
    }

    fn on_request(&self, request: &mut Request<'_>) {
        if READS.contains(&request.op()) {
            request.rewrite_json(|v| {
                if let Some(fields) = v.as_object_mut() {
                    fields.insert("ReturnConsumedCapacity".into(), Value::from("TOTAL"));
                }
            });
        }
        if request.op() == "ExecuteStatement" {
            if let Some(body) = request.json() {
                let statement = body["Statement"].as_str().unwrap_or_default().to_owned();
                let parameters = body["Parameters"].as_array().cloned().unwrap_or_default();
                self.with(|r| r.statements.push((statement, parameters)));
            }
        }
    }

    fn on_answer(&self, _op: &str, answer: Result<&Output, &OrchestratorError<Error>>) {
        let Ok(output) = answer else { return };
        let units = if let Some(o) = output.downcast_ref::<query::QueryOutput>() {
            o.consumed_capacity
                .iter()
                .filter_map(|c| c.capacity_units)
                .sum()
        } else if let Some(o) = output.downcast_ref::<batch_get_item::BatchGetItemOutput>() {
            o.consumed_capacity
                .iter()
                .flatten()
                .filter_map(|c| c.capacity_units)
                .sum()
        } else if let Some(o) = output.downcast_ref::<get_item::GetItemOutput>() {
            o.consumed_capacity
                .iter()
                .filter_map(|c| c.capacity_units)
                .sum()
        } else if let Some(o) = output.downcast_ref::<execute_statement::ExecuteStatementOutput>() {
            match o.consumed_capacity.as_ref().and_then(|c| c.capacity_units) {
                // Counted by the server: no need to count it again (the statement kept last is
                // this one: the benchmark's statements run one at a time).
                Some(units) => {
                    self.with(|r| {
                        r.statements.pop();
                    });
                    units
                }
                None => 0.0,
            }
        } else {
            0.0
        };
        self.with(|r| r.units += units);
    }
}
