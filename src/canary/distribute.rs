//! The arithmetic of one route's split: the canaries get what was asked, the other backends
//! share the rest in the ratio they had (equally if they all had 0), in whole units that add
//! up to the total exactly (largest remainder, ties to the first).

use super::{CanaryError, Want};

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
                "only canary backends are here, so no backend can take the other                  {rest_percent}%; add the stable backend to this route"
            ),
        )
    })
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
    use super::distribute;

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
    }
}
