//! Fuzzing what `stat` reads from proxies it does not control: no answer makes merging or
//! percentiles panic, and whatever merges gives signals that make sense.

use proptest::prelude::*;

use super::report::{Merged, StatsAnswer};

/// Counts as a buggy or hostile proxy may send them: zeros, small, and near the top.
fn count() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        0u64..1_000,
        Just(u64::MAX),
        (u64::MAX - 10)..=u64::MAX
    ]
}

/// Bounds that are usually the proxy's but sometimes short, unordered or non-positive.
fn bounds() -> impl Strategy<Value = Vec<f64>> {
    prop_oneof![
        8 => Just(vec![1.0, 10.0, 100.0]),
        1 => prop::collection::vec(-10.0f64..1e6, 0..5),
    ]
}

fn answer() -> impl Strategy<Value = StatsAnswer> {
    let row = (
        prop_oneof![Just("inbound"), Just("outbound")],
        prop_oneof![Just("app"), Just("web:80")],
        count(),
        count(),
        prop::collection::vec(count(), 0..6),
        (count(), count()),
        prop::bool::weighted(0.95),
    );
    (
        prop_oneof![8 => Just(60u64), 1 => Just(0u64), 1 => 1u64..600],
        bounds(),
        prop::collection::vec(row, 0..4),
    )
        .prop_map(|(window, bounds, rows)| {
            let rows: Vec<serde_json::Value> = rows
                .into_iter()
                .map(
                    |(direction, authority, requests, failures, mut buckets, (rx, tx), fit)| {
                        // Mostly one count per bound plus one, so most answers get merged.
                        if fit {
                            buckets.resize(bounds.len() + 1, 1);
                        }
                        serde_json::json!({
                            "direction": direction, "authority": authority,
                            "requests": requests, "failures": failures,
                            "receivedBytes": rx, "sentBytes": tx,
                            "latencyBuckets": buckets,
                        })
                    },
                )
                .collect();
            serde_json::from_value(serde_json::json!({
                "windowSeconds": window, "latencyBucketsMs": bounds, "rows": rows,
            }))
            .expect("the generated answer has the proxy's shape")
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn any_answers_merge_or_are_refused_and_give_sane_signals(
        answers in prop::collection::vec(answer(), 0..4),
    ) {
        let Ok(Some(merged)) = Merged::from_answers(&answers) else {
            return Ok(());
        };
        let mut signals: Vec<_> = merged.signals().map(|(_, s)| s).collect();
        signals.extend(merged.sum(|_| true));
        // Counts are summed exactly (saturating), never lost or doubled by the merge.
        let sent = answers.iter().flat_map(|a| &a.rows).fold(0u64, |t, r| t.saturating_add(r.counts.requests));
        if let Some(all) = merged.sum(|_| true) {
            prop_assert_eq!(all.requests, sent);
        }
        for s in signals {
            let ps = [s.latency_p50_ms, s.latency_p95_ms, s.latency_p99_ms];
            let ps: Vec<f64> = ps.into_iter().flatten().collect();
            prop_assert!(ps.windows(2).all(|w| w[0] <= w[1]), "{ps:?}");
            prop_assert!(ps.iter().all(|p| p.is_finite() && *p >= 0.0), "{ps:?}");
        }
    }
}
