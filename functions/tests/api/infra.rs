//! `infra/template.yaml` against the code: the route table, the binaries, the table definitions
//! local set-up reads, and the settings every function must have. No AWS and no local stack needed.

use std::collections::{BTreeMap, BTreeSet};

use crate::helpers::template::{
    as_list, binary_of, functions, repo_root, resources_of_type, statements, str_of, tagged,
    template,
};
use serde_yaml_ng::Value;
use shop_functions::{handlers, routes};
use shop_shared::config::TableNames;
use shop_tools::infra_tables::{table_logical_ids, TEMPLATE};

/// Binaries in `src/bin` that only ever run locally (never deployed).
const LOCAL_ONLY_BINS: [&str; 4] = ["local-gateway", "shop-local", "bench", "pipeline-bench"];

/// Serves the API's `$default` route: 404 / 405 problem+json for requests no route serves.
const FALLBACK_BIN: &str = "route-fallback";

fn is_local_only(bin: &str) -> bool {
    LOCAL_ONLY_BINS.contains(&bin) || bin.starts_with("local-")
}

/// A function property, else the one from `Globals.Function`.
fn function_prop<'a>(doc: &'a Value, function: &'a Value, key: &str) -> Option<&'a Value> {
    function
        .get("Properties")
        .and_then(|p| p.get(key))
        .or_else(|| doc.get("Globals")?.get("Function")?.get(key))
}

/// An environment variable as the function sees it (function level overrides Globals).
fn env_var<'a>(doc: &'a Value, function: &'a Value, name: &str) -> Option<&'a Value> {
    let of = |v: Option<&'a Value>| v?.get("Environment")?.get("Variables")?.get(name);
    of(function.get("Properties"))
        .or_else(|| of(doc.get("Globals").and_then(|g| g.get("Function"))))
}

/// `auth-signup` -> `AuthSignupFunction`.
fn logical_id_for(binary: &str) -> String {
    let mut id: String = binary
        .split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |c| {
                c.to_uppercase().chain(chars).collect::<String>()
            })
        })
        .collect();
    id.push_str("Function");
    id
}

fn bins_on_disk() -> BTreeSet<String> {
    let dir = repo_root().join("functions/src/bin");
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| {
            let path = entry.expect("readable directory entry").path();
            (path.extension()? == "rs").then(|| path.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect()
}

/// `(METHOD, path, binary)` of every route in `handlers::TABLE`.
fn route_table() -> BTreeSet<(String, String, String)> {
    handlers::TABLE
        .iter()
        .map(|r| {
            (
                r.method.as_str().to_owned(),
                r.path.to_owned(),
                r.function.to_owned(),
            )
        })
        .collect()
}

#[test]
fn http_api_events_are_exactly_the_route_table() {
    let doc = template();
    let mut declared = BTreeSet::new();
    let mut default_route = Vec::new();
    for (id, f) in functions(&doc) {
        let binary = binary_of(&id, f);
        let Some(Value::Mapping(events)) = f.get("Properties").and_then(|p| p.get("Events")) else {
            continue;
        };
        for (name, event) in events {
            if event.get("Type").and_then(Value::as_str) != Some("HttpApi") {
                continue;
            }
            let props = event.get("Properties");
            let what = format!("{id}.Events.{}", name.as_str().unwrap_or("?"));
            let api = props.and_then(|p| p.get("ApiId"));
            assert!(
                matches!(api.and_then(tagged), Some((tag, v)) if tag == "Ref" && v.as_str() == Some("HttpApi")),
                "{what}: ApiId must be !Ref HttpApi, found {api:?}"
            );
            let (method, path) = (
                props.and_then(|p| p.get("Method")),
                props.and_then(|p| p.get("Path")),
            );
            if method.is_none() && path.is_none() {
                // No Path and Method: SAM makes it the API's `$default` route.
                default_route.push(binary.clone());
                continue;
            }
            let method = str_of(method, &what).to_uppercase();
            let path = str_of(path, &what).to_owned();
            assert!(
                declared.insert((method.clone(), path.clone(), binary.clone())),
                "{what}: {method} {path} declared twice"
            );
        }
    }
    assert_eq!(
        default_route,
        vec![FALLBACK_BIN.to_owned()],
        "the $default route (HttpApi event without Path and Method) is served by {FALLBACK_BIN} alone"
    );
    let expected = route_table();
    let missing: Vec<_> = expected.difference(&declared).collect();
    let extra: Vec<_> = declared.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "template HttpApi events differ from handlers::TABLE: missing {missing:?}, not in the route table {extra:?}"
    );
}

#[test]
fn every_function_builds_a_binary_of_this_crate() {
    let doc = template();
    let bins = bins_on_disk();
    let mut seen = BTreeSet::new();
    for (id, f) in functions(&doc) {
        let binary = binary_of(&id, f);
        assert!(
            bins.contains(&binary),
            "{id}: binary {binary} has no functions/src/bin/{binary}.rs"
        );
        assert!(
            !is_local_only(&binary),
            "{id}: {binary} is a local-only binary"
        );
        assert!(
            seen.insert(binary.clone()),
            "{id}: binary {binary} deployed twice"
        );
        assert_eq!(
            id,
            logical_id_for(&binary),
            "logical id of the {binary} function"
        );
        let meta = f.get("Metadata");
        assert_eq!(
            meta.and_then(|m| m.get("BuildMethod"))
                .and_then(Value::as_str),
            Some("makefile"),
            "{id}: Metadata.BuildMethod (functions/Makefile copies what `make package` built)"
        );
        assert_eq!(
            function_prop(&doc, f, "CodeUri").and_then(Value::as_str),
            Some("../functions"),
            "{id}: CodeUri"
        );
        assert_eq!(
            function_prop(&doc, f, "Handler").and_then(Value::as_str),
            Some("bootstrap"),
            "{id}: Handler"
        );
    }
}

/// `sam build` runs `make build-<LogicalId>` in functions/ for every function: each must copy its
/// own binary's bootstrap from what `make package` built.
#[test]
fn the_sam_makefile_copies_each_functions_own_binary() {
    let doc = template();
    let scratch =
        std::env::temp_dir().join(format!("sam-makefile-{}", uuid::Uuid::new_v4().simple()));
    let built = scratch.join("lambda");
    for bin in bins_on_disk() {
        std::fs::create_dir_all(built.join(&bin)).expect("mkdir");
        std::fs::write(built.join(&bin).join("bootstrap"), &bin).expect("write");
    }
    for (id, f) in functions(&doc) {
        let artifacts = scratch.join("artifacts").join(&id);
        std::fs::create_dir_all(&artifacts).expect("mkdir");
        let out = std::process::Command::new("make")
            .current_dir(repo_root().join("functions"))
            .arg(format!("build-{id}"))
            .arg(format!("ARTIFACTS_DIR={}", artifacts.display()))
            .arg(format!("LAMBDA_DIR={}", built.display()))
            .output()
            .expect("run make");
        assert!(out.status.success(), "{id}: {out:?}");
        let copied =
            std::fs::read_to_string(artifacts.join("bootstrap")).expect("bootstrap copied");
        assert_eq!(copied, binary_of(&id, f), "{id}: the bootstrap copied");
    }
    let _ = std::fs::remove_dir_all(&scratch);
}

#[test]
fn every_deployable_bin_is_a_function() {
    let doc = template();
    let deployed: BTreeSet<String> = functions(&doc)
        .into_iter()
        .map(|(id, f)| binary_of(&id, f))
        .collect();
    let missing: Vec<String> = bins_on_disk()
        .into_iter()
        .filter(|b| !is_local_only(b) && !deployed.contains(b))
        .collect();
    assert!(
        missing.is_empty(),
        "binaries in functions/src/bin with no function in infra/template.yaml: {missing:?}"
    );
}

#[test]
fn the_event_functions_are_deployed() {
    let doc = template();
    let deployed: BTreeMap<String, String> = functions(&doc)
        .into_iter()
        .map(|(id, f)| (binary_of(&id, f), id))
        .collect();
    for (binary, event_type) in [
        ("order-relay", "DynamoDB"),
        ("order-consumer", "EventBridgeRule"),
        ("reconciler", "Schedule"),
    ] {
        let id = deployed
            .get(binary)
            .unwrap_or_else(|| panic!("no function builds {binary}"));
        let f = doc["Resources"].get(id.as_str()).expect("the function");
        let Some(Value::Mapping(events)) = f.get("Properties").and_then(|p| p.get("Events")) else {
            panic!("{id} has no Events");
        };
        assert!(
            events
                .values()
                .any(|e| e.get("Type").and_then(Value::as_str) == Some(event_type)),
            "{id} needs a {event_type} event"
        );
    }
}

/// `!If [condition, then, else]` as (condition, then, else).
fn if_of(v: Option<&Value>) -> Option<(&str, &Value, &Value)> {
    let (tag, args) = tagged(v?)?;
    let args = args.as_sequence().filter(|_| tag == "If")?;
    Some((args.first()?.as_str()?, args.get(1)?, args.get(2)?))
}

fn is_no_value(v: &Value) -> bool {
    matches!(tagged(v), Some((tag, r)) if tag == "Ref" && r.as_str() == Some("AWS::NoValue"))
}

#[test]
fn every_function_is_arm64_al2023_128mb() {
    let doc = template();
    for (id, f) in functions(&doc) {
        let arch = function_prop(&doc, f, "Architectures").and_then(Value::as_sequence);
        assert!(
            matches!(arch, Some(a) if a.len() == 1 && a[0].as_str() == Some("arm64")),
            "{id}: Architectures must be [arm64], found {arch:?}"
        );
        assert_eq!(
            function_prop(&doc, f, "Runtime").and_then(Value::as_str),
            Some("provided.al2023"),
            "{id}: Runtime"
        );
        // 128 MB on classic Lambda; 2 GiB (Managed Instances' minimum) on a capacity provider.
        let memory = if_of(function_prop(&doc, f, "MemorySize"));
        assert!(
            matches!(memory, Some(("OnManagedInstances", on, off))
                if on.as_u64() == Some(2048) && off.as_u64() == Some(128)),
            "{id}: MemorySize must be !If [OnManagedInstances, 2048, 128], found {memory:?}"
        );
    }
}

/// ComputeMode (off by default) puts every function on the capacity provider, many invocations at
/// once per execution environment, and nothing of it exists otherwise.
#[test]
fn managed_instances_are_one_parameter_away_and_off_by_default() {
    let doc = template();
    assert_eq!(
        doc["Parameters"]["ComputeMode"]["Default"].as_str(),
        Some("lambda")
    );
    let transforms: Vec<&str> = doc["Transform"]
        .as_sequence()
        .expect("a list of transforms")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    // The language extensions resolve the Globals' !If before SAM reads CapacityProviderConfig.
    assert_eq!(
        transforms,
        ["AWS::LanguageExtensions", "AWS::Serverless-2016-10-31"]
    );
    for (id, f) in functions(&doc) {
        for key in [
            "CapacityProviderConfig",
            "FunctionScalingConfig",
            "PublishToLatestPublished",
        ] {
            let v = if_of(function_prop(&doc, f, key));
            assert!(
                matches!(v, Some(("OnManagedInstances", _, off)) if is_no_value(off)),
                "{id}: {key} must be !If [OnManagedInstances, ..., !Ref AWS::NoValue], found {v:?}"
            );
        }
        let Some((_, on, _)) = if_of(function_prop(&doc, f, "CapacityProviderConfig")) else {
            unreachable!()
        };
        assert!(
            matches!(on.get("Arn").and_then(tagged), Some((tag, v))
                if tag == "GetAtt" && v.as_str() == Some("ApiCapacityProvider.Arn")),
            "{id}: runs on ApiCapacityProvider"
        );
        assert!(
            on.get("PerExecutionEnvironmentMaxConcurrency").is_some(),
            "{id}: many at once"
        );
    }
    for (id, cfn_type) in [
        ("ApiCapacityProvider", "AWS::Lambda::CapacityProvider"),
        ("CapacityProviderOperatorRole", "AWS::IAM::Role"),
    ] {
        let r = &doc["Resources"][id];
        assert_eq!(r["Type"].as_str(), Some(cfn_type), "{id}");
        assert_eq!(
            r["Condition"].as_str(),
            Some("OnManagedInstances"),
            "{id} exists only on Managed Instances"
        );
    }
}

/// The template parameters naming the SSM secrets functions read.
const SECRET_PARAMETERS: [&str; 3] = [
    "JwtSecretParameterName",
    "TossSecretKeyParameterName",
    "CursorSecretParameterName",
];

/// The SSM parameters a function's resource list grants (`${JwtSecretParameterName}`, ...).
fn granted_parameters(function: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for s in statements(function) {
        let grants = s
            .get("Action")
            .map(as_list)
            .unwrap_or_default()
            .iter()
            .any(|a| a.as_str() == Some("ssm:GetParameter"));
        if !grants {
            continue;
        }
        for r in s.get("Resource").map(as_list).unwrap_or_default() {
            let text = tagged(r).and_then(|(_, v)| v.as_str()).unwrap_or_default();
            for p in SECRET_PARAMETERS {
                if text.contains(&format!("${{{p}}}")) {
                    out.insert(p.to_owned());
                }
            }
        }
    }
    out
}

/// The ports a deployed function's wiring asks for, from a complete source (no call reaches any
/// store); `None` for the event Lambdas wired from the AWS environment alone.
fn wired_ports(binary: &str) -> Option<std::collections::BTreeSet<&'static str>> {
    let config = shop_shared::config::Config::from_env().expect("config");
    let sdk = shop_shared::aws::lambda_sdk_config(&config);
    let db = shop_shared::aws::db(shop_shared::aws::dynamodb_client(&sdk, &config), &config);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let source = shop_shared::aws::all_ports_over(config, db)
            .await
            .expect("ports");
        let asked = match (binary, handlers::endpoint(binary)) {
            (_, Some(endpoint)) => (endpoint.asks)(&source).await,
            ("reconciler", None) => {
                let noting = shop_shared::wiring::Noting::new(&source);
                shop_functions::handlers::reconciler::wire(&noting)
                    .await
                    .map(|_| noting.asked())
            }
            _ => return None,
        };
        Some(asked.expect("wired"))
    })
}

/// A function that reads a secret from SSM at cold start (the JWT secret where its wiring asks for
/// the token keys; the Toss key where it asks for the payment gateway; the cursor secret where it
/// asks for the cursor key) must be allowed exactly that parameter, and nothing else.
#[test]
fn ssm_access_matches_the_secrets_each_function_reads() {
    let doc = template();
    for (id, f) in functions(&doc) {
        let binary = binary_of(&id, f);
        let mut reads = BTreeSet::new();
        if env_var(&doc, f, "JWT_SECRET_PARAMETER").is_some_and(|v| v.as_str() != Some("")) {
            reads.insert("JwtSecretParameterName".to_owned());
        }
        if env_var(&doc, f, "TOSS_SECRET_KEY_PARAMETER").is_some() {
            reads.insert("TossSecretKeyParameterName".to_owned());
        }
        let cursor_parameter = env_var(&doc, f, "CURSOR_SECRET_PARAMETER");
        if let Some(value) = cursor_parameter.filter(|v| v.as_str() != Some("")) {
            assert!(
                tagged(value).is_some_and(|(t, v)| t == "Ref"
                    && v.as_str() == Some("CursorSecretParameterName")),
                "{id}: CURSOR_SECRET_PARAMETER must be !Ref CursorSecretParameterName, found {value:?}"
            );
            reads.insert("CursorSecretParameterName".to_owned());
        }
        assert_eq!(
            granted_parameters(f),
            reads,
            "{id}: SSM parameters read vs granted"
        );
        let wired = wired_ports(&binary);
        let needs_jwt = wired.as_ref().is_some_and(|p| p.contains("jwt"));
        assert_eq!(
            reads.contains("JwtSecretParameterName"),
            needs_jwt,
            "{id}: the functions wired with the token keys read the JWT secret, nothing else does"
        );
        let talks_to_gateway = wired.as_ref().is_some_and(|p| p.contains("payment"));
        assert_eq!(
            reads.contains("TossSecretKeyParameterName"),
            talks_to_gateway,
            "{id}: only the functions wired with the payment gateway read its secret"
        );
        // Without CURSOR_SECRET_PARAMETER the cursor key would fall back to the JWT secret's
        // parameter (or refuse to start): every function that signs cursors names its own.
        let signs_cursors = wired.as_ref().is_some_and(|p| p.contains("cursor_key"));
        assert_eq!(
            reads.contains("CursorSecretParameterName"),
            signs_cursors,
            "{id}: the functions wired with the cursor key read the cursor secret, nothing else does"
        );
    }
}

/// The cursor secret is a parameter of its own, read only by the functions that list (and sign
/// cursors): products-list and orders-list.
#[test]
fn cursor_keys_come_from_their_own_parameter() {
    let doc = template();
    let param = &doc["Parameters"]["CursorSecretParameterName"];
    assert_eq!(param["Type"].as_str(), Some("String"));
    assert_eq!(
        param["AllowedPattern"], doc["Parameters"]["JwtSecretParameterName"]["AllowedPattern"],
        "an SSM parameter name, like the JWT secret's"
    );
    assert_ne!(
        param["Default"], doc["Parameters"]["JwtSecretParameterName"]["Default"],
        "a secret of its own"
    );
    let globals = &doc["Globals"]["Function"]["Environment"]["Variables"];
    assert!(
        globals.get("CURSOR_SECRET_PARAMETER").is_none(),
        "not every function signs cursors"
    );
    let readers: BTreeSet<String> = functions(&doc)
        .into_iter()
        .filter(|(_, f)| env_var(&doc, f, "CURSOR_SECRET_PARAMETER").is_some())
        .map(|(id, f)| binary_of(&id, f))
        .collect();
    let expected: BTreeSet<String> = ["products-list", "orders-list"].map(str::to_owned).into();
    assert_eq!(readers, expected);
    for (id, f) in functions(&doc) {
        let binary = binary_of(&id, f);
        if expected.contains(&binary) {
            assert!(
                granted_parameters(f).contains("CursorSecretParameterName"),
                "{id}: ssm:GetParameter on ${{CursorSecretParameterName}}"
            );
        }
    }
}

/// The template's stages are exactly the configuration's deployed (non-local) stages, and the
/// configuration accepts each of them on Lambda.
#[test]
fn the_templates_stages_are_the_deployed_stages() {
    use shop_shared::config::Stage;
    let doc = template();
    let allowed: BTreeSet<String> = as_list(&doc["Parameters"]["Stage"]["AllowedValues"])
        .iter()
        .map(|v| v.as_str().expect("a stage name").to_owned())
        .collect();
    let deployed: BTreeSet<String> = Stage::ALL
        .into_iter()
        .filter(|s| !s.is_local())
        .map(|s| s.as_str().to_owned())
        .collect();
    assert_eq!(allowed, deployed, "Stage.AllowedValues vs config::Stage");
    for name in &allowed {
        let stage = Stage::resolve(Some(name), true, false).expect("accepted on Lambda");
        assert_eq!(stage.as_str(), name);
    }
    let default = doc["Parameters"]["Stage"]["Default"].as_str();
    assert!(default.is_some_and(|d| allowed.contains(d)), "{default:?}");
}

#[test]
fn production_refuses_the_sandbox_gateway() {
    let doc = template();
    let rule = doc["Rules"]
        .get("ProdUsesARealPaymentGateway")
        .expect("a rule on Stage prod");
    let text = format!("{rule:?}");
    assert!(text.contains("prod") && text.contains("sandbox"), "{text}");
    let env = doc["Globals"]["Function"]["Environment"]["Variables"].clone();
    assert!(tagged(&env["PAYMENT_GATEWAY"])
        .is_some_and(|(t, v)| t == "Ref" && v.as_str() == Some("PaymentGateway")));
    assert!(
        tagged(&env["SHOP_STAGE"]).is_some_and(|(t, v)| t == "Ref" && v.as_str() == Some("Stage"))
    );
}

#[test]
fn inline_policies_have_no_wildcards() {
    let doc = template();
    for (id, f) in functions(&doc) {
        for s in statements(f) {
            for a in s.get("Action").map(as_list).unwrap_or_default() {
                let a = a.as_str().unwrap_or_default();
                assert!(!a.contains('*'), "{id}: wildcard action {a}");
            }
            for r in s.get("Resource").map(as_list).unwrap_or_default() {
                assert_ne!(r.as_str(), Some("*"), "{id}: Resource \"*\"");
            }
        }
    }
}

#[test]
fn tables_are_on_demand_with_point_in_time_recovery() {
    let doc = template();
    let tables = resources_of_type(&doc, "AWS::DynamoDB::Table");
    assert!(!tables.is_empty(), "no tables in the template");
    for (id, t) in tables {
        let props = t.get("Properties");
        assert_eq!(
            props
                .and_then(|p| p.get("BillingMode"))
                .and_then(Value::as_str),
            Some("PAY_PER_REQUEST"),
            "{id}: BillingMode"
        );
        assert_eq!(
            props
                .and_then(|p| p.get("PointInTimeRecoverySpecification"))
                .and_then(|p| p.get("PointInTimeRecoveryEnabled"))
                .and_then(Value::as_bool),
            Some(true),
            "{id}: PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled"
        );
    }
}

#[test]
fn tables_are_the_ones_local_set_up_and_config_know() {
    let doc = template();
    let in_template: BTreeSet<String> = resources_of_type(&doc, "AWS::DynamoDB::Table")
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let read_by_setup: BTreeSet<String> = table_logical_ids(TEMPLATE)
        .expect("infra_tables reads the compiled-in template")
        .into_iter()
        .collect();
    assert_eq!(
        in_template, read_by_setup,
        "tables in the template vs infra_tables::TEMPLATE"
    );

    let names = TableNames::with_prefix("x-");
    let configured: BTreeMap<&str, &str> = names.by_logical_id().into_iter().collect();
    assert_eq!(
        in_template,
        configured
            .keys()
            .map(|k| (*k).to_owned())
            .collect::<BTreeSet<_>>(),
        "tables in the template vs config::TableNames::by_logical_id"
    );
    // Local names come from "${AWS::StackName}-<suffix>" with the prefix in its place.
    for (id, local_name) in configured {
        let table = &doc["Resources"][id];
        let name = table.get("Properties").and_then(|p| p.get("TableName"));
        let sub = match name.and_then(tagged) {
            Some((tag, v)) if tag == "Sub" => v.as_str(),
            _ => None,
        };
        let suffix = sub
            .and_then(|s| s.strip_prefix("${AWS::StackName}-"))
            .unwrap_or_else(|| {
                panic!(
                    "{id}: TableName must be !Sub \"${{AWS::StackName}}-<suffix>\", found {name:?}"
                )
            });
        assert_eq!(format!("x-{suffix}"), local_name, "{id}: local table name");
    }
}

/// `[watch.router]` of the root `CargoLambda.toml` (the `cargo lambda watch` HTTP router) serves
/// the same routes (one line per path: `"/path" = [{ method = "GET", function = "bin" }, ...]`).
#[test]
fn cargo_lambda_watch_router_is_the_route_table() {
    let path = repo_root().join("CargoLambda.toml");
    let manifest = std::fs::read_to_string(&path).expect("CargoLambda.toml");
    let mut in_router = false;
    let mut declared = BTreeSet::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') && !line.starts_with("[{") {
            in_router = line == "[watch.router]";
            continue;
        }
        if !in_router || line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line
            .split_once(" = ")
            .expect("router line: \"/path\" = [...]");
        let route_path = key.trim_matches('"');
        for entry in value.split("method = \"").skip(1) {
            let method = entry.split('"').next().expect("method");
            let function = entry
                .split("function = \"")
                .nth(1)
                .and_then(|f| f.split('"').next())
                .expect("function");
            declared.insert((
                method.to_owned(),
                route_path.to_owned(),
                function.to_owned(),
            ));
        }
    }
    let expected = route_table();
    assert_eq!(
        declared, expected,
        "cargo lambda watch router vs handlers::TABLE"
    );
}

fn example_event(name: &str) -> String {
    let path = repo_root().join("functions/events").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The example events of `functions/events/` (for `cargo lambda invoke --data-file`) are what the
/// functions accept: API Gateway v2 requests that route to the named function, a stream INSERT the
/// relay turns into `OrderPlaced`, and an `OrderPlaced` EventBridge event.
#[test]
fn example_events_are_accepted() {
    use lambda_http::RequestExt;

    let table = handlers::TABLE;
    for (file, function) in [
        ("apigw-health.json", "health"),
        ("apigw-get-product.json", "products-get"),
        ("apigw-signup.json", "auth-signup"),
        ("apigw-charge.json", "balance-charge"),
    ] {
        let req = lambda_http::request::from_str(&example_event(file))
            .unwrap_or_else(|e| panic!("{file}: not an API Gateway v2 request: {e}"));
        match routes::find(table, req.method(), req.uri().path()) {
            routes::Match::Found(route, params) => {
                assert_eq!(route.function, function, "{file}: routed to");
                for (name, value) in params {
                    assert_eq!(
                        req.path_parameters().first(&name),
                        Some(value.as_str()),
                        "{file}: pathParameters.{name}"
                    );
                }
            }
            other => panic!(
                "{file}: {} {} does not route: {other:?}",
                req.method(),
                req.uri().path()
            ),
        }
    }

    let stream: aws_lambda_events::dynamodb::Event =
        serde_json::from_str(&example_event("dynamodb-stream-order.json"))
            .expect("a DynamoDB stream event");
    let records = shop_functions::handlers::order_relay::change_records(stream);
    assert_eq!(records.len(), 1, "dynamodb-stream-order.json: one record");
    let from_stream = records[0]
        .event()
        .cloned()
        .expect("dynamodb-stream-order.json: an INSERT of an order the relay publishes");

    let bridged: aws_lambda_events::eventbridge::EventBridgeEvent<
        shop_shared::events::OrderPlaced,
    > = serde_json::from_str(&example_event("eventbridge-order-placed.json"))
        .expect("an OrderPlaced event");
    assert_eq!(bridged.source, shop_shared::events::SOURCE);
    assert_eq!(bridged.detail_type, shop_shared::events::DETAIL_TYPE);
    assert_eq!(
        bridged.detail, from_stream,
        "the two example events carry the same order"
    );
    assert_eq!(
        bridged.detail.event_id,
        format!("evt_{}", bridged.detail.order.order_id)
    );
}

#[test]
fn logical_ids_are_pascal_case_of_the_binary() {
    assert_eq!(logical_id_for("auth-signup"), "AuthSignupFunction");
    assert_eq!(logical_id_for("health"), "HealthFunction");
    assert_eq!(logical_id_for("order-relay"), "OrderRelayFunction");
}

/// Observability: X-Ray and JSON logs on every function, the alarms of docs/OPERATIONS.md wired to
/// the alarm topic, the dashboard, and every `Shop` metric they use emitted by the code.
#[test]
fn every_function_is_traced_and_logs_json() {
    let doc = template();
    for (id, f) in functions(&doc) {
        assert_eq!(
            function_prop(&doc, f, "Tracing").and_then(Value::as_str),
            Some("Active"),
            "{id}: Tracing"
        );
        let logging = function_prop(&doc, f, "LoggingConfig");
        assert_eq!(
            logging
                .and_then(|l| l.get("LogFormat"))
                .and_then(Value::as_str),
            Some("JSON"),
            "{id}: LoggingConfig.LogFormat"
        );
        // A function with its own role needs the X-Ray grants SAM adds to generated roles.
        if let Some(role) = f.get("Properties").and_then(|p| p.get("Role")) {
            let (_, target) = tagged(role).expect("Role is !GetAtt <role>.Arn");
            let role_id = target
                .as_str()
                .and_then(|s| s.strip_suffix(".Arn"))
                .expect("a role of this template");
            let managed = format!(
                "{:?}",
                doc["Resources"][role_id]["Properties"]["ManagedPolicyArns"]
            );
            assert!(
                managed.contains("AWSXRayDaemonWriteAccess"),
                "{role_id}: X-Ray grants"
            );
        }
    }
}

#[test]
fn alarms_notify_the_topic_and_watch_what_the_runbook_covers() {
    let doc = template();
    let runbook = std::fs::read_to_string(repo_root().join("docs/OPERATIONS.md")).expect("runbook");
    let alarms = resources_of_type(&doc, "AWS::CloudWatch::Alarm");
    let ids: BTreeSet<&str> = alarms.iter().map(|(id, _)| id.as_str()).collect();
    for expected in [
        "RelayIteratorAgeAlarm",
        "RelayDeadLettersAlarm",
        "ConsumerDeadLettersAlarm",
        "Api5xxRateAlarm",
        "LambdaErrorsAlarm1",
        "LambdaThrottlesAlarm1",
        "TryAgainRateAlarm",
        "ChargesInDoubtAlarm",
        "DeadLetterAgeAlarm",
        "ReconcilerHeartbeatAlarm",
        "PaymentGatewayErrorsAlarm",
        "RelayFailedEntriesAlarm",
        "EventBridgeFailedInvocationsAlarm",
        "DynamoDbThrottlesAlarm",
    ] {
        assert!(ids.contains(expected), "missing alarm {expected}: {ids:?}");
    }
    let shop_metrics: BTreeSet<&str> = shop_shared::telemetry::ALL
        .iter()
        .map(|(n, _)| *n)
        .collect();
    for (id, alarm) in &alarms {
        let props = &alarm["Properties"];
        for key in ["AlarmActions", "OKActions"] {
            let actions = as_list(&props[key]);
            assert!(
                actions.iter().any(|a| tagged(a)
                    .is_some_and(|(t, v)| t == "Ref" && v.as_str() == Some("AlarmTopic"))),
                "{id}: {key} must notify AlarmTopic"
            );
        }
        assert!(
            runbook.contains(id.as_str()),
            "{id} has no runbook entry in docs/OPERATIONS.md"
        );
        let description = props["AlarmDescription"].as_str().unwrap_or_default();
        assert!(
            description.contains("docs/OPERATIONS.md#"),
            "{id}: description links the runbook"
        );
        // Every metric of our namespace an alarm watches is one the code emits.
        let text = format!("{props:?}");
        if text.contains("\"Shop\"") {
            let names: Vec<&str> = shop_metrics
                .iter()
                .copied()
                .filter(|n| text.contains(&format!("\"{n}\"")))
                .collect();
            assert!(
                !names.is_empty(),
                "{id}: watches a Shop metric the code does not emit"
            );
        }
    }
    let subscription = &doc["Resources"]["AlarmEmailSubscription"];
    assert_eq!(subscription["Condition"].as_str(), Some("HasAlarmEmail"));
}

#[test]
fn the_dashboard_shows_orders_refusals_latency_lag_and_dead_letters() {
    let doc = template();
    let dashboards = resources_of_type(&doc, "AWS::CloudWatch::Dashboard");
    assert_eq!(dashboards.len(), 1, "one operations dashboard");
    let body = format!("{:?}", dashboards[0].1["Properties"]["DashboardBody"]);
    for needle in [
        "OrdersPlaced",
        "OrdersRefused",
        "Latency",
        "IteratorAge",
        "EventLag",
        "ApproximateNumberOfMessagesVisible",
    ] {
        assert!(body.contains(needle), "dashboard lacks {needle}");
    }
}

/// The storefront's CloudFront distribution sends every API route to the HTTP API (same origin), and
/// everything else to the bucket.
#[test]
fn the_storefront_distribution_routes_every_api_path_to_the_api() {
    let doc = template();
    let dist = &doc["Resources"]["StorefrontDistribution"]["Properties"]["DistributionConfig"];
    let patterns: Vec<String> = as_list(&dist["CacheBehaviors"])
        .iter()
        .filter(|b| b["TargetOriginId"].as_str() == Some("api"))
        .map(|b| b["PathPattern"].as_str().expect("PathPattern").to_owned())
        .collect();
    let matches = |pattern: &str, path: &str| match pattern.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => pattern == path,
    };
    for route in handlers::TABLE {
        // A concrete path of the route: its parameters filled in.
        let path = route
            .path
            .replace("{productId}", "p1")
            .replace("{orderId}", "o1");
        assert!(
            patterns.iter().any(|p| matches(p, &path)),
            "{} {} is not routed to the API by StorefrontDistribution ({patterns:?})",
            route.method,
            route.path
        );
    }
    for page in ["/", "/app.js", "/app.css", "/index.html"] {
        assert!(
            !patterns.iter().any(|p| matches(p, page)),
            "{page} must come from the bucket"
        );
    }
    assert_eq!(
        dist["DefaultCacheBehavior"]["TargetOriginId"].as_str(),
        Some("storefront")
    );
}
