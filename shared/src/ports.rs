//! The ports: what the services need from the outside world, in domain terms.
//!
//! Every call ends in one of three ways, and the type says which:
//! - **applied**: `Ok(..)`, with the domain outcome (`PlaceOutcome::OutOfStock` is an outcome:
//!   the store answered, definitely, that nothing was written);
//! - **not applied**: `Err(StoreError::NotApplied(..))`: it definitely did not happen;
//! - **unknown**: `Err(StoreError::Unknown(..))`: it may or may not have happened.
//!
//! Adapters: `adapters::dynamodb` (AWS), `adapters::memory` (unit tests, with fault injection),
//! `adapters::payment` (gateways).

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::NaiveDate;
use thiserror::Error;

use crate::domain::cart::{CartLine, LineWrite};
use crate::domain::events::{DeadLetter, OrderPlaced};
use crate::domain::idempotency::{IdemRecord, Lease, LeaseToken, RecordKey, RecordStatus};
use crate::domain::ids::{OrderId, ProductId, UserId};
use crate::domain::order::{Order, PricedLine};
use crate::domain::popular::{sub_counter_for, SalesEntry, SalesHead, SalesKey, SalesList};
use crate::domain::product::{Product, Stocked};
use crate::domain::stock::{Carry, Draw, Reshape};
use crate::domain::user::{LoginRecord, UserProfile};

/// Why a call definitely did not happen.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NotApplied {
    #[error("throttled")]
    Throttled,
    #[error("another transaction holds one of the items")]
    Conflict,
    /// Refused for good (validation, access, missing table): retrying cannot help.
    #[error("refused ({code}): {message}")]
    Rejected { code: String, message: String },
    /// Not started: the request's time was up.
    #[error("not started: the request's time is up")]
    OutOfTime,
}

impl NotApplied {
    /// Worth another attempt after a pause.
    pub fn is_transient(&self) -> bool {
        matches!(self, NotApplied::Throttled | NotApplied::Conflict)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StoreError {
    #[error("not applied: {0}")]
    NotApplied(NotApplied),
    /// Timeout, connection lost after sending, 5xx, unreadable answer.
    #[error("outcome unknown: {0}")]
    Unknown(String),
    /// Stored data that cannot be read (a bug or a manual edit): never retried.
    #[error("stored data is malformed: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// For writes: whether the call may have taken effect.
    pub fn maybe_applied(&self) -> bool {
        matches!(self, StoreError::Unknown(_))
    }

    /// This error after an earlier attempt of the same call whose outcome is unknown: whatever
    /// this attempt says, the call may have applied.
    pub fn in_doubt(self) -> StoreError {
        match self {
            StoreError::NotApplied(n) => StoreError::Unknown(format!(
                "an earlier attempt may have applied; the last one: {n:?}"
            )),
            other => other,
        }
    }

    /// A fault of ours, not an outage: the store refused the call for good (a missing table, a
    /// denied action, an invalid request) or holds data we cannot read. Retrying cannot help, so
    /// callers answer it as an internal error (500) and log it as one; every other store error
    /// (throttling, contention, an unknown outcome) is transient and answered as unavailable (503).
    pub fn is_fault(&self) -> bool {
        matches!(
            self,
            StoreError::NotApplied(NotApplied::Rejected { .. }) | StoreError::Corrupt(_)
        )
    }
}

impl From<serde_dynamo::Error> for StoreError {
    fn from(e: serde_dynamo::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

// ------------------------------------------------------------------------------------------------
// Users
// ------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateUserOutcome {
    Created,
    EmailTaken,
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates the profile and claims the email together: of concurrent sign-ups with one
    /// email exactly one is `Created`.
    async fn create_user(
        &self,
        profile: &UserProfile,
        normalized_email: &str,
        password_hash: &str,
    ) -> StoreResult<CreateUserOutcome>;
    async fn find_login(&self, normalized_email: &str) -> StoreResult<Option<LoginRecord>>;
    async fn profile(&self, user_id: &UserId) -> StoreResult<Option<UserProfile>>;
    /// `None`: no such user.
    async fn balance(&self, user_id: &UserId) -> StoreResult<Option<i64>>;
    /// The ledger entry of a credited charge, if any (the truth about a charge's credit).
    async fn ledger_entry(
        &self,
        user_id: &UserId,
        charge_id: &str,
    ) -> StoreResult<Option<LedgerEntry>>;
}

/// A credited charge as the user's ledger holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub charge_id: String,
    pub amount: i64,
    pub payment_id: String,
    pub created_at: String,
}

/// One claimed log-in attempt: slot `slot` of its email's slots, held under `token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptSlot {
    pub slot: usize,
    pub token: String,
}

/// The answer to a claim for a log-in attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptClaim {
    /// The attempt may go ahead; it counts as a failure unless released.
    Claimed(AttemptSlot),
    /// Every slot holds an attempt made after `since`: no attempt now. `oldest_ms`: the earliest
    /// of them (the first slot to free up).
    Locked { oldest_ms: i64 },
}

/// Log-in attempts per email, for throttling: a fixed number of slots, each claimed by one
/// conditional write, so of any number of parallel attempts exactly as many as there are free
/// slots go ahead. A slot is free again when its attempt is older than the window, or released.
#[async_trait]
pub trait LoginThrottle: Send + Sync {
    /// Claims one of `slots` slots whose attempt is absent or not after `since_ms`, for an attempt
    /// at `now_ms` (the item expires by TTL at `expires_at`, epoch seconds).
    async fn claim_attempt(
        &self,
        normalized_email: &str,
        slots: usize,
        now_ms: i64,
        since_ms: i64,
        expires_at: i64,
    ) -> StoreResult<AttemptClaim>;
    /// Frees a claimed slot (the attempt succeeded, so it is not a failure); a no-op when the slot
    /// has been claimed again meanwhile.
    async fn release_attempt(&self, normalized_email: &str, slot: &AttemptSlot) -> StoreResult<()>;
}

// ------------------------------------------------------------------------------------------------
// Products, carts, sales
// ------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductPage {
    pub items: Vec<Product>,
    /// The key to continue after, when there may be more.
    pub last_key: Option<String>,
}

/// What a [`ProductStore::reshape`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReshapeOutcome {
    /// Applied; `total` is the product's stock right after, when the store knows it (a product
    /// of one bucket: the one item written).
    Applied {
        total: Option<i64>,
    },
    /// Nothing changed: the bucket count, or a bucket it takes from, is not as read any more.
    Changed,
    NotFound,
}

#[async_trait]
pub trait ProductStore: Send + Sync {
    /// Creates the product with its stock split over `buckets` (1 to `MAX_BUCKETS`).
    async fn create(&self, product: &Product, buckets: u32, created_at: &str) -> StoreResult<()>;
    /// The product with its stock summed over its buckets.
    async fn get(&self, product_id: &ProductId) -> StoreResult<Option<Product>>;
    /// Strongly consistent reads of many products with the stock of each bucket; unknown ids are
    /// absent. Each item is read at its own moment: the buckets' sum is not one snapshot (see
    /// [`ProductStore::snapshot`]).
    async fn stocked(&self, ids: &[ProductId]) -> StoreResult<HashMap<ProductId, Stocked>>;
    /// [`ProductStore::stocked`], totals only.
    async fn get_many(&self, ids: &[ProductId]) -> StoreResult<HashMap<ProductId, Product>> {
        Ok(self
            .stocked(ids)
            .await?
            .into_iter()
            .map(|(id, s)| (id, s.product))
            .collect())
    }
    /// Every bucket of one product as of one moment (a serializable read): what a refusal for
    /// lack of stock is decided on. `buckets` is the count last read (a hint; the read follows
    /// the product's own count).
    async fn snapshot(&self, product_id: &ProductId, buckets: u32) -> StoreResult<Option<Stocked>>;
    async fn list(&self, limit: usize, start_after: Option<&str>) -> StoreResult<ProductPage>;
    /// Applies `change` to `product`'s buckets in one transaction, only while the product has
    /// `change.from` buckets and every bucket it takes from (or drops) holds what it takes.
    /// Resent only while its outcome is unknown (a restock must not add twice).
    async fn reshape(&self, product: &Product, change: &Reshape) -> StoreResult<ReshapeOutcome>;
}

/// The cart as stored (empty when its TTL has passed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredCart {
    /// Whether a live cart item exists.
    pub exists: bool,
    pub lines: Vec<CartLine>,
}

impl StoredCart {
    pub fn line(&self, product_id: &ProductId) -> Option<&CartLine> {
        self.lines.iter().find(|l| l.product_id == product_id)
    }
}

#[async_trait]
pub trait CartStore: Send + Sync {
    async fn get(&self, user_id: &UserId, now_epoch: i64) -> StoreResult<StoredCart>;
    /// One optimistic line change; `false`: the cart changed meanwhile (nothing written).
    async fn write_line(
        &self,
        user_id: &UserId,
        product_id: &ProductId,
        write: &LineWrite,
        now_epoch: i64,
        expires_at: i64,
    ) -> StoreResult<bool>;
    /// `false` when the live cart does not hold the product.
    async fn remove_line(
        &self,
        user_id: &UserId,
        product_id: &ProductId,
        now_epoch: i64,
    ) -> StoreResult<bool>;
}

/// Units sold per (day, product, counter), in one list per day, shard and tier sorted by rank
/// (`domain::popular`): what [`crate::domain::popular_merge`] reads. Every read is strongly
/// consistent.
#[async_trait]
pub trait SalesStore: Send + Sync {
    /// Shards per day: a product's main counters are in shard `shard_of(product, shards)` every
    /// day.
    fn sales_shards(&self) -> u32;

    /// The head of one list: its `limit` highest-ranked counters, read from its top.
    async fn sales_head(&self, list: SalesList, limit: usize) -> StoreResult<SalesHead>;

    /// Every entry ranking at least `min` of these lists, by list, read from their top (in one
    /// request where the store can).
    async fn sales_above(
        &self,
        lists: &[SalesList],
        min: i64,
    ) -> StoreResult<Vec<(SalesList, Vec<SalesEntry>)>>;

    /// Main counters by key; a key without a counter is left out.
    async fn sales_of(&self, keys: &[SalesKey]) -> StoreResult<Vec<(SalesKey, i64)>>;

    /// Every `(productId, quantity)` counted on the given days: the full read, kept as the
    /// brute-force oracle of the tests and the baseline of the benchmark.
    async fn sales_on(&self, days: &[NaiveDate]) -> StoreResult<Vec<(ProductId, i64)>>;
}

// ------------------------------------------------------------------------------------------------
// Orders
// ------------------------------------------------------------------------------------------------

/// Who must still own the idempotency record for an order to commit (keyed orders).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner<'a> {
    pub pk: &'a RecordKey,
    pub token: &'a LeaseToken,
}

/// Everything one order commit writes, in one atomic step.
#[derive(Debug, Clone)]
pub struct OrderPlacement<'a> {
    pub order: &'a Order,
    pub request_hash: &'a str,
    pub lines: &'a [PricedLine],
    /// Where each line takes its units from (same order as `lines`).
    pub draws: &'a [LineDraws],
    /// `fromCart`: the cart lines to remove, with the quantities read.
    pub cart_lines: Option<&'a [(ProductId, i64)]>,
    /// Keyed orders: the record completed in the same step (only while this owner holds it).
    pub owner: Option<Owner<'a>>,
    /// The final answer stored on the record (the order as JSON).
    pub stored_outcome: &'a str,
    /// The shop-time-zone day the sale counts on.
    pub sales_day: NaiveDate,
    /// Distinct per attempt; the same for a resend of the same attempt.
    pub commit_token: &'a str,
}

/// The buckets one order line takes its units from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineDraws {
    /// The product's bucket count as the plan knew it.
    pub buckets: u32,
    /// What each bucket gives; the quantities sum to the line's.
    pub draws: Vec<Draw>,
    /// Units moved in the same transaction from a drawn bucket to an emptier one (not sold).
    pub carry: Option<Carry>,
}

impl LineDraws {
    /// What the order takes out of `bucket`: its draw, plus what it carries away from it.
    pub fn taken_from(&self, bucket: u32) -> i64 {
        let drawn: i64 = self
            .draws
            .iter()
            .filter(|d| d.bucket == bucket)
            .map(|d| d.quantity)
            .sum();
        drawn
            + self
                .carry
                .filter(|c| c.from == bucket)
                .map_or(0, |c| c.units)
    }
}

impl LineDraws {
    /// The sales counter the line counts on: the main one for a product in one bucket, else the
    /// one of the bucket it draws from first (`domain::popular::sub_counter_for`).
    pub fn sales_counter(&self) -> u32 {
        let first = self.draws.first().map_or(0, |d| d.bucket);
        sub_counter_for(self.buckets, first)
    }
}

/// What one order commit did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaceOutcome {
    Placed,
    /// An earlier attempt of this very order committed.
    AlreadyPlaced(Order),
    /// A bucket that line `line` (index into the placement's lines) draws from holds less than
    /// the draw: `available` units as found. Not a refusal: other buckets may hold the line.
    BucketShort {
        line: usize,
        bucket: u32,
        available: i64,
    },
    /// Line `line`'s product (or the bucket it draws from) is gone.
    ProductGone {
        line: usize,
    },
    /// A bucket of these lines was busy (another transaction held it, or its write rate was
    /// exceeded): nothing written.
    Contended {
        lines: Vec<usize>,
    },
    ShortOfMoney {
        balance: i64,
    },
    /// A price or name changed since it was read (or cached): re-price.
    PriceChanged,
    /// The cart changed since it was read: read it again.
    CartChanged,
    /// The idempotency record is no longer this owner's (taken over, or finished).
    KeyTaken,
    /// The order id names another request's order (never expected).
    IdTaken,
    NoUser,
}

/// The result of fencing an order id after an unknown outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FenceOutcome {
    /// No order had this id; none can now.
    Fenced,
    /// The order exists (an earlier attempt committed).
    Exists(Order),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderPage {
    pub items: Vec<Order>,
    pub last_key: Option<String>,
}

#[async_trait]
pub trait OrderStore: Send + Sync {
    async fn place(&self, placement: &OrderPlacement<'_>) -> StoreResult<PlaceOutcome>;
    /// A strongly consistent read; a fenced id reads as `None`.
    async fn get(&self, user_id: &UserId, order_id: &OrderId) -> StoreResult<Option<Order>>;
    async fn list(
        &self,
        user_id: &UserId,
        limit: usize,
        start_after: Option<&str>,
    ) -> StoreResult<OrderPage>;
    /// Makes `order_id` unusable unless an order already holds it (keyless orders whose
    /// commit outcome was unknown, before any refusal is answered).
    async fn fence(
        &self,
        user_id: &UserId,
        order_id: &OrderId,
        expires_at: i64,
    ) -> StoreResult<FenceOutcome>;
}

// ------------------------------------------------------------------------------------------------
// Idempotency records and charges
// ------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The new record is stored; the caller owns it.
    Acquired,
    /// A live record exists; here it is.
    Existing(Box<IdemRecord>),
}

/// Whether a conditional step on a record was made by its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owned {
    Done,
    /// The record is not (or no longer) this owner's, or not in the expected state.
    NotOwner,
}

#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Stores `record` unless a live one with its key exists.
    async fn claim(&self, record: &IdemRecord, now_epoch: i64) -> StoreResult<ClaimOutcome>;
    async fn get(&self, pk: &RecordKey) -> StoreResult<Option<IdemRecord>>;
    /// Takes over a record whose owner is gone: a `PENDING` record whose lease ran out, or a
    /// `RELEASED` one, still held by `from_token`. The new token fences every step the
    /// previous owner may still attempt.
    async fn take_over(
        &self,
        pk: &RecordKey,
        from: RecordStatus,
        from_token: &LeaseToken,
        lease: &Lease,
        now_ms: i64,
    ) -> StoreResult<Owned>;
    /// Stores the final answer (`COMPLETED` or `FAILED`), only while `token` owns the `PENDING` record.
    async fn finish(
        &self,
        pk: &RecordKey,
        token: &LeaseToken,
        status: RecordStatus,
        outcome: &str,
    ) -> StoreResult<Owned>;
    /// `PENDING` -> `RELEASED`: the request had no effect; the key may be used again.
    async fn release(&self, pk: &RecordKey, token: &LeaseToken) -> StoreResult<Owned>;
    /// Ends the lease now without settling: the next retry (or the reconciler) takes over at once.
    async fn yield_lease(
        &self,
        pk: &RecordKey,
        token: &LeaseToken,
        now_ms: i64,
    ) -> StoreResult<Owned>;
    /// Records needing settlement in `shard` whose lease ended before `before_ms` (an index
    /// query, oldest first, at most `limit`), after the record `after` (the last of the page
    /// before).
    async fn in_doubt(
        &self,
        shard: &str,
        before_ms: i64,
        limit: usize,
        after: Option<&IdemRecord>,
    ) -> StoreResult<Vec<IdemRecord>>;
    /// The keys of the records that create `resource_id` (an order id, a charge id): an index
    /// query, eventually consistent (read the record itself with `get`).
    async fn by_resource(&self, resource_id: &str) -> StoreResult<Vec<RecordKey>>;
}

/// One credit: the balance, the record's completion and the ledger entry, in one atomic step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credit<'a> {
    pub pk: &'a RecordKey,
    pub token: &'a LeaseToken,
    pub user_id: &'a UserId,
    pub charge_id: &'a str,
    pub amount: i64,
    pub payment_id: &'a str,
    pub created_at: &'a str,
    /// The same for a resend of the same credit, so it cannot apply twice.
    pub commit_token: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreditOutcome {
    Credited,
    /// The balance would pass its limit: nothing written.
    LimitExceeded,
    /// The record is not this owner's `PENDING` record with this approval (nothing written).
    NotOwner,
    NoUser,
}

#[async_trait]
pub trait ChargeStore: Send + Sync {
    /// Notes on the owner's `PENDING` record that the approval of `attempt` is about to be sent.
    async fn approving(
        &self,
        pk: &RecordKey,
        token: &LeaseToken,
        attempt: u32,
        at_ms: i64,
    ) -> StoreResult<Owned>;
    /// Records an approval on the owner's `PENDING` record, before any credit.
    async fn record_approval(
        &self,
        pk: &RecordKey,
        token: &LeaseToken,
        attempt: u32,
        payment_id: &str,
    ) -> StoreResult<Owned>;
    /// Moves the owner's `PENDING` record to payment attempt `attempt` (a new gateway key),
    /// forgetting the previous attempt's approval.
    async fn next_attempt(
        &self,
        pk: &RecordKey,
        token: &LeaseToken,
        attempt: u32,
    ) -> StoreResult<Owned>;
    async fn credit(&self, credit: &Credit<'_>) -> StoreResult<CreditOutcome>;
    /// `PENDING` -> `FAILED` with `outcome`; with `void`, the approval is marked for voiding
    /// (it can never be credited from here on) until [`ChargeStore::voided`].
    async fn fail(
        &self,
        pk: &RecordKey,
        token: &LeaseToken,
        outcome: &str,
        void: Option<&str>,
        now_ms: i64,
    ) -> StoreResult<Owned>;
    /// The approval `payment_id` was voided at the gateway.
    async fn voided(&self, pk: &RecordKey, payment_id: &str) -> StoreResult<()>;
    /// Voiding `payment_id` failed again: it is due next at `next_ms` (its place in the in-doubt
    /// index moves there, behind the records that are due now), and one more attempt is counted.
    async fn void_later(&self, pk: &RecordKey, payment_id: &str, next_ms: i64) -> StoreResult<()>;
    /// Stores the answer of a `COMPLETED` charge that has none yet: `false` when it has one
    /// already (the first answer stands; it may be this very one, written by a lost attempt).
    async fn store_answer(&self, pk: &RecordKey, outcome: &str) -> StoreResult<bool>;
}

/// A saved card as stored (the billing key never leaves the service).
#[derive(Clone, PartialEq, Eq)]
pub struct PaymentMethod {
    pub payment_method_id: String,
    pub user_id: UserId,
    pub label: String,
    pub billing_key: String,
    pub customer_key: String,
    pub created_at: String,
    /// The hash of the request that registered it (an Idempotency-Key's replay is told apart
    /// from a reuse with another body).
    pub request_hash: String,
    /// Deleted: a tombstone (empty billing key).
    pub deleted: bool,
}

impl std::fmt::Debug for PaymentMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentMethod")
            .field("payment_method_id", &self.payment_method_id)
            .field("user_id", &self.user_id)
            .field("label", &self.label)
            .field("created_at", &self.created_at)
            .field("deleted", &self.deleted)
            .finish_non_exhaustive()
    }
}

/// What storing a payment method did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveMethodOutcome {
    Saved,
    /// A method (live or deleted) already has this id: here it is.
    Exists(PaymentMethod),
}

/// The users' saved cards (`USER#<id>`/`METHOD#<id>` in the users table). A deleted method is
/// kept as a tombstone without its billing key, so an Idempotency-Key's replay still finds it.
#[async_trait]
pub trait PaymentMethodStore: Send + Sync {
    /// Stores `method` unless its id exists.
    async fn save(&self, method: &PaymentMethod) -> StoreResult<SaveMethodOutcome>;
    /// The method with this id, live or deleted, if it is `user_id`'s.
    async fn find(
        &self,
        user_id: &UserId,
        payment_method_id: &str,
    ) -> StoreResult<Option<PaymentMethod>>;
    /// The user's live methods, oldest first.
    async fn list(&self, user_id: &UserId) -> StoreResult<Vec<PaymentMethod>>;
    /// Deletes a live method (forgets its billing key); `false` when the user has no such live method.
    async fn delete(&self, user_id: &UserId, payment_method_id: &str) -> StoreResult<bool>;
}

/// For `GET /health`.
#[async_trait]
pub trait HealthCheck: Send + Sync {
    async fn ping(&self) -> StoreResult<()>;
}

// ------------------------------------------------------------------------------------------------
// Payment gateway
// ------------------------------------------------------------------------------------------------

/// What a payment is taken from.
#[derive(Clone, PartialEq, Eq)]
pub enum MethodToken {
    /// A one-off token of the gateway (Toss: the payment window's `paymentKey`; the sandbox's
    /// `tok_...` tokens).
    OneOff(String),
    /// A saved card: the billing key the gateway issued to `customer_key`.
    Billing {
        billing_key: String,
        customer_key: String,
    },
}

impl From<&str> for MethodToken {
    fn from(token: &str) -> Self {
        MethodToken::OneOff(token.to_owned())
    }
}

impl std::fmt::Debug for MethodToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token or the billing key.
        match self {
            MethodToken::OneOff(_) => f.write_str("OneOff(..)"),
            MethodToken::Billing { .. } => f.write_str("Billing(..)"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRequest {
    /// The gateway's idempotency key: one per payment attempt, never reused after a void.
    pub key: String,
    pub user_id: UserId,
    pub amount: i64,
    /// What is charged (never logged).
    pub payment_method: MethodToken,
}

/// A card the gateway saved for automatic payments.
#[derive(Clone, PartialEq, Eq)]
pub struct SavedCard {
    /// The gateway's billing key (kept by the service only: never logged, never answered).
    pub billing_key: String,
    /// What the gateway says of the card (company and last digits).
    pub label: String,
}

impl std::fmt::Debug for SavedCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SavedCard")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    pub payment_id: String,
}

/// What the gateway knows of a key (its inquiry API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentStatus {
    /// Never approved (no payment under this key).
    NotFound,
    /// Not final yet (e.g. Toss `READY`, `IN_PROGRESS`, `WAITING_FOR_DEPOSIT`): it may still be
    /// approved, so it is never taken for "never approved".
    InProgress,
    Approved {
        payment_id: String,
        amount: i64,
    },
    Voided {
        payment_id: String,
    },
    Declined,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GatewayError {
    #[error("the payment was declined")]
    Declined,
    /// The gateway answered that it did not do it.
    #[error("the gateway failed: {0}")]
    Failed(String),
    /// No usable answer: it may or may not have done it.
    #[error("the gateway's answer is unknown: {0}")]
    Unknown(String),
}

#[async_trait]
pub trait PaymentGateway: Send + Sync {
    /// Approves (captures) a payment. The same key yields the same approval, even after a void.
    async fn approve(&self, request: &ApprovalRequest) -> Result<Approval, GatewayError>;
    /// Voids an approved payment; voiding a voided payment succeeds.
    async fn void(&self, key: &str, payment_id: &str) -> Result<(), GatewayError>;
    /// What the gateway knows of `key`.
    async fn status(&self, key: &str) -> Result<PaymentStatus, GatewayError>;
    /// Issues a billing key for the card the gateway's card-registration window authorised
    /// (`auth_key`), for `customer_key`. `idempotency_key`: the same for a resend of one request.
    /// `Declined` when the gateway refuses the authKey.
    async fn issue_billing_key(
        &self,
        _auth_key: &str,
        _customer_key: &str,
        _idempotency_key: &str,
    ) -> Result<SavedCard, GatewayError> {
        Err(GatewayError::Failed(
            "this gateway does not save cards".into(),
        ))
    }
    /// How long after an approval was sent the gateway may still take it (a request held on the
    /// way, a payment window still open): until then its "no such payment" is not final.
    fn final_after(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }
}

// ------------------------------------------------------------------------------------------------
// Order events
// ------------------------------------------------------------------------------------------------

/// The outbound port for order events.
#[async_trait]
pub trait EventPublisher: Send + Sync {
    /// Publishes every event; returns the indexes (into `events`) that could not be published.
    async fn publish(&self, events: &[OrderPlaced]) -> Vec<usize>;
}

/// Where the relay stores what it could not publish (the relay's dead-letter queue).
#[async_trait]
pub trait DeadLetterStore: Send + Sync {
    /// Stores every letter durably; returns the indexes (into `letters`) that could not be stored.
    async fn store(&self, letters: &[DeadLetter]) -> Vec<usize>;
}

#[derive(Debug, Error)]
pub enum DeliveryError {
    #[error("the data platform refused the event ({0})")]
    Refused(u16),
    #[error("the data platform is unreachable: {0}")]
    Unreachable(String),
}

/// The outbound port to the data platform.
#[async_trait]
pub trait DataPlatform: Send + Sync {
    async fn deliver(&self, event: &OrderPlaced) -> Result<(), DeliveryError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rejections_and_corrupt_data_are_faults() {
        let rejected = NotApplied::Rejected {
            code: "ResourceNotFoundException".into(),
            message: "no table".into(),
        };
        assert!(StoreError::NotApplied(rejected).is_fault());
        assert!(StoreError::Corrupt("bad item".into()).is_fault());
        assert!(!StoreError::NotApplied(NotApplied::Throttled).is_fault());
        assert!(!StoreError::NotApplied(NotApplied::Conflict).is_fault());
        assert!(!StoreError::Unknown("timeout".into()).is_fault());
    }
}
