//! `infra/template.yaml` and `infra/edge-waf.yaml` against issue 20's abuse and alarm items: the API
//! reachable only through CloudFront (origin secret from SSM, verified by every API function), per-client
//! rate limits by WAF on the distribution with the route throttles as a ceiling, and alarms that are
//! scoped to this stack and reach someone. No local stack needed.

use std::collections::BTreeSet;

use crate::helpers::template::{
    as_list, functions, repo_root, resources_of_type, tagged, template,
};
use serde_yaml_ng::Value;

fn has_http_api_event(f: &Value) -> bool {
    f["Properties"]["Events"]
        .as_mapping()
        .is_some_and(|events| {
            events
                .values()
                .any(|e| e["Type"].as_str() == Some("HttpApi"))
        })
}

fn refs(v: &Value, name: &str) -> bool {
    tagged(v).is_some_and(|(t, v)| t == "Ref" && v.as_str() == Some(name))
}

fn edge_waf() -> Value {
    let text =
        std::fs::read_to_string(repo_root().join("infra/edge-waf.yaml")).expect("edge-waf.yaml");
    serde_yaml_ng::from_str(&text).expect("yaml")
}

/// CloudFront adds the origin secret (from SSM) to every request to the API; every API function
/// reads that secret (and nothing else of SSM through it) and so refuses requests without it;
/// the functions without HTTP do not.
#[test]
fn the_api_answers_only_requests_through_cloudfront() {
    let doc = template();
    let origins = as_list(
        &doc["Resources"]["StorefrontDistribution"]["Properties"]["DistributionConfig"]["Origins"],
    );
    let api = origins
        .iter()
        .find(|o| o["Id"].as_str() == Some("api"))
        .expect("the api origin");
    let headers = as_list(&api["OriginCustomHeaders"]);
    let header = headers
        .iter()
        .find(|h| {
            h["HeaderName"].as_str().map(str::to_lowercase).as_deref()
                == Some(shop_functions::origin::HEADER)
        })
        .expect("CloudFront sends the origin header");
    let (tag, value) = tagged(&header["HeaderValue"]).expect("!Sub");
    assert_eq!(
        (tag.as_str(), value.as_str()),
        ("Sub", Some("{{resolve:ssm:${OriginSecretParameterName}}}"))
    );
    assert!(refs(
        &doc["Globals"]["Function"]["Environment"]["Variables"]["ORIGIN_SECRET_PARAMETER"],
        "OriginSecretParameterName"
    ));
    let policy =
        &doc["Resources"]["OriginSecretReadPolicy"]["Properties"]["PolicyDocument"]["Statement"];
    let statements = as_list(policy);
    assert_eq!(statements.len(), 1);
    assert_eq!(statements[0]["Action"].as_str(), Some("ssm:GetParameter"));
    assert!(format!("{:?}", statements[0]["Resource"])
        .contains("parameter${OriginSecretParameterName}"));
    for (id, f) in functions(&doc) {
        let reads = f["Properties"]["Policies"]
            .as_sequence()
            .is_some_and(|p| p.iter().any(|p| refs(p, "OriginSecretReadPolicy")));
        let own = &f["Properties"]["Environment"]["Variables"]["ORIGIN_SECRET_PARAMETER"];
        if has_http_api_event(f) {
            assert!(reads, "{id} serves the API: it must read the origin secret");
            assert!(
                own.is_null(),
                "{id} serves the API: it keeps the global ORIGIN_SECRET_PARAMETER"
            );
        } else {
            assert!(!reads, "{id} serves no HTTP: no origin secret");
            assert_eq!(
                own.as_str(),
                Some(""),
                "{id} serves no HTTP: ORIGIN_SECRET_PARAMETER is \"\""
            );
        }
    }
}

/// WAF rate-based rules (per client IP) on the distribution: login, sign-up and everything, each
/// answering 429 with Retry-After; the route throttles stay as a ceiling above what one client may
/// send; production refuses to deploy without the web ACL.
#[test]
fn each_client_is_rate_limited_at_the_edge_below_the_route_ceilings() {
    let doc = template();
    let dist = &doc["Resources"]["StorefrontDistribution"]["Properties"]["DistributionConfig"];
    let (tag, args) = tagged(&dist["WebACLId"]).expect("!If");
    assert_eq!(tag, "If");
    assert_eq!(args[0].as_str(), Some("HasEdgeWebAcl"));
    assert!(refs(&args[1], "EdgeWebAclArn"));
    let rule = format!("{:?}", doc["Rules"]["ProdHasPerClientRateLimits"]);
    assert!(
        rule.contains("EdgeWebAclArn") && rule.contains("prod"),
        "{rule}"
    );

    let waf = edge_waf();
    let acl = &waf["Resources"]["EdgeWebAcl"]["Properties"];
    assert_eq!(acl["Scope"].as_str(), Some("CLOUDFRONT"));
    let rules = as_list(&acl["Rules"]);
    let per_minute = |name: &str| -> (u64, String) {
        let r = rules
            .iter()
            .find(|r| r["Name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("WAF rule {name}"));
        let rate = &r["Statement"]["RateBasedStatement"];
        assert_eq!(
            rate["AggregateKeyType"].as_str(),
            Some("IP"),
            "{name}: per client"
        );
        let block = &r["Action"]["Block"]["CustomResponse"];
        assert_eq!(block["ResponseCode"].as_u64(), Some(429), "{name}");
        assert!(
            as_list(&block["ResponseHeaders"])
                .iter()
                .any(|h| h["Name"].as_str() == Some("Retry-After")),
            "{name}: Retry-After"
        );
        let limit = rate["Limit"].as_u64().expect("Limit");
        let window = rate["EvaluationWindowSec"]
            .as_u64()
            .expect("EvaluationWindowSec");
        (
            limit * 60 / window,
            format!("{:?}", rate["ScopeDownStatement"]),
        )
    };
    let (login, scope) = per_minute("login-per-client");
    assert!(
        scope.contains("/auth/login") && scope.contains("POST"),
        "{scope}"
    );
    let (signup, scope) = per_minute("signup-per-client");
    assert!(scope.contains("/auth/signup"), "{scope}");
    let (all, scope) = per_minute("all-per-client");
    assert_eq!(scope, "Null", "applies to every request");
    let body = format!("{:?}", acl["CustomResponseBodies"]);
    assert!(body.contains("TOO_MANY_REQUESTS"), "{body}");

    // One client alone never reaches a route's ceiling (requests per minute).
    let api = &doc["Resources"]["HttpApi"]["Properties"];
    let ceiling = |route: &str| {
        api["RouteSettings"][route]["ThrottlingRateLimit"]
            .as_u64()
            .expect("rate")
            * 60
    };
    assert!(login < ceiling("POST /auth/login"), "{login}/min");
    assert!(signup < ceiling("POST /auth/signup"), "{signup}/min");
    assert!(
        all < api["DefaultRouteSettings"]["ThrottlingRateLimit"]
            .as_u64()
            .expect("rate")
            * 60
    );
    let runbook = std::fs::read_to_string(repo_root().join("docs/OPERATIONS.md")).expect("runbook");
    assert!(
        runbook.contains("## Rate limits"),
        "the numbers are documented"
    );
}

/// Every alarm watches this stack's resources only: no account-wide Lambda metric; the Lambda
/// error and throttle queries together name every function of the stack, each query short enough
/// for CloudWatch (2,048 characters, with 64-character function names); the DynamoDB throttle query
/// names every table.
#[test]
fn alarms_watch_only_this_stack() {
    let doc = template();
    let alarms = resources_of_type(&doc, "AWS::CloudWatch::Alarm");
    let all_functions: BTreeSet<String> = functions(&doc).into_iter().map(|(id, _)| id).collect();
    for metric in ["Errors", "Throttles"] {
        let mut named = Vec::new();
        for (id, alarm) in &alarms {
            for m in as_list(&alarm["Properties"]["Metrics"]) {
                let Some((_, q)) = tagged(&m["Expression"]) else {
                    continue;
                };
                let q = q.as_str().unwrap_or_default();
                if !q.starts_with(&format!("SELECT SUM({metric}) FROM SCHEMA(\"AWS/Lambda\"")) {
                    continue;
                }
                let names: Vec<String> = q
                    .split("${")
                    .skip(1)
                    .filter_map(|s| s.split('}').next())
                    .map(str::to_owned)
                    .collect();
                let longest = q.len() + names.len() * 64;
                assert!(
                    longest < 2048,
                    "{id}: the query may reach {longest} characters"
                );
                named.extend(names);
            }
        }
        let unique: BTreeSet<String> = named.iter().cloned().collect();
        assert_eq!(
            unique.len(),
            named.len(),
            "{metric}: a function watched twice"
        );
        assert_eq!(
            unique, all_functions,
            "{metric}: every function of the stack, and only those"
        );
    }
    for (id, alarm) in &alarms {
        let p = &alarm["Properties"];
        if p["Namespace"].as_str() == Some("AWS/Lambda") {
            assert!(!as_list(&p["Dimensions"]).is_empty(), "{id}: account-wide");
        }
    }
    let tables: BTreeSet<String> = resources_of_type(&doc, "AWS::DynamoDB::Table")
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let throttles = format!(
        "{:?}",
        doc["Resources"]["DynamoDbThrottlesAlarm"]["Properties"]["Metrics"]
    );
    for t in &tables {
        assert!(
            throttles.contains(&format!("${{{t}}}")),
            "DynamoDbThrottlesAlarm misses {t}"
        );
    }
    // The heartbeat counts a silent reconciler as down.
    let heartbeat = &doc["Resources"]["ReconcilerHeartbeatAlarm"]["Properties"];
    assert_eq!(heartbeat["TreatMissingData"].as_str(), Some("breaching"));
    assert_eq!(
        heartbeat["ComparisonOperator"].as_str(),
        Some("LessThanThreshold")
    );
}

/// A deploy without anyone subscribed to the alarms says so in its outputs, and production refuses it.
#[test]
fn a_deploy_without_an_alarm_subscriber_says_so_and_production_refuses_it() {
    let doc = template();
    let warning = &doc["Outputs"]["AlarmWarning"];
    assert_eq!(warning["Condition"].as_str(), Some("NoAlarmSubscriber"));
    assert!(warning["Value"]
        .as_str()
        .is_some_and(|v| v.contains("NOBODY")));
    let rule = format!("{:?}", doc["Rules"]["ProdAlarmsReachSomeone"]);
    assert!(
        rule.contains("AlarmEmail") && rule.contains("AlarmsSubscribedElsewhere"),
        "{rule}"
    );
    assert_eq!(
        doc["Resources"]["AlarmEmailSubscription"]["Condition"].as_str(),
        Some("HasAlarmEmail")
    );
}
