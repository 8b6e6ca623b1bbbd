//! Durations and timing distributions written the way a topology author thinks of them
//! (`"lognormal(median=2ms, sigma=1.0, max=250ms)"`), sampled bit-for-bit identically on every
//! platform and in wasm plugins: the float maths comes from `libm`, not the platform's libm.

use std::fmt;
use std::str::FromStr;

/// A delay distribution in nanoseconds. Samples are never negative and never above `max_ns`.
#[derive(Clone, Debug, PartialEq)]
pub struct Distribution {
    pub shape: Shape,
    /// Upper clamp for every sample; `u64::MAX` when the author gave none.
    pub max_ns: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Shape {
    Constant {
        value_ns: u64,
    },
    Uniform {
        low_ns: u64,
        high_ns: u64,
    },
    /// Normal, truncated at zero.
    Normal {
        mean_ns: f64,
        sd_ns: f64,
    },
    LogNormal {
        median_ns: f64,
        sigma: f64,
    },
    Exponential {
        mean_ns: f64,
    },
}

impl Distribution {
    pub fn constant(value_ns: u64) -> Distribution {
        Distribution {
            shape: Shape::Constant { value_ns },
            max_ns: u64::MAX,
        }
    }

    /// Draws one sample. `next_u64` is the caller's seeded stream; each sample consumes a fixed
    /// number of draws for a given shape (0, 1 or 2), so streams stay aligned across runs.
    pub fn sample(&self, next_u64: &mut dyn FnMut() -> u64) -> u64 {
        let value_ns = match self.shape {
            Shape::Constant { value_ns } => value_ns,
            Shape::Uniform { low_ns, high_ns } => {
                let span = high_ns - low_ns;
                if span == 0 {
                    low_ns
                } else {
                    low_ns + next_u64() % (span + 1)
                }
            }
            Shape::Normal { mean_ns, sd_ns } => to_ns(mean_ns + sd_ns * standard_normal(next_u64)),
            Shape::LogNormal { median_ns, sigma } => {
                to_ns(median_ns * libm::exp(sigma * standard_normal(next_u64)))
            }
            Shape::Exponential { mean_ns } => {
                // 1 - u is in (0, 1], so ln never sees zero.
                to_ns(-mean_ns * libm::log(1.0 - unit_f64(next_u64())))
            }
        };
        value_ns.min(self.max_ns)
    }

    /// The value a sample takes when timing is "as designed": the constant, the middle of a
    /// uniform range, the mean of a normal, the median of a lognormal, the mean of an exponential.
    pub fn nominal_ns(&self) -> u64 {
        let value_ns = match self.shape {
            Shape::Constant { value_ns } => value_ns,
            Shape::Uniform { low_ns, high_ns } => low_ns + (high_ns - low_ns) / 2,
            Shape::Normal { mean_ns, .. } => to_ns(mean_ns),
            Shape::LogNormal { median_ns, .. } => to_ns(median_ns),
            Shape::Exponential { mean_ns } => to_ns(mean_ns),
        };
        value_ns.min(self.max_ns)
    }
}

/// A float in [0, 1) from the top 53 bits of a draw.
fn unit_f64(bits: u64) -> f64 {
    (bits >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Box-Muller; uses exactly two draws.
fn standard_normal(next_u64: &mut dyn FnMut() -> u64) -> f64 {
    let u1 = 1.0 - unit_f64(next_u64()); // (0, 1]
    let u2 = unit_f64(next_u64());
    libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(2.0 * core::f64::consts::PI * u2)
}

fn to_ns(value: f64) -> u64 {
    if value.is_nan() || value <= 0.0 {
        0
    } else if value >= u64::MAX as f64 {
        u64::MAX
    } else {
        libm::round(value) as u64
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ParseError {}

fn error(message: impl Into<String>) -> ParseError {
    ParseError {
        message: message.into(),
    }
}

const SYNTAX_HINT: &str = "write a duration (`2ms`) or one of `uniform(1ms, 3ms)`, \
`normal(mean=2ms, sd=500us)`, `lognormal(median=2ms, sigma=1.0)`, `exp(mean=1ms)`, \
optionally with `max=...` inside the parentheses";

/// Parses `"250us"`, `"1.5ms"`, `"2s"`, `"120000ms"`, `"10ns"` into nanoseconds.
pub fn parse_duration_ns(text: &str) -> Result<u64, ParseError> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| {
            error(format!(
                "`{text}` has no unit: write it as `{text}ms`, `{text}s`, `{text}us` or `{text}ns`"
            ))
        })?;
    let (number, unit) = text.split_at(split);
    let scale_ns: f64 = match unit.trim() {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "min" => 60e9,
        other => {
            return Err(error(format!(
                "unknown time unit `{other}` in `{text}`: use ns, us, ms, s or min"
            )));
        }
    };
    let value: f64 = number.parse().map_err(|_| {
        error(format!(
            "`{text}` is not a duration: expected a number then a unit, like `2ms`"
        ))
    })?;
    let value_ns = value * scale_ns;
    if !(0.0..1.8e19).contains(&value_ns) {
        return Err(error(format!("`{text}` is out of range")));
    }
    Ok(libm::round(value_ns) as u64)
}

/// Formats nanoseconds the way people read them: `1.250 ms`, `120 s`, `850 us`.
pub fn format_ns(value_ns: u64) -> String {
    if value_ns >= 1_000_000_000 {
        format!("{:.3} s", value_ns as f64 / 1e9)
    } else if value_ns >= 1_000_000 {
        format!("{:.3} ms", value_ns as f64 / 1e6)
    } else if value_ns >= 1_000 {
        format!("{:.1} us", value_ns as f64 / 1e3)
    } else {
        format!("{value_ns} ns")
    }
}

impl FromStr for Distribution {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Distribution, ParseError> {
        let text = text.trim();
        let Some(open) = text.find('(') else {
            return parse_duration_ns(text)
                .map(Distribution::constant)
                .map_err(|e| error(format!("{e}; {SYNTAX_HINT}")));
        };
        if !text.ends_with(')') {
            return Err(error(format!(
                "`{text}` is missing its closing `)`; {SYNTAX_HINT}"
            )));
        }
        let name = text[..open].trim();
        let inner = &text[open + 1..text.len() - 1];
        let mut positional = Vec::new();
        let mut named = Vec::new();
        for part in inner.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.split_once('=') {
                Some((key, value)) => named.push((key.trim(), value.trim())),
                None => positional.push(part),
            }
        }
        let max_ns = match named.iter().position(|(key, _)| *key == "max") {
            Some(index) => parse_duration_ns(named.remove(index).1)?,
            None => u64::MAX,
        };
        let get = |key: &str, index: usize| -> Result<&str, ParseError> {
            named
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| *v)
                .or_else(|| positional.get(index).copied())
                .ok_or_else(|| error(format!("`{text}` needs `{key}=`; {SYNTAX_HINT}")))
        };
        let duration = |key: &str, index: usize| -> Result<u64, ParseError> {
            parse_duration_ns(get(key, index)?)
        };
        let shape = match name {
            "const" | "constant" => Shape::Constant {
                value_ns: duration("value", 0)?,
            },
            "uniform" => {
                let low_ns = duration("low", 0)?;
                let high_ns = duration("high", 1)?;
                if high_ns < low_ns {
                    return Err(error(format!(
                        "`{text}`: the upper bound is below the lower bound"
                    )));
                }
                Shape::Uniform { low_ns, high_ns }
            }
            "normal" => Shape::Normal {
                mean_ns: duration("mean", 0)? as f64,
                sd_ns: duration("sd", 1)? as f64,
            },
            "lognormal" => {
                let sigma: f64 = get("sigma", 1)?.parse().map_err(|_| {
                    error(format!(
                        "`{text}`: sigma must be a plain number such as 0.8"
                    ))
                })?;
                if !(0.0..=10.0).contains(&sigma) {
                    return Err(error(format!("`{text}`: sigma must be between 0 and 10")));
                }
                Shape::LogNormal {
                    median_ns: duration("median", 0)? as f64,
                    sigma,
                }
            }
            "exp" | "exponential" => Shape::Exponential {
                mean_ns: duration("mean", 0)? as f64,
            },
            other => {
                return Err(error(format!(
                    "unknown distribution `{other}`; {SYNTAX_HINT}"
                )));
            }
        };
        Ok(Distribution { shape, max_ns })
    }
}

impl fmt::Display for Distribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = |v: f64| format_ns(libm::round(v) as u64).replace(' ', "");
        match self.shape {
            Shape::Constant { value_ns } => write!(f, "{}", ns(value_ns as f64))?,
            Shape::Uniform { low_ns, high_ns } => {
                write!(f, "uniform({}, {}", ns(low_ns as f64), ns(high_ns as f64))?
            }
            Shape::Normal { mean_ns, sd_ns } => {
                write!(f, "normal(mean={}, sd={}", ns(mean_ns), ns(sd_ns))?
            }
            Shape::LogNormal { median_ns, sigma } => {
                write!(f, "lognormal(median={}, sigma={sigma}", ns(median_ns))?
            }
            Shape::Exponential { mean_ns } => write!(f, "exp(mean={}", ns(mean_ns))?,
        }
        match (&self.shape, self.max_ns) {
            (Shape::Constant { .. }, _) => Ok(()),
            (_, u64::MAX) => f.write_str(")"),
            (_, max_ns) => write!(f, ", max={})", ns(max_ns as f64)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter() -> impl FnMut() -> u64 {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        move || {
            // splitmix64: a fixed, portable test stream
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration_ns("120000ms").unwrap(), 120_000_000_000);
        assert_eq!(parse_duration_ns("1.5ms").unwrap(), 1_500_000);
        assert_eq!(parse_duration_ns("80us").unwrap(), 80_000);
        assert_eq!(parse_duration_ns("2s").unwrap(), 2_000_000_000);
        assert!(
            parse_duration_ns("12")
                .unwrap_err()
                .message
                .contains("no unit")
        );
        assert!(
            parse_duration_ns("3 parsecs")
                .unwrap_err()
                .message
                .contains("unknown time unit")
        );
    }

    #[test]
    fn distributions_parse_and_print_back() {
        for text in [
            "2ms",
            "uniform(1ms, 3ms)",
            "normal(mean=2ms, sd=500.0us)",
            "lognormal(median=2ms, sigma=1, max=250ms)",
            "exp(mean=1ms)",
        ] {
            let parsed: Distribution = text.parse().unwrap();
            let again: Distribution = parsed.to_string().parse().unwrap();
            assert_eq!(parsed, again, "{text}");
        }
        assert!(
            "gauss(1ms)"
                .parse::<Distribution>()
                .unwrap_err()
                .message
                .contains("unknown distribution")
        );
        assert!("uniform(3ms, 1ms)".parse::<Distribution>().is_err());
        assert!(
            "lognormal(median=2ms, sigma=1, max=2parsecs)"
                .parse::<Distribution>()
                .is_err()
        );
    }

    #[test]
    fn samples_stay_in_range_and_center_on_the_nominal_value() {
        let mut next = counter();
        let d: Distribution = "lognormal(median=2ms, sigma=1.0, max=250ms)"
            .parse()
            .unwrap();
        let mut samples: Vec<u64> = (0..10_001).map(|_| d.sample(&mut next)).collect();
        samples.sort_unstable();
        let median = samples[5_000];
        assert!((1_800_000..2_200_000).contains(&median), "median {median}");
        assert!(*samples.last().unwrap() <= 250_000_000);

        let u: Distribution = "uniform(20us, 80us)".parse().unwrap();
        for _ in 0..1000 {
            assert!((20_000..=80_000).contains(&u.sample(&mut next)));
        }
        assert_eq!(u.nominal_ns(), 50_000);
    }

    #[test]
    fn the_same_stream_gives_the_same_samples() {
        let d: Distribution = "normal(mean=2ms, sd=1ms)".parse().unwrap();
        let (mut a, mut b) = (counter(), counter());
        let first: Vec<u64> = (0..100).map(|_| d.sample(&mut a)).collect();
        let second: Vec<u64> = (0..100).map(|_| d.sample(&mut b)).collect();
        assert_eq!(first, second);
    }
}
