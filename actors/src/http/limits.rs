//! Limits on requests: bounded body reading and the HTTP rate limits
//! (`[rate_limits]`: one token bucket for all requests, one per project).

use super::error::ApiError;
use actix_web::http::header::{self, HeaderMap};
use actix_web::web::{self, Bytes, BytesMut};
use futures_util::StreamExt as _;
use stackherd::settings::RateLimitSettings;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Reads the raw body (no content decoding), refusing more than `limit`
/// bytes: at once when `Content-Length` says so, else as soon as the stream
/// passes the limit, so an oversized body is never held in memory.
pub async fn read_body(
    mut payload: web::Payload,
    headers: &HeaderMap,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let too_large =
        || ApiError::PayloadTooLarge(format!("body is larger than the limit of {limit} bytes"));
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    if let Some(length) = declared {
        if usize::try_from(length).map_or(true, |length| length > limit) {
            return Err(too_large());
        }
    }
    let capacity = declared
        .and_then(|l| usize::try_from(l).ok())
        .unwrap_or(8192)
        .min(limit);
    let mut body = BytesMut::with_capacity(capacity);
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::bad_request(format!("reading the body failed: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// `rate` tokens per second, at most `burst` saved up.
#[derive(Debug, Clone)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

#[derive(Debug, Clone, Copy)]
struct Rate {
    per_second: f64,
    burst: f64,
}

impl Rate {
    /// `None` when unlimited.
    fn new(per_second: f64, burst: u32) -> Option<Rate> {
        (per_second > 0.0).then(|| Rate {
            per_second,
            burst: f64::from(burst.max(1)),
        })
    }

    fn full(self, now: Instant) -> Bucket {
        Bucket {
            tokens: self.burst,
            updated: now,
        }
    }

    /// Takes a token, or says how long until one is there.
    fn take(self, bucket: &mut Bucket, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / self.per_second,
            ))
        }
    }

    fn is_full(self, bucket: &Bucket, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens + elapsed * self.per_second >= self.burst
    }
}

/// Project buckets kept before full (idle) ones are dropped; a dropped
/// bucket is recreated full, which is what it would have been anyway.
const MAX_PROJECT_BUCKETS: usize = 100_000;

/// The `[rate_limits]` token buckets.
#[derive(Debug)]
pub struct RateLimiter {
    global: Option<(Rate, Mutex<Bucket>)>,
    project: Option<(Rate, Mutex<HashMap<u64, Bucket>>)>,
}

impl RateLimiter {
    pub fn new(settings: &RateLimitSettings) -> RateLimiter {
        let now = Instant::now();
        RateLimiter {
            global: Rate::new(settings.requests_per_second, settings.burst)
                .map(|rate| (rate, Mutex::new(rate.full(now)))),
            project: Rate::new(settings.project_requests_per_second, settings.project_burst)
                .map(|rate| (rate, Mutex::new(HashMap::new()))),
        }
    }

    /// One request against the global limit.
    pub fn check_global(&self) -> Result<(), ApiError> {
        let Some((rate, bucket)) = &self.global else {
            return Ok(());
        };
        let mut bucket = bucket.lock().unwrap_or_else(PoisonError::into_inner);
        rate.take(&mut bucket, Instant::now())
            .map_err(|retry_after| ApiError::TooManyRequests {
                message: "too many requests: the server's rate limit (rate_limits.requests_per_second) is reached".to_string(),
                retry_after,
            })
    }

    /// One request of `project` against its limit.
    pub fn check_project(&self, project: u64) -> Result<(), ApiError> {
        let Some((rate, buckets)) = &self.project else {
            return Ok(());
        };
        let now = Instant::now();
        let mut buckets = buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= MAX_PROJECT_BUCKETS && !buckets.contains_key(&project) {
            buckets.retain(|_, bucket| !rate.is_full(bucket, now));
        }
        let bucket = buckets.entry(project).or_insert_with(|| rate.full(now));
        rate.take(bucket, now).map_err(|retry_after| ApiError::TooManyRequests {
            message: format!(
                "too many requests for project {project}: its rate limit (rate_limits.project_requests_per_second) is reached"
            ),
            retry_after,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(global: f64, burst: u32, project: f64, project_burst: u32) -> RateLimitSettings {
        RateLimitSettings {
            requests_per_second: global,
            burst,
            project_requests_per_second: project,
            project_burst,
        }
    }

    #[test]
    fn unlimited_by_default() {
        let limiter = RateLimiter::new(&limits(0.0, 0, 0.0, 0));
        for _ in 0..10_000 {
            assert!(limiter.check_global().is_ok());
            assert!(limiter.check_project(1).is_ok());
        }
    }

    #[test]
    fn burst_then_refused_with_retry_after() {
        let limiter = RateLimiter::new(&limits(1.0, 3, 0.5, 2));
        assert!((0..3).all(|_| limiter.check_global().is_ok()));
        let Err(ApiError::TooManyRequests { retry_after, .. }) = limiter.check_global() else {
            panic!("the fourth request must be refused");
        };
        assert!(retry_after <= Duration::from_secs(1));
        assert!(limiter.check_project(7).is_ok() && limiter.check_project(7).is_ok());
        assert!(limiter.check_project(7).is_err());
        // Projects are independent.
        assert!(limiter.check_project(8).is_ok());
    }

    #[test]
    fn refill_at_the_rate() {
        let rate = Rate::new(2.0, 1).unwrap_or_else(|| panic!("limited"));
        let start = Instant::now();
        let mut bucket = rate.full(start);
        assert!(rate.take(&mut bucket, start).is_ok());
        assert!(rate.take(&mut bucket, start).is_err());
        assert!(
            rate.take(&mut bucket, start + Duration::from_millis(500))
                .is_ok()
        );
    }
}
