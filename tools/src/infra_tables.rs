//! Table definitions read from `infra/template.yaml`, the one place key schemas are written.
//!
//! Local set-up and the integration tests create tables from these definitions, so the
//! deployed tables and the local ones cannot drift apart.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    LocalSecondaryIndex, Projection, ProjectionType, ScalarAttributeType, StreamSpecification,
    StreamViewType, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use serde::Deserialize;
use serde_yaml_ng::Value;
use thiserror::Error;

use shop_shared::adapters::dynamodb::map_sdk;
use shop_shared::config::TableNames;
use shop_shared::ports::StoreError;

/// The SAM template, compiled in so binaries need no file at run time.
pub const TEMPLATE: &str = include_str!("../../infra/template.yaml");

#[derive(Debug, Error)]
pub enum TemplateError {
    #[error("template is not valid YAML: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
    #[error("table {0} is not defined in the template")]
    MissingTable(String),
    #[error("table {table}: {reason}")]
    Invalid { table: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct AttrDef {
    pub attribute_name: String,
    pub attribute_type: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct KeyDef {
    pub attribute_name: String,
    pub key_type: String,
}

/// A global or local secondary index (the same fields).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct IndexDef {
    pub index_name: String,
    pub key_schema: Vec<KeyDef>,
    pub projection: ProjectionDef,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ProjectionDef {
    pub projection_type: String,
    /// `INCLUDE` projections: the attributes besides the keys.
    #[serde(default)]
    pub non_key_attributes: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct TtlDef {
    pub attribute_name: String,
    pub enabled: bool,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct StreamDef {
    pub stream_view_type: String,
}

/// One `AWS::DynamoDB::Table` from the template (the parts local set-up needs).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct TableDef {
    pub attribute_definitions: Vec<AttrDef>,
    pub key_schema: Vec<KeyDef>,
    #[serde(default)]
    pub global_secondary_indexes: Vec<IndexDef>,
    #[serde(default)]
    pub local_secondary_indexes: Vec<IndexDef>,
    pub time_to_live_specification: Option<TtlDef>,
    pub stream_specification: Option<StreamDef>,
}

/// Reads a table's definition by its logical id.
pub fn table_def(template: &str, logical_id: &str) -> Result<TableDef, TemplateError> {
    let doc: Value = serde_yaml_ng::from_str(template)?;
    let props = doc
        .get("Resources")
        .and_then(|r| r.get(logical_id))
        .filter(|r| r.get("Type").and_then(Value::as_str) == Some("AWS::DynamoDB::Table"))
        .and_then(|r| r.get("Properties"))
        .ok_or_else(|| TemplateError::MissingTable(logical_id.to_owned()))?;
    serde_yaml_ng::from_value(props.clone()).map_err(|e| TemplateError::Invalid {
        table: logical_id.to_owned(),
        reason: e.to_string(),
    })
}

/// Logical ids of every DynamoDB table in the template.
pub fn table_logical_ids(template: &str) -> Result<Vec<String>, TemplateError> {
    let doc: Value = serde_yaml_ng::from_str(template)?;
    let Some(Value::Mapping(resources)) = doc.get("Resources") else {
        return Ok(Vec::new());
    };
    Ok(resources
        .iter()
        .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some("AWS::DynamoDB::Table"))
        .filter_map(|(k, _)| k.as_str().map(str::to_owned))
        .collect())
}

fn key_schema(keys: &[KeyDef], table: &str) -> Result<Vec<KeySchemaElement>, TemplateError> {
    keys.iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(&k.attribute_name)
                .key_type(KeyType::from(k.key_type.as_str()))
                .build()
                .map_err(|e| TemplateError::Invalid {
                    table: table.to_owned(),
                    reason: e.to_string(),
                })
        })
        .collect()
}

fn invalid(table: &str) -> impl Fn(aws_sdk_dynamodb::error::BuildError) -> TemplateError + '_ {
    move |e| TemplateError::Invalid {
        table: table.to_owned(),
        reason: e.to_string(),
    }
}

/// Creates (if missing) one table from its definition, with its indexes, TTL and stream as defined.
pub async fn create_table(
    client: &Client,
    name: &str,
    def: &TableDef,
) -> Result<bool, TemplateError> {
    let attrs = def
        .attribute_definitions
        .iter()
        .map(|a| {
            AttributeDefinition::builder()
                .attribute_name(&a.attribute_name)
                .attribute_type(ScalarAttributeType::from(a.attribute_type.as_str()))
                .build()
                .map_err(invalid(name))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut req = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(attrs))
        .set_key_schema(Some(key_schema(&def.key_schema, name)?));
    let projection = |i: &IndexDef| {
        Projection::builder()
            .projection_type(ProjectionType::from(i.projection.projection_type.as_str()))
            .set_non_key_attributes(
                Some(i.projection.non_key_attributes.clone()).filter(|a| !a.is_empty()),
            )
            .build()
    };
    for g in &def.global_secondary_indexes {
        req = req.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(&g.index_name)
                .set_key_schema(Some(key_schema(&g.key_schema, name)?))
                .projection(projection(g))
                .build()
                .map_err(invalid(name))?,
        );
    }
    for l in &def.local_secondary_indexes {
        req = req.local_secondary_indexes(
            LocalSecondaryIndex::builder()
                .index_name(&l.index_name)
                .set_key_schema(Some(key_schema(&l.key_schema, name)?))
                .projection(projection(l))
                .build()
                .map_err(invalid(name))?,
        );
    }
    if let Some(stream) = &def.stream_specification {
        req = req.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(stream.stream_view_type.as_str()))
                .build()
                .map_err(invalid(name))?,
        );
    }
    match req.send().await {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) =>
        {
            return Ok(false);
        }
        Err(e) => return Err(map_sdk(e).into()),
    }
    if let Some(ttl) = &def.time_to_live_specification {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(&ttl.attribute_name)
                    .enabled(ttl.enabled)
                    .build()
                    .map_err(invalid(name))?,
            )
            .send()
            .await
            .map_err(map_sdk)?;
    }
    Ok(true)
}

/// Creates every table of the template under the given names.
pub async fn create_all(client: &Client, names: &TableNames) -> Result<(), TemplateError> {
    for (logical_id, name) in names.by_logical_id() {
        let def = table_def(TEMPLATE, logical_id)?;
        create_table(client, name, &def).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_configured_table_is_in_the_template_and_vice_versa() {
        let names = TableNames::with_prefix("x-");
        let mut configured: Vec<&str> = names.by_logical_id().iter().map(|(id, _)| *id).collect();
        configured.sort_unstable();
        let mut in_template = table_logical_ids(TEMPLATE).expect("template parses");
        in_template.sort();
        assert_eq!(configured, in_template);
        for id in configured {
            let def = table_def(TEMPLATE, id).expect("definition");
            assert!(!def.key_schema.is_empty(), "{id} has a key schema");
        }
    }

    #[test]
    fn sales_table_lists_each_day_shard_by_rank() {
        let def = table_def(TEMPLATE, "SalesTable").expect("sales");
        let sold = def
            .local_secondary_indexes
            .iter()
            .find(|i| i.index_name == shop_shared::adapters::dynamodb::SOLD_INDEX)
            .expect("the sold index");
        let keys: Vec<(&str, &str)> = sold
            .key_schema
            .iter()
            .map(|k| (k.attribute_name.as_str(), k.key_type.as_str()))
            .collect();
        assert_eq!(keys, [("pk", "HASH"), ("soldRank", "RANGE")]);
        assert!(def
            .attribute_definitions
            .iter()
            .any(|a| a.attribute_name == "soldRank" && a.attribute_type == "N"));
    }

    #[test]
    fn orders_table_streams_new_images() {
        let def = table_def(TEMPLATE, "OrdersTable").expect("orders");
        assert_eq!(
            def.stream_specification
                .map(|s| s.stream_view_type)
                .as_deref(),
            Some("NEW_IMAGE")
        );
    }
}
