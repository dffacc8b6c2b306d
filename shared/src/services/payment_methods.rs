//! Saved payment methods: cards the gateway keeps for automatic payments (billing).
//!
//! Registering exchanges the card-registration window's `authKey` for a billing key issued to
//! the user's customer key; the billing key is kept in the store only (never logged, never
//! answered). With an Idempotency-Key the method's id is derived from the user and the key, so a
//! replay finds the method its first request stored (even once deleted) and a reuse with another
//! body is told apart by the stored request hash; the gateway's issue carries the same key.

use std::sync::Arc;

use serde::Serialize;
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::clock::rfc3339;
use crate::domain::ids::UserId;
use crate::domain::input::{JsonObject, ValidationError};
use crate::ports::{
    GatewayError, MethodToken, PaymentGateway, PaymentMethod, PaymentMethodStore,
    SaveMethodOutcome, StoreError,
};
use crate::wiring::{Env, Ports, WireError};

/// The prefix of every payment method id.
pub const METHOD_ID_PREFIX: &str = "pm_";

/// What registering uses.
#[derive(Clone)]
pub struct MethodRegisterPorts {
    pub env: Env,
    pub methods: Arc<dyn PaymentMethodStore>,
    pub payment: Arc<dyn PaymentGateway>,
}

impl MethodRegisterPorts {
    pub async fn wire(p: &impl Ports) -> Result<Self, WireError> {
        Ok(Self {
            env: p.env(),
            methods: p.payment_methods(),
            payment: p.payment().await?,
        })
    }
}

/// What listing and deleting use.
#[derive(Clone)]
pub struct MethodStorePorts {
    pub methods: Arc<dyn PaymentMethodStore>,
}

impl MethodStorePorts {
    pub fn wire(p: &impl Ports) -> Self {
        Self {
            methods: p.payment_methods(),
        }
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct RegisterInput {
    /// The card-registration window's authKey (never logged).
    pub auth_key: String,
}

impl RegisterInput {
    pub fn from_json(body: &JsonObject) -> Result<Self, ValidationError> {
        Ok(Self {
            auth_key: body.string("authKey", 1, 300)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisteredMethod {
    pub payment_method_id: String,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MethodView {
    pub payment_method_id: String,
    pub label: String,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MethodList {
    pub items: Vec<MethodView>,
}

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum MethodError {
    #[error("the gateway refused the card")]
    Declined,
    /// The gateway failed or did not answer: nothing was stored (a retry tries again).
    #[error("the payment gateway failed")]
    GatewayFailed,
    #[error("no such payment method")]
    NotFound,
    #[error("the Idempotency-Key was used with another request body")]
    KeyReused,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The customer key the gateway knows the user by (derived, so it is never stored apart).
pub fn customer_key(user_id: &UserId) -> String {
    let digest = hex::encode(Sha256::digest(
        format!("shop-customer\n{user_id}").as_bytes(),
    ));
    format!("cust_{}", &digest[..32])
}

fn method_id(user_id: &UserId, idempotency_key: Option<&str>) -> String {
    match idempotency_key {
        Some(key) => {
            let digest = hex::encode(Sha256::digest(format!("{user_id}\n{key}").as_bytes()));
            format!("{METHOD_ID_PREFIX}{}", &digest[..32])
        }
        None => format!("{METHOD_ID_PREFIX}{}", uuid::Uuid::new_v4().simple()),
    }
}

fn replayed(existing: PaymentMethod, request_hash: &str) -> Result<RegisteredMethod, MethodError> {
    if existing.request_hash != request_hash {
        return Err(MethodError::KeyReused);
    }
    Ok(RegisteredMethod {
        payment_method_id: existing.payment_method_id,
        label: existing.label,
    })
}

/// Registers the card the gateway authorised under `input.auth_key`.
#[tracing::instrument(name = "payment_methods.register", skip_all, fields(keyed = idempotency_key.is_some()))]
pub async fn register(
    ctx: &MethodRegisterPorts,
    user_id: &UserId,
    idempotency_key: Option<&str>,
    request_hash: String,
    input: RegisterInput,
) -> Result<RegisteredMethod, MethodError> {
    let id = method_id(user_id, idempotency_key);
    if idempotency_key.is_some() {
        if let Some(existing) = ctx.methods.find(user_id, &id).await? {
            return replayed(existing, &request_hash);
        }
    }
    let customer_key = customer_key(user_id);
    let card = match ctx
        .payment
        .issue_billing_key(&input.auth_key, &customer_key, &id)
        .await
    {
        Ok(card) => card,
        Err(GatewayError::Declined) => return Err(MethodError::Declined),
        Err(e) => {
            tracing::warn!(error = %e, "payment method: the gateway failed");
            return Err(MethodError::GatewayFailed);
        }
    };
    let method = PaymentMethod {
        payment_method_id: id,
        user_id: user_id.clone(),
        label: card.label,
        billing_key: card.billing_key,
        customer_key,
        created_at: rfc3339(ctx.env.clock.now()),
        request_hash,
        deleted: false,
    };
    match ctx.methods.save(&method).await? {
        SaveMethodOutcome::Saved => Ok(RegisteredMethod {
            payment_method_id: method.payment_method_id,
            label: method.label,
        }),
        // A concurrent request with the same key stored it first.
        SaveMethodOutcome::Exists(existing) => replayed(existing, &method.request_hash),
    }
}

/// The caller's saved cards, oldest first.
pub async fn list(ctx: &MethodStorePorts, user_id: &UserId) -> Result<MethodList, MethodError> {
    let items = ctx
        .methods
        .list(user_id)
        .await?
        .into_iter()
        .map(|m| MethodView {
            payment_method_id: m.payment_method_id,
            label: m.label,
            created_at: m.created_at,
        })
        .collect();
    Ok(MethodList { items })
}

/// Deletes one of the caller's saved cards.
pub async fn delete(
    ctx: &MethodStorePorts,
    user_id: &UserId,
    payment_method_id: &str,
) -> Result<(), MethodError> {
    if ctx.methods.delete(user_id, payment_method_id).await? {
        Ok(())
    } else {
        Err(MethodError::NotFound)
    }
}

/// What `paymentMethod` of a charge names: one of the caller's saved cards (a `pm_` id: `None`
/// when it is not theirs, or deleted), else the gateway's one-off token.
pub async fn resolve(
    methods: &dyn PaymentMethodStore,
    user_id: &UserId,
    payment_method: &str,
) -> Result<Option<MethodToken>, StoreError> {
    if !payment_method.starts_with(METHOD_ID_PREFIX) {
        return Ok(Some(MethodToken::OneOff(payment_method.to_owned())));
    }
    Ok(methods
        .find(user_id, payment_method)
        .await?
        .filter(|m| !m.deleted)
        .map(|m| MethodToken::Billing {
            billing_key: m.billing_key,
            customer_key: m.customer_key,
        }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::{MemorySandboxLedger, MemoryStore};
    use crate::adapters::payment::sandbox::SandboxGateway;
    use crate::clock::SystemClock;
    use crate::config::Config;

    fn ports() -> (MethodRegisterPorts, MemoryStore) {
        let store = MemoryStore::default();
        let ledger = MemorySandboxLedger::sharing(&store);
        let env = Env {
            config: Arc::new(Config::from_env().expect("config")),
            clock: Arc::new(SystemClock),
        };
        let ports = MethodRegisterPorts {
            env,
            methods: Arc::new(store.clone()),
            payment: Arc::new(SandboxGateway::new(ledger)),
        };
        (ports, store)
    }

    fn input(auth_key: &str) -> RegisterInput {
        RegisterInput {
            auth_key: auth_key.into(),
        }
    }

    #[tokio::test]
    async fn registering_is_idempotent_by_key_and_refusals_store_nothing() {
        let (p, store) = ports();
        let user: UserId = "usr_1".into();
        let first = register(&p, &user, Some("k"), "h1".into(), input("auth_a"))
            .await
            .expect("saved");
        assert!(first.payment_method_id.starts_with(METHOD_ID_PREFIX));
        assert_eq!(
            register(&p, &user, Some("k"), "h1".into(), input("auth_a")).await,
            Ok(first.clone())
        );
        assert_eq!(
            register(&p, &user, Some("k"), "h2".into(), input("auth_b")).await,
            Err(MethodError::KeyReused)
        );
        // Another user's key of the same name is theirs alone.
        let other: UserId = "usr_2".into();
        let theirs = register(&p, &other, Some("k"), "h1".into(), input("auth_a"))
            .await
            .expect("saved");
        assert_ne!(theirs.payment_method_id, first.payment_method_id);
        assert_eq!(
            register(&p, &user, None, "h3".into(), input("auth_declined")).await,
            Err(MethodError::Declined)
        );
        let mine = MethodStorePorts {
            methods: Arc::new(store.clone()),
        };
        assert_eq!(list(&mine, &user).await.expect("list").items.len(), 1);

        // Resolving: my card is its billing key; another user's, a deleted one or none is `None`;
        // anything else is a one-off token.
        let resolved = resolve(&store, &user, &first.payment_method_id)
            .await
            .expect("read");
        assert!(matches!(
            resolved,
            Some(MethodToken::Billing { customer_key: ref ck, .. }) if *ck == customer_key(&user)
        ));
        assert_eq!(
            resolve(&store, &other, &first.payment_method_id).await,
            Ok(None)
        );
        assert_eq!(
            resolve(&store, &user, "tok_sandbox").await,
            Ok(Some(MethodToken::OneOff("tok_sandbox".into())))
        );
        assert_eq!(
            delete(&mine, &other, &first.payment_method_id).await,
            Err(MethodError::NotFound)
        );
        delete(&mine, &user, &first.payment_method_id)
            .await
            .expect("deleted");
        assert_eq!(
            delete(&mine, &user, &first.payment_method_id).await,
            Err(MethodError::NotFound)
        );
        assert_eq!(
            resolve(&store, &user, &first.payment_method_id).await,
            Ok(None)
        );
        assert!(list(&mine, &user).await.expect("list").items.is_empty());
        // The key's replay still answers the first response.
        assert_eq!(
            register(&p, &user, Some("k"), "h1".into(), input("auth_a")).await,
            Ok(first)
        );
    }

    #[tokio::test]
    async fn a_concurrent_registration_under_the_same_key_answers_the_winner() {
        let (p, store) = ports();
        let user: UserId = "usr_1".into();
        // Another request with the same key stores its method between this one's read and write.
        let winner = PaymentMethod {
            payment_method_id: method_id(&user, Some("k")),
            user_id: user.clone(),
            label: "winner".into(),
            billing_key: "bk_sandbox_w".into(),
            customer_key: customer_key(&user),
            created_at: "2026-12-03T00:00:00Z".into(),
            request_hash: "h1".into(),
            deleted: false,
        };
        let s = store.clone();
        store.faults.hook_before("save_payment_method", move || {
            s.put_payment_method(winner.clone())
        });
        let answer = register(&p, &user, Some("k"), "h1".into(), input("auth_a"))
            .await
            .expect("the winner's answer");
        assert_eq!(answer.label, "winner");
    }
}
