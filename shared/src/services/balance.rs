//! Reading the prepaid balance (charging it: [`crate::services::charges`]).

use serde::Serialize;
use thiserror::Error;

use std::sync::Arc;

use crate::domain::ids::UserId;
use crate::ports::{StoreError, UserStore};
use crate::wiring::Ports;

/// What reading the balance uses.
#[derive(Clone)]
pub struct BalancePorts {
    pub users: Arc<dyn UserStore>,
}

impl BalancePorts {
    pub fn wire(p: &impl Ports) -> Self {
        Self { users: p.users() }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BalanceView {
    pub user_id: UserId,
    pub balance: i64,
}

#[derive(Debug, Error)]
pub enum BalanceError {
    /// The token names no user.
    #[error("no such user")]
    NoUser,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub async fn get(ctx: &BalancePorts, user_id: &UserId) -> Result<BalanceView, BalanceError> {
    let balance = ctx
        .users
        .balance(user_id)
        .await?
        .ok_or(BalanceError::NoUser)?;
    Ok(BalanceView {
        user_id: user_id.to_owned(),
        balance,
    })
}
