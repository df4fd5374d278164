//! Fault profiles: with which probability a request gets which fault, and
//! the draw that decides it.
//!
//! Each request to a known AWS service gets at most one fault. One uniform
//! draw picks it against the cumulative probabilities (throttle, then 5xx,
//! reset, latency, lost response); a second draw picks the variant (which
//! throttling code, 500 or 503, how long a delay).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The kinds of fault the proxy injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// The service's throttling error (400, or 429 for SES).
    Throttle,
    /// A 500 or 503 in the service's error shape.
    ServerError,
    /// The connection is reset (RST) before the request is forwarded.
    Reset,
    /// The request is held, then forwarded.
    Latency,
    /// The request is forwarded and applied, then the connection is closed
    /// without an answer.
    LostResponse,
}

impl FaultKind {
    pub const ALL: [FaultKind; 5] = [
        FaultKind::Throttle,
        FaultKind::ServerError,
        FaultKind::Reset,
        FaultKind::Latency,
        FaultKind::LostResponse,
    ];

    /// A short label for tables and logs.
    pub fn label(self) -> &'static str {
        match self {
            FaultKind::Throttle => "throttle",
            FaultKind::ServerError => "5xx",
            FaultKind::Reset => "reset",
            FaultKind::Latency => "latency",
            FaultKind::LostResponse => "lost",
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            FaultKind::Throttle => 0,
            FaultKind::ServerError => 1,
            FaultKind::Reset => 2,
            FaultKind::Latency => 3,
            FaultKind::LostResponse => 4,
        }
    }
}

impl std::fmt::Display for FaultKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// One decided fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `variant` picks among the service's throttling codes.
    Throttle {
        variant: u8,
    },
    /// 500 or 503.
    ServerError {
        status: u16,
    },
    Reset,
    Latency(Duration),
    LostResponse,
}

impl Fault {
    pub fn kind(&self) -> FaultKind {
        match self {
            Fault::Throttle { .. } => FaultKind::Throttle,
            Fault::ServerError { .. } => FaultKind::ServerError,
            Fault::Reset => FaultKind::Reset,
            Fault::Latency(_) => FaultKind::Latency,
            Fault::LostResponse => FaultKind::LostResponse,
        }
    }
}

/// Two draws for one request: `pick` is uniform in `[0, 1)`, `variant` is
/// uniform over `u64`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Roll {
    pub pick: f64,
    pub variant: u64,
}

/// A fault profile: the probability of each kind per request (their sum is
/// at most 1) and the range of injected delays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Profile {
    pub name: String,
    pub throttle: f64,
    pub server_error: f64,
    pub reset: f64,
    pub latency: f64,
    pub lost_response: f64,
    /// Shortest and longest injected delay, in milliseconds.
    pub latency_min_ms: u64,
    pub latency_max_ms: u64,
}

impl Default for Profile {
    fn default() -> Self {
        Self::none()
    }
}

/// Why a profile was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fault profile: {0}")]
pub struct ProfileError(pub String);

/// The built-in profiles, by name.
pub const BUILTIN: [&str; 7] = [
    "none",
    "throttling",
    "5xx",
    "resets",
    "latency",
    "lost-responses",
    "mixed",
];

impl Profile {
    /// No faults: a plain forwarding proxy.
    pub fn none() -> Self {
        Self {
            name: "none".to_owned(),
            throttle: 0.0,
            server_error: 0.0,
            reset: 0.0,
            latency: 0.0,
            lost_response: 0.0,
            latency_min_ms: 200,
            latency_max_ms: 1500,
        }
    }

    /// A built-in profile: see [`BUILTIN`].
    pub fn builtin(name: &str) -> Option<Self> {
        let base = Self {
            name: name.to_owned(),
            ..Self::none()
        };
        let profile = match name {
            "none" => base,
            "throttling" => Self {
                throttle: 0.15,
                ..base
            },
            "5xx" => Self {
                server_error: 0.10,
                ..base
            },
            "resets" => Self {
                reset: 0.08,
                ..base
            },
            // Spikes up to 7 s: some outlast an SDK attempt timeout of a
            // few seconds, so the client gives up on a request the service
            // still applies.
            "latency" => Self {
                latency: 0.05,
                latency_max_ms: 7000,
                ..base
            },
            "lost-responses" => Self {
                lost_response: 0.05,
                ..base
            },
            "mixed" => Self {
                throttle: 0.04,
                server_error: 0.03,
                reset: 0.02,
                latency: 0.03,
                lost_response: 0.02,
                latency_max_ms: 7000,
                ..base
            },
            _ => return None,
        };
        Some(profile)
    }

    /// A built-in name, or `key=value` pairs separated by commas:
    /// `throttle`, `5xx`, `reset`, `latency`, `lost` (probabilities),
    /// `latency_ms=MIN-MAX`, `name`, optionally after a built-in name
    /// (`mixed,lost=0.1`).
    pub fn parse(spec: &str) -> Result<Self, ProfileError> {
        let spec = spec.trim();
        if let Some(profile) = Self::builtin(spec) {
            return Ok(profile);
        }
        let mut parts = spec.split(',').map(str::trim).filter(|p| !p.is_empty());
        let mut profile = Self {
            name: "custom".to_owned(),
            ..Self::none()
        };
        let mut first = parts.next();
        if let Some(name) = first.filter(|p| !p.contains('=')) {
            profile = Self::builtin(name).ok_or_else(|| {
                ProfileError(format!(
                    "unknown profile `{name}`; built-in: {}",
                    BUILTIN.join(", ")
                ))
            })?;
            first = None;
        }
        for part in first.into_iter().chain(parts) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| ProfileError(format!("`{part}` is not key=value")))?;
            let probability = || {
                value
                    .trim()
                    .parse::<f64>()
                    .map_err(|_| ProfileError(format!("`{part}`: not a number")))
            };
            match key.trim() {
                "name" => profile.name = value.trim().to_owned(),
                "throttle" => profile.throttle = probability()?,
                "5xx" | "server_error" => profile.server_error = probability()?,
                "reset" => profile.reset = probability()?,
                "latency" => profile.latency = probability()?,
                "lost" | "lost_response" => profile.lost_response = probability()?,
                "latency_ms" => {
                    let (min, max) = value.split_once('-').unwrap_or((value, value));
                    let ms = |t: &str| {
                        t.trim()
                            .parse::<u64>()
                            .map_err(|_| ProfileError(format!("`{part}`: not MIN-MAX ms")))
                    };
                    profile.latency_min_ms = ms(min)?;
                    profile.latency_max_ms = ms(max)?;
                }
                other => return Err(ProfileError(format!("unknown key `{other}`"))),
            }
        }
        profile.validate()?;
        Ok(profile)
    }

    /// Each probability in `[0, 1]`, their sum at most 1, and a delay range
    /// from its minimum to its maximum.
    pub fn validate(&self) -> Result<(), ProfileError> {
        for kind in FaultKind::ALL {
            let p = self.probability(kind);
            if !(0.0..=1.0).contains(&p) {
                return Err(ProfileError(format!(
                    "{}: probability {p} is not within 0..=1",
                    kind.label()
                )));
            }
        }
        let sum = self.total_probability();
        if sum > 1.0 + 1e-9 {
            return Err(ProfileError(format!(
                "the probabilities add up to {sum}, more than 1"
            )));
        }
        if self.latency_min_ms > self.latency_max_ms {
            return Err(ProfileError(format!(
                "latency {}..{} ms: minimum above maximum",
                self.latency_min_ms, self.latency_max_ms
            )));
        }
        Ok(())
    }

    pub fn probability(&self, kind: FaultKind) -> f64 {
        match kind {
            FaultKind::Throttle => self.throttle,
            FaultKind::ServerError => self.server_error,
            FaultKind::Reset => self.reset,
            FaultKind::Latency => self.latency,
            FaultKind::LostResponse => self.lost_response,
        }
    }

    /// The probability that a request gets any fault.
    pub fn total_probability(&self) -> f64 {
        FaultKind::ALL.iter().map(|k| self.probability(*k)).sum()
    }

    /// The fault for a request with this roll, if any.
    pub fn decide(&self, roll: Roll) -> Option<Fault> {
        let mut bound = 0.0;
        for kind in FaultKind::ALL {
            bound += self.probability(kind);
            if roll.pick < bound {
                return Some(self.fault_of(kind, roll.variant));
            }
        }
        None
    }

    fn fault_of(&self, kind: FaultKind, variant: u64) -> Fault {
        match kind {
            FaultKind::Throttle => Fault::Throttle {
                variant: (variant & 1) as u8,
            },
            FaultKind::ServerError => Fault::ServerError {
                status: if variant & 1 == 0 { 500 } else { 503 },
            },
            FaultKind::Reset => Fault::Reset,
            FaultKind::Latency => {
                let span = self.latency_max_ms - self.latency_min_ms;
                let ms = self.latency_min_ms + (variant >> 1) % (span + 1);
                Fault::Latency(Duration::from_millis(ms))
            }
            FaultKind::LostResponse => Fault::LostResponse,
        }
    }
}

/// A seeded source of rolls, shared by every connection. Each roll is a
/// pure function of the seed and the request's number, so a profile is
/// reproducible for a given order of requests.
#[derive(Debug)]
pub struct Dice {
    seed: u64,
    next: AtomicU64,
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Dice {
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            next: AtomicU64::new(0),
        }
    }

    /// The roll of request number `n`.
    pub fn roll_at(&self, n: u64) -> Roll {
        let a = splitmix64(self.seed ^ splitmix64(n.wrapping_mul(2)));
        let b = splitmix64(self.seed ^ splitmix64(n.wrapping_mul(2) + 1));
        Roll {
            // The top 53 bits, as a float in [0, 1).
            pick: (a >> 11) as f64 / (1u64 << 53) as f64,
            variant: b,
        }
    }

    /// The next request's roll.
    pub fn roll(&self) -> Roll {
        self.roll_at(self.next.fetch_add(1, Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roll(pick: f64, variant: u64) -> Roll {
        Roll { pick, variant }
    }

    #[test]
    fn every_builtin_profile_is_valid_and_named() {
        for name in BUILTIN {
            let profile = Profile::builtin(name).unwrap();
            profile.validate().unwrap();
            assert_eq!(profile.name, name);
        }
        assert_eq!(Profile::builtin("none").unwrap().total_probability(), 0.0);
        assert!(Profile::builtin("nope").is_none());
        let mixed = Profile::builtin("mixed").unwrap();
        for kind in FaultKind::ALL {
            assert!(mixed.probability(kind) > 0.0, "{kind}");
        }
    }

    #[test]
    fn a_draw_falls_into_the_kinds_in_order_of_their_cumulative_bounds() {
        let profile = Profile {
            throttle: 0.1,
            server_error: 0.1,
            reset: 0.1,
            latency: 0.1,
            lost_response: 0.1,
            latency_min_ms: 100,
            latency_max_ms: 100,
            ..Profile::none()
        };
        assert_eq!(
            profile.decide(roll(0.05, 0)),
            Some(Fault::Throttle { variant: 0 })
        );
        assert_eq!(
            profile.decide(roll(0.05, 1)),
            Some(Fault::Throttle { variant: 1 })
        );
        assert_eq!(
            profile.decide(roll(0.15, 0)),
            Some(Fault::ServerError { status: 500 })
        );
        assert_eq!(
            profile.decide(roll(0.15, 3)),
            Some(Fault::ServerError { status: 503 })
        );
        assert_eq!(profile.decide(roll(0.25, 0)), Some(Fault::Reset));
        assert_eq!(
            profile.decide(roll(0.35, 0)),
            Some(Fault::Latency(Duration::from_millis(100)))
        );
        assert_eq!(profile.decide(roll(0.45, 0)), Some(Fault::LostResponse));
        assert_eq!(profile.decide(roll(0.5, 0)), None);
        assert_eq!(profile.decide(roll(0.99, 0)), None);
        assert_eq!(Profile::none().decide(roll(0.0, 0)), None);
    }

    #[test]
    fn delays_stay_within_the_profile_range() {
        let profile = Profile {
            latency: 1.0,
            latency_min_ms: 200,
            latency_max_ms: 300,
            ..Profile::none()
        };
        let dice = Dice::new(7);
        for _ in 0..1000 {
            match profile.decide(dice.roll()) {
                Some(Fault::Latency(d)) => {
                    assert!((200..=300).contains(&(d.as_millis() as u64)), "{d:?}")
                }
                other => panic!("expected a delay, got {other:?}"),
            }
        }
    }

    #[test]
    fn observed_frequencies_follow_the_probabilities() {
        let profile = Profile::builtin("mixed").unwrap();
        let dice = Dice::new(42);
        let n = 100_000;
        let mut seen = [0u32; 5];
        let mut none = 0;
        for _ in 0..n {
            match profile.decide(dice.roll()) {
                Some(fault) => seen[fault.kind().index()] += 1,
                None => none += 1,
            }
        }
        for kind in FaultKind::ALL {
            let expected = profile.probability(kind) * n as f64;
            let got = f64::from(seen[kind.index()]);
            assert!(
                (got - expected).abs() < expected * 0.1,
                "{kind}: {got} seen, {expected} expected"
            );
        }
        let expected_none = (1.0 - profile.total_probability()) * n as f64;
        assert!((f64::from(none) - expected_none).abs() < expected_none * 0.02);
    }

    #[test]
    fn the_same_seed_gives_the_same_rolls() {
        let (a, b) = (Dice::new(9), Dice::new(9));
        for _ in 0..100 {
            assert_eq!(a.roll(), b.roll());
        }
        assert_ne!(Dice::new(1).roll_at(0), Dice::new(2).roll_at(0));
        for n in 0..1000 {
            let r = Dice::new(3).roll_at(n);
            assert!((0.0..1.0).contains(&r.pick));
        }
    }

    #[test]
    fn parses_names_and_key_value_specs() {
        assert_eq!(
            Profile::parse("throttling").unwrap(),
            Profile::builtin("throttling").unwrap()
        );
        let custom = Profile::parse("throttle=0.2, 5xx=0.1, latency_ms=10-20, name=t").unwrap();
        assert_eq!(custom.name, "t");
        assert_eq!(custom.throttle, 0.2);
        assert_eq!(custom.server_error, 0.1);
        assert_eq!((custom.latency_min_ms, custom.latency_max_ms), (10, 20));
        let tweaked = Profile::parse("mixed,lost=0.1").unwrap();
        assert_eq!(tweaked.name, "mixed");
        assert_eq!(tweaked.lost_response, 0.1);
        assert_eq!(tweaked.throttle, 0.04);

        assert!(Profile::parse("bogus").is_err());
        assert!(Profile::parse("throttle=x").is_err());
        assert!(Profile::parse("throttle=1.5").is_err());
        assert!(Profile::parse("throttle=0.6,reset=0.6").is_err());
        assert!(Profile::parse("latency_ms=50-10").is_err());
        assert!(Profile::parse("colour=blue").is_err());
    }
}
