//! The remote tier without the `redis` feature: a type with no values, so every method of
//! [`Remote`](super::Remote) that would reach Redis is statically unreachable and the
//! orchestrator needs no `cfg`.

use std::time::Duration;

use super::message::Subscriber;
use super::types::{Fail, Locked, Read, Write};
use crate::stats::RuntimeStats;

/// Never constructed: there is no remote tier.
pub(crate) enum On {}

/// Never constructed.
#[derive(Debug)]
pub(crate) enum Corrupt {}

/// Never constructed.
#[derive(Debug)]
pub(crate) enum Header {}

impl Header {
    pub(crate) fn times(&self) -> (u64, u64, u64) {
        match *self {}
    }
    pub(crate) fn body_at(&self) -> usize {
        match *self {}
    }
}

/// Never constructed.
#[derive(Debug)]
pub(crate) enum Stamp {}

impl Stamp {
    pub(crate) fn key(&self) -> &str {
        match *self {}
    }
}

/// Never constructed.
pub(crate) enum LockGuard {}

/// The remote tier's settings: there are none without the feature.
#[derive(Clone, Debug)]
pub(crate) enum Config {}

/// The builder's Redis options: there are none without the feature.
#[derive(Clone, Debug)]
pub(crate) struct RemoteOptions;

impl RemoteOptions {
    pub(crate) fn new() -> Self {
        Self
    }

    /// No remote tier.
    pub(crate) fn config<'a>(
        self,
        _: impl IntoIterator<Item = (&'a String, Option<usize>, Option<bool>)>,
    ) -> Option<Config> {
        None
    }
}

impl On {
    pub(crate) fn start(
        config: &Config,
        _: &str,
        _: std::sync::Weak<dyn Subscriber>,
    ) -> Option<Self> {
        match *config {}
    }
    pub(crate) fn entry_key(&self, _: &str, _: String) -> String {
        match *self {}
    }
    pub(crate) async fn read(&self, _: String, _: &str, _: &[String], _: bool) -> Read {
        match *self {}
    }
    pub(crate) async fn read_many(&self, _: Vec<String>, _: &str) -> Vec<Read> {
        match *self {}
    }
    pub(crate) async fn lock(&self, _: String, _: &str, _: &[String]) -> Locked {
        match *self {}
    }
    pub(crate) fn write(&self, _: Write, _: impl FnOnce(Result<(), Fail>) + Send + 'static) {
        match *self {}
    }
    pub(crate) fn round_trips(&self) -> u64 {
        match *self {}
    }
    pub(crate) fn write_many(
        &self,
        _: Vec<Write>,
        _: impl FnMut(Result<(), Fail>) + Send + 'static,
    ) {
        match *self {}
    }
    pub(crate) fn invalidate_key(&self, _: &str, _: &[u8], _: Vec<String>) {
        match *self {}
    }
    pub(crate) fn forget(&self, _: Vec<String>) {
        match *self {}
    }
    pub(crate) fn invalidate_all(&self, _: &str) {
        match *self {}
    }
    pub(crate) fn invalidate_tag(&self, _: &str) {
        match *self {}
    }
    pub(crate) fn expire_key(&self, _: &str, _: &[u8], _: Vec<String>) {
        match *self {}
    }
    pub(crate) fn reseal(&self, _: &str, _: Vec<String>) {
        match *self {}
    }
    pub(crate) fn expire_all(&self, _: &str) {
        match *self {}
    }
    pub(crate) fn expire_tag(&self, _: &str) {
        match *self {}
    }
    pub(crate) fn connected(&self) -> bool {
        match *self {}
    }
    pub(crate) async fn ready(&self, _: Duration) -> bool {
        match *self {}
    }
    pub(crate) async fn flush(&self, _: Duration) -> u64 {
        match *self {}
    }
    pub(crate) fn unstamped(&self, _: String, _: &[String]) -> Stamp {
        match *self {}
    }
    pub(crate) fn fill_stats(&self, _: &mut RuntimeStats) {
        match *self {}
    }
}
