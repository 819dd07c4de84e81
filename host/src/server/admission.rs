//! Admission before work on `POST /v1/events`: a request is refused (429) before its body is
//! read when its tenant's queue is full or the tenant already has its share of requests in
//! flight, and the bodies that are taken are decoded (gunzip and parse, the costly part: a
//! 32 MiB body takes several times that while parsed) a few at a time, so memory stays
//! bounded whatever the number of senders. A request waiting for its turn holds only its raw
//! body.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::{ApiError, ApiResult};
use crate::metrics::{self, Metrics};

/// The ingest requests in flight, per tenant, and the decode turns.
#[derive(Debug)]
pub(crate) struct Admission {
    per_tenant: usize,
    in_flight: Mutex<HashMap<String, Arc<Semaphore>>>,
    decoding: Arc<Semaphore>,
    metrics: Arc<Metrics>,
}

/// A request's place among its tenant's in flight; given back when dropped.
pub(crate) struct Place {
    _permit: OwnedSemaphorePermit,
    tenant: String,
    places: Arc<Semaphore>,
    per_tenant: usize,
    metrics: Arc<Metrics>,
}

impl Drop for Place {
    fn drop(&mut self) {
        // the permit goes back after this drop: count it as gone already
        let busy = self.per_tenant - self.places.available_permits() - 1;
        self.metrics.set(
            metrics::INGEST_IN_FLIGHT,
            vec![("tenant", self.tenant.clone())],
            busy as f64,
        );
    }
}

impl Admission {
    /// `per_tenant` requests of one tenant in flight at most; `decoders` bodies decoded at
    /// once (both at least 1).
    pub(crate) fn new(per_tenant: usize, decoders: usize, metrics: Arc<Metrics>) -> Admission {
        Admission {
            per_tenant: per_tenant.max(1),
            in_flight: Mutex::new(HashMap::new()),
            decoding: Arc::new(Semaphore::new(decoders.max(1))),
            metrics,
        }
    }

    /// A place for one more request of `tenant`, or 429 when it has its share in flight.
    pub(crate) fn enter(&self, tenant: &str) -> ApiResult<Place> {
        let places = {
            let mut map = self.in_flight.lock().map_err(|_| {
                ApiError::internal(&anyhow::anyhow!("the admission table is poisoned"))
            })?;
            map.entry(tenant.to_owned())
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_tenant)))
                .clone()
        };
        let Ok(permit) = places.clone().try_acquire_owned() else {
            self.refuse(tenant, "in_flight");
            return Err(ApiError::busy(
                format!(
                    "tenant `{tenant}` already has {} requests in flight; nothing of this \
                     request was read, send it again later",
                    self.per_tenant
                ),
                1,
            ));
        };
        let busy = self.per_tenant - places.available_permits();
        self.metrics.set(
            metrics::INGEST_IN_FLIGHT,
            vec![("tenant", tenant.to_owned())],
            busy as f64,
        );
        Ok(Place {
            _permit: permit,
            tenant: tenant.to_owned(),
            places,
            per_tenant: self.per_tenant,
            metrics: self.metrics.clone(),
        })
    }

    /// Counts a request refused before its body was read, by why.
    pub(crate) fn refuse(&self, tenant: &str, reason: &'static str) {
        self.metrics.add(
            metrics::INGEST_REFUSED,
            vec![("tenant", tenant.to_owned()), ("reason", reason.to_owned())],
            1.0,
        );
    }

    /// A turn to decode a body (waits for one).
    pub(crate) async fn decode_turn(&self) -> ApiResult<OwnedSemaphorePermit> {
        self.decoding
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApiError::unavailable("the server is shutting down"))
    }
}
