//! CloudWatch's statistics over data points, one value per period; here
//! the period is one second (the demo lasts seconds).

use std::collections::BTreeMap;

use crate::samples::Sample;

/// The period every series is drawn with.
pub const PERIOD_MS: i64 = 1_000;

/// A statistic a widget asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stat {
    Sum,
    Average,
    Maximum,
    Minimum,
    SampleCount,
    /// `p99`, `p99.9`, ...: the percentile, 0 to 100.
    Percentile(f64),
}

impl Stat {
    /// CloudWatch's name for it; `None` for what is not computed here
    /// (trimmed means, ranks, ...).
    pub fn parse(name: &str) -> Option<Self> {
        let stat = match name {
            "Sum" => Self::Sum,
            "Average" => Self::Average,
            "Maximum" => Self::Maximum,
            "Minimum" => Self::Minimum,
            "SampleCount" => Self::SampleCount,
            _ => {
                let p: f64 = name.strip_prefix('p')?.parse().ok()?;
                return (0.0..=100.0).contains(&p).then_some(Self::Percentile(p));
            }
        };
        Some(stat)
    }

    /// The statistic of one period's values (never empty).
    pub fn of(self, values: &[f64]) -> f64 {
        let n = values.len() as f64;
        match self {
            Self::Sum => values.iter().sum(),
            Self::Average => values.iter().sum::<f64>() / n,
            Self::Maximum => values.iter().copied().fold(f64::MIN, f64::max),
            Self::Minimum => values.iter().copied().fold(f64::MAX, f64::min),
            Self::SampleCount => n,
            Self::Percentile(p) => percentile(values, p),
        }
    }

    /// Whether a run's total is the sum of its periods.
    pub fn adds_up(self) -> bool {
        matches!(self, Self::Sum | Self::SampleCount)
    }
}

/// Nearest-rank percentile.
fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// One point per period that has data: (seconds since `origin_ms`, the
/// statistic of the period's values). Periods without data have no point,
/// as in CloudWatch.
pub fn per_period(samples: &[Sample], stat: Stat, origin_ms: i64) -> Vec<(f64, f64)> {
    let mut periods: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for sample in samples {
        let period = (sample.at_ms - origin_ms).div_euclid(PERIOD_MS);
        periods.entry(period).or_default().push(sample.value);
    }
    periods
        .into_iter()
        .map(|(period, values)| {
            let seconds = (period * PERIOD_MS) as f64 / 1000.0;
            (seconds, stat.of(&values))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(at_ms: i64, value: f64) -> Sample {
        Sample { at_ms, value }
    }

    #[test]
    fn names_parse_as_cloudwatch_spells_them() {
        assert_eq!(Stat::parse("Sum"), Some(Stat::Sum));
        assert_eq!(Stat::parse("p99"), Some(Stat::Percentile(99.0)));
        assert_eq!(Stat::parse("p99.9"), Some(Stat::Percentile(99.9)));
        assert_eq!(Stat::parse("TM(10%:90%)"), None);
        assert_eq!(Stat::parse("p101"), None);
    }

    #[test]
    fn data_points_fall_into_one_second_periods() {
        let samples = [
            at(1_000, 1.0),
            at(1_900, 2.0),
            at(2_050, 7.0),
            at(3_100, 5.0),
        ];
        assert_eq!(
            per_period(&samples, Stat::Sum, 1_000),
            [(0.0, 3.0), (1.0, 7.0), (2.0, 5.0)]
        );
        assert_eq!(
            per_period(&samples, Stat::Maximum, 1_000),
            [(0.0, 2.0), (1.0, 7.0), (2.0, 5.0)]
        );
        assert_eq!(per_period(&samples, Stat::SampleCount, 1_000)[0].1, 2.0);
        assert_eq!(per_period(&samples, Stat::Average, 1_000)[0].1, 1.5);
    }

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(Stat::Percentile(99.0).of(&values), 99.0);
        assert_eq!(Stat::Percentile(50.0).of(&values), 50.0);
        assert_eq!(Stat::Percentile(99.0).of(&[7.0]), 7.0);
        assert_eq!(Stat::Minimum.of(&[3.0, -1.0]), -1.0);
    }
}
