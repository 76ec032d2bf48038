//! The arithmetic of one route's split: the canaries get what was asked, the other backends
//! share the rest in the ratio they had (equally if they all had 0), in whole units that add
//! up to the total exactly (largest remainder, ties to the first).

use serde_json::Value;

use super::{CanaryError, Change, Want};

/// New weights for `current` (each backend's weight, and the share asked for it if it is a
/// canary) out of `total`. `Err` with the share no backend can take when only canaries are
/// there and they do not add up to `total`.
pub fn distribute(current: &[(u64, Option<u64>)], total: u64) -> Result<Vec<u64>, u64> {
    let asked: u64 = current.iter().filter_map(|c| c.1).sum();
    let rest = total.saturating_sub(asked);
    let others: Vec<usize> = (0..current.len())
        .filter(|&i| current[i].1.is_none())
        .collect();
    if others.is_empty() {
        return if rest == 0 {
            Ok(current.iter().map(|c| c.1.unwrap_or(0)).collect())
        } else {
            Err(rest)
        };
    }
    let had: u64 = others.iter().map(|&i| current[i].0).sum();
    // (index, whole share, remainder) for each other backend.
    let mut shares: Vec<(usize, u64, u64)> = others
        .iter()
        .map(|&i| {
            let (num, den) = if had == 0 {
                (1, others.len() as u64)
            } else {
                (current[i].0, had)
            };
            let exact = u128::from(rest) * u128::from(num);
            let den = u128::from(den);
            (i, (exact / den) as u64, (exact % den) as u64)
        })
        .collect();
    let mut left = rest - shares.iter().map(|s| s.1).sum::<u64>();
    let mut order: Vec<usize> = (0..shares.len()).collect();
    order.sort_by(|&a, &b| shares[b].2.cmp(&shares[a].2).then(a.cmp(&b)));
    for k in order {
        if left == 0 {
            break;
        }
        shares[k].1 += 1;
        left -= 1;
    }
    let mut out: Vec<u64> = current.iter().map(|c| c.1.unwrap_or(0)).collect();
    for (i, share, _) in shares {
        out[i] = share;
    }
    Ok(out)
}

/// One backend of a route, as an adapter reads it.
#[derive(Clone, Debug)]
pub struct Backend {
    /// Where it is in the object, e.g. `spec.rules[0].backendRefs[1]`.
    pub path: String,
    /// How it is named (service, host or subset).
    pub name: String,
    /// The canary it is, if the request names it.
    pub canary: Option<String>,
    /// Its weight now, in the route's units.
    pub weight: u64,
}

/// The new weights of one route's backends (in order), each canary at `percent * total / 100`.
pub fn reweigh(
    object: &str,
    route: &str,
    backends: &[Backend],
    want: &Want,
    total: u64,
) -> Result<Vec<u64>, CanaryError> {
    let current: Vec<(u64, Option<u64>)> = backends
        .iter()
        .map(|b| {
            let share = (b.canary.as_deref())
                .and_then(|c| want.percent_of(c))
                .map(|p| u64::from(p) * total / 100);
            (b.weight, share)
        })
        .collect();
    distribute(&current, total).map_err(|rest| {
        let rest_percent = rest * 100 / total.max(1);
        CanaryError::object(
            object,
            route,
            format!(
                "only canary backends are here, so no backend can take the other \
                 {rest_percent}%; add the stable backend to this route"
            ),
        )
    })
}

/// One route's backends (`values`, described by `backends`) after `want`, out of 100: left
/// alone when no canary is among them, each weight written recorded in `changes`. `seen`
/// collects every backend, for [`every_canary_found`].
pub fn shift_route(
    object: &str,
    route: &str,
    values: &mut [Value],
    backends: Vec<Backend>,
    want: &Want,
    seen: &mut Vec<Backend>,
    changes: &mut Vec<Change>,
) -> Result<(), CanaryError> {
    seen.extend(backends.iter().cloned());
    if backends.iter().all(|b| b.canary.is_none()) {
        return Ok(());
    }
    let weights = reweigh(object, route, &backends, want, 100)?;
    write_weights(
        values,
        &backends,
        weights,
        |w| serde_json::json!(w),
        changes,
    );
    Ok(())
}

/// Writes `weights` into the backend objects `values` (in the order of `backends`), each in
/// the form `write` gives it, and records each change. A weight that already means the new
/// one stays as written (an absent one too).
pub fn write_weights(
    values: &mut [Value],
    backends: &[Backend],
    weights: Vec<u64>,
    write: impl Fn(u64) -> Value,
    changes: &mut Vec<Change>,
) {
    for ((v, b), w) in values.iter_mut().zip(backends).zip(weights) {
        if b.weight == w {
            continue;
        }
        let to = write(w);
        let from = v.get("weight").cloned().unwrap_or(Value::Null);
        v["weight"] = to.clone();
        changes.push(Change {
            path: b.path.clone(),
            backend: b.name.clone(),
            from,
            to,
        });
    }
}

/// Fails unless every canary asked for is a backend of some route; names the backends there.
pub fn every_canary_found(
    object: &str,
    field: &str,
    seen: &[Backend],
    want: &Want,
) -> Result<(), CanaryError> {
    for (canary, _) in &want.canaries {
        if !seen.iter().any(|b| b.canary.as_deref() == Some(canary)) {
            let mut names: Vec<&str> = Vec::new();
            for b in seen {
                if !names.contains(&b.name.as_str()) {
                    names.push(&b.name);
                }
            }
            return Err(CanaryError::object(
                object,
                field,
                format!(
                    "no backend is {canary} (the backends are {}); name one of them, or add                      {canary} to the route first",
                    if names.is_empty() {
                        "none".to_owned()
                    } else {
                        names.join(", ")
                    }
                ),
            ));
        }
    }
    let sum: u32 = want.canaries.iter().map(|c| c.1).sum();
    if sum > 100 {
        return Err(CanaryError::Refused(format!(
            "the canary weights ({}) add up to {sum}%, more than 100%",
            want.names()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_canary_gets_its_share_and_the_rest_keeps_its_ratio() {
        assert_eq!(
            distribute(&[(90, None), (10, Some(20))], 100),
            Ok(vec![80, 20])
        );
        // Two stable backends at 2:1 share 70.
        let three = [(60, None), (30, None), (10, Some(30))];
        assert_eq!(distribute(&three, 100), Ok(vec![47, 23, 30]));
        // HTTPRoute's default weight 1 each: equal shares.
        assert_eq!(
            distribute(&[(1, None), (1, Some(10))], 100),
            Ok(vec![90, 10])
        );
        assert_eq!(
            distribute(&[(0, None), (0, None), (0, Some(1))], 100),
            Ok(vec![50, 49, 1])
        );
        assert_eq!(
            distribute(&[(500, None), (500, Some(100))], 1000),
            Ok(vec![900, 100])
        );
        assert_eq!(
            distribute(&[(100, None), (0, Some(100))], 100),
            Ok(vec![0, 100])
        );
    }

    #[test]
    fn a_route_of_canaries_only_cannot_take_the_rest() {
        assert_eq!(distribute(&[(100, Some(20))], 100), Err(80));
        assert_eq!(distribute(&[(100, Some(100))], 100), Ok(vec![100]));
        let only = [Backend {
            path: "spec.rules[0].backendRefs[0]".into(),
            name: "web-v2".into(),
            canary: Some("web-v2".into()),
            weight: 100,
        }];
        let err = reweigh(
            "httproute/web",
            "spec.rules[0]",
            &only,
            &Want::one("web-v2", 20),
            100,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("no backend can take the other 80%; add the stable backend"),
            "{err}"
        );
    }

    #[test]
    fn weights_written_are_recorded_and_equal_ones_left_as_written() {
        let backend = |name: &str, weight| Backend {
            path: format!("spec.backends[{name}]"),
            name: name.into(),
            canary: None,
            weight,
        };
        let mut values = vec![json!({"name": "web"}), json!({"name": "v2", "weight": 0})];
        let mut changes = Vec::new();
        let backends = [backend("web", 1), backend("v2", 0)];
        write_weights(
            &mut values,
            &backends,
            vec![1, 10],
            |w| json!(w),
            &mut changes,
        );
        assert_eq!(
            values,
            [json!({"name": "web"}), json!({"name": "v2", "weight": 10})]
        );
        assert_eq!(changes.len(), 1);
        assert_eq!(
            (changes[0].from.clone(), changes[0].to.clone()),
            (json!(0), json!(10))
        );
    }
}
