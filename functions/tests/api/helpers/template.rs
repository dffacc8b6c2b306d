//! Reading `infra/template.yaml` in tests: resources, functions, their binaries and policies.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the functions crate lives inside the workspace")
        .to_path_buf()
}

pub fn template() -> Value {
    let path = repo_root().join("infra/template.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A CloudFormation short-form tag (`!Ref X`) as (tag name without `!`, value).
pub fn tagged(v: &Value) -> Option<(String, &Value)> {
    match v {
        Value::Tagged(t) => Some((
            t.tag.to_string().trim_start_matches('!').to_owned(),
            &t.value,
        )),
        _ => None,
    }
}

pub fn str_of<'a>(v: Option<&'a Value>, what: &str) -> &'a str {
    v.and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{what}: expected a plain string, found {v:?}"))
}

pub fn resources_of_type<'a>(doc: &'a Value, cfn_type: &str) -> Vec<(String, &'a Value)> {
    let Some(Value::Mapping(resources)) = doc.get("Resources") else {
        panic!("template has no Resources mapping");
    };
    resources
        .iter()
        .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some(cfn_type))
        .map(|(k, r)| (k.as_str().expect("logical ids are strings").to_owned(), r))
        .collect()
}

pub fn functions(doc: &Value) -> Vec<(String, &Value)> {
    let fns = resources_of_type(doc, "AWS::Serverless::Function");
    assert!(
        !fns.is_empty(),
        "no AWS::Serverless::Function in the template"
    );
    fns
}

/// The binary a function runs: its logical id without "Function", in kebab case
/// (AuthSignupFunction -> auth-signup), the convention functions/Makefile builds by.
pub fn binary_of(logical_id: &str, _function: &Value) -> String {
    let stem = logical_id
        .strip_suffix("Function")
        .unwrap_or_else(|| panic!("{logical_id}: a function's logical id ends in Function"));
    let mut binary = String::new();
    for (i, c) in stem.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            binary.push('-');
        }
        binary.push(c.to_ascii_lowercase());
    }
    binary
}

pub fn statements(function: &Value) -> Vec<&Value> {
    let Some(Value::Sequence(policies)) =
        function.get("Properties").and_then(|p| p.get("Policies"))
    else {
        return Vec::new();
    };
    policies
        .iter()
        .filter_map(|p| p.get("Statement")?.as_sequence())
        .flatten()
        .collect()
}

pub fn as_list(v: &Value) -> Vec<&Value> {
    match v {
        Value::Sequence(s) => s.iter().collect(),
        other => vec![other],
    }
}

/// What a function's inline policy allows on DynamoDB: (action, table logical id, index name).
pub fn dynamodb_grants(function: &Value) -> BTreeSet<(String, String, Option<String>)> {
    let mut out = BTreeSet::new();
    for s in statements(function) {
        let actions: Vec<String> = s
            .get("Action")
            .map(as_list)
            .unwrap_or_default()
            .iter()
            .filter_map(|a| a.as_str().map(str::to_owned))
            .filter(|a| a.starts_with("dynamodb:"))
            .collect();
        for r in s.get("Resource").map(as_list).unwrap_or_default() {
            let Some((tag, v)) = tagged(r) else { continue };
            let text = v.as_str().unwrap_or_default();
            let (table, index) = match tag.as_str() {
                // !GetAtt UsersTable.Arn
                "GetAtt" => (text.trim_end_matches(".Arn").to_owned(), None),
                // !Sub "${IdempotencyTable.Arn}/index/settle"
                "Sub" => {
                    let Some(rest) = text.strip_prefix("${") else {
                        continue;
                    };
                    let Some((res, tail)) = rest.split_once('}') else {
                        continue;
                    };
                    let index = tail.strip_prefix("/index/").map(str::to_owned);
                    (res.trim_end_matches(".Arn").to_owned(), index)
                }
                _ => continue,
            };
            for a in &actions {
                out.insert((a.clone(), table.clone(), index.clone()));
            }
        }
    }
    out
}
