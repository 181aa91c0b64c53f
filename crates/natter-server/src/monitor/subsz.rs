//! `/subsz` (alias `/subscriptionsz`): subscription statistics and, with `subs=1`, the
//! subscriptions themselves, optionally only those a `test` subject would reach.

use std::time::SystemTime;

use natter_sublist::subject;
use serde::Serialize;

use super::http::Query;
use super::{clock, page, paging, parse_bool, sorted_subscriptions, SubDetail};
use crate::server::Shared;

const DEFAULT_LIMIT: usize = 1024;

/// nats-server's sublist statistics, summed over the accounts' subscription indexes.
///
/// `num_cache` is the subjects with a cached match result now, `num_inserts` and
/// `num_removes` count since start. As in nats-server, `num_matches` counts the publishes
/// a session's own match cache did not answer (they went to the sublist) and
/// `cache_hit_rate` is the share of those the sublist's cache answered; `max_fanout` and
/// `avg_fanout` are over the cached results, a queue group counting once. Sessions add
/// their match counts once per read batch, so the figures may trail by one batch. A
/// session's own cache has 32 direct-mapped slots (nats-server's per-client one is
/// larger), so a publisher cycling through many subjects shows more matches here.
#[derive(Debug, Serialize)]
pub(crate) struct SublistStats {
    num_subscriptions: u64,
    num_cache: u64,
    num_inserts: u64,
    num_removes: u64,
    num_matches: u64,
    #[serde(serialize_with = "super::go_float")]
    cache_hit_rate: f64,
    max_fanout: u64,
    #[serde(serialize_with = "super::go_float")]
    avg_fanout: f64,
}

/// The answer: nats-server 2.9 sends the statistics alone unless a non-empty list of
/// subscriptions was asked for, and only then the envelope around them.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum Subsz {
    Stats(SublistStats),
    Detailed {
        server_id: String,
        now: String,
        #[serde(flatten)]
        stats: SublistStats,
        total: usize,
        offset: usize,
        limit: usize,
        subscriptions_list: Vec<SubDetail>,
    },
}

pub(crate) fn stats(shared: &Shared) -> SublistStats {
    let mut sum = natter_sublist::SublistStats::default();
    let (mut matches, mut hits) = (0, 0);
    for account in shared.router().accounts() {
        sum += account.sublist_stats();
        let (m, h) = account.match_counts();
        matches += m;
        hits += h;
    }
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    SublistStats {
        num_subscriptions: shared.router().stats().subscriptions,
        num_cache: sum.cache_len as u64,
        num_inserts: sum.inserts,
        num_removes: sum.removes,
        num_matches: matches,
        cache_hit_rate: ratio(hits as f64, matches as f64),
        max_fanout: sum.max_fanout as u64,
        avg_fanout: ratio(sum.total_fanout as f64, sum.cache_len as f64),
    }
}

pub(crate) fn build(shared: &Shared, q: &Query) -> Result<Subsz, String> {
    let subs = parse_bool("subs", q.get("subs"))?;
    let (offset, limit) = paging(q, DEFAULT_LIMIT)?;
    let test = q.get("test");
    if let Some(t) = test {
        if !subject::is_valid_literal(t.as_bytes()) {
            return Err(format!(
                "invalid test subject, must be valid publish subject: {t}"
            ));
        }
    }
    let stats = stats(shared);
    if !subs {
        return Ok(Subsz::Stats(stats));
    }
    let mut all = Vec::new();
    // Every session, in-process ones included: their subscriptions are as real as any.
    for client in shared.router().clients() {
        let account = client.account().name().to_string();
        for sub in sorted_subscriptions(&client) {
            if let Some(t) = test {
                if !subject::matches_pattern(&sub.subject, t.as_bytes()) {
                    continue;
                }
            }
            all.push(SubDetail::new(&sub, client.id(), Some(&account)));
        }
    }
    let total = all.len();
    let list = page(all, offset, limit);
    if list.is_empty() {
        return Ok(Subsz::Stats(stats));
    }
    Ok(Subsz::Detailed {
        server_id: shared.id().to_string(),
        now: clock::rfc3339_nanos(SystemTime::now()),
        stats,
        total,
        offset,
        limit,
        subscriptions_list: list,
    })
}
