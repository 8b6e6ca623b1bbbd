//! Typed access to a plugin's `(key, value)` configuration from the topology, with errors
//! that name the key, the value and what was expected.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use timing::Distribution;

/// A configuration value the plugin cannot use: the `key` and what is wrong with it. It becomes
/// the refusal's key and message (`crate::Refusal`), shown as "config `key`: message".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            key: key.to_string(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config `{}`: {}", self.key, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// A plugin's configuration: every key is known to the plugin and given at most once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    values: BTreeMap<String, String>,
}

impl Config {
    /// Checks `pairs` against the plugin's `known` keys: an unknown or repeated key is an error
    /// listing what the plugin accepts.
    pub fn new(pairs: Vec<(String, String)>, known: &[&str]) -> Result<Config, ConfigError> {
        let mut values = BTreeMap::new();
        for (key, value) in pairs {
            if !known.contains(&key.as_str()) {
                let message = if known.is_empty() {
                    "unknown key; this plugin takes no configuration".to_string()
                } else {
                    format!("unknown key; expected one of {}", known.join(", "))
                };
                return Err(ConfigError::new(&key, message));
            }
            if values.contains_key(&key) {
                return Err(ConfigError::new(&key, "given more than once"));
            }
            values.insert(key, value);
        }
        Ok(Config { values })
    }

    /// Builds a configuration from literal pairs, checked against `known` (for tests and
    /// defaults).
    pub fn from_pairs(pairs: &[(&str, &str)], known: &[&str]) -> Result<Config, ConfigError> {
        Config::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            known,
        )
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    pub fn required(&self, key: &str) -> Result<&str, ConfigError> {
        self.get(key)
            .ok_or_else(|| ConfigError::new(key, "required but not given"))
    }

    pub fn str_or<'a>(&'a self, key: &str, default: &'a str) -> &'a str {
        self.get(key).unwrap_or(default)
    }

    /// An optional IPv4 address in dotted-quad form.
    pub fn ipv4(&self, key: &str) -> Result<Option<Ipv4Addr>, ConfigError> {
        self.get(key).map(|text| parse_ipv4(key, text)).transpose()
    }

    pub fn required_ipv4(&self, key: &str) -> Result<Ipv4Addr, ConfigError> {
        parse_ipv4(key, self.required(key)?)
    }

    /// A whole number within `range`, or `default` when the key is absent.
    pub fn u32_in(
        &self,
        key: &str,
        default: u32,
        range: std::ops::RangeInclusive<u32>,
    ) -> Result<u32, ConfigError> {
        self.whole_number_in(key, default, range)
    }

    /// A whole number within `range`, or `default` when the key is absent.
    pub fn u64_in(
        &self,
        key: &str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<u64, ConfigError> {
        self.whole_number_in(key, default, range)
    }

    fn whole_number_in<N>(
        &self,
        key: &str,
        default: N,
        range: std::ops::RangeInclusive<N>,
    ) -> Result<N, ConfigError>
    where
        N: FromStr + PartialOrd + std::fmt::Display + Copy,
    {
        let Some(text) = self.get(key) else {
            return Ok(default);
        };
        let value: N = text
            .trim()
            .parse()
            .map_err(|_| ConfigError::new(key, format!("expected a whole number, got `{text}`")))?;
        if !range.contains(&value) {
            return Err(ConfigError::new(
                key,
                format!(
                    "{value} is out of range; expected {} to {}",
                    range.start(),
                    range.end()
                ),
            ));
        }
        Ok(value)
    }

    /// A timing distribution (`"2ms"`, `"lognormal(median=1500us, sigma=0.8, max=2s)"`, ...), or
    /// `default` (written the same way) when the key is absent.
    pub fn distribution_or(&self, key: &str, default: &str) -> Result<Distribution, ConfigError> {
        let text = self.get(key).unwrap_or(default);
        text.parse()
            .map_err(|e| ConfigError::new(key, format!("{e}")))
    }
}

fn parse_ipv4(key: &str, text: &str) -> Result<Ipv4Addr, ConfigError> {
    text.trim().parse().map_err(|_| {
        ConfigError::new(
            key,
            format!("expected an IPv4 address such as 10.1.0.1, got `{text}`"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: &[&str] = &["threads", "router", "lookup"];

    #[test]
    fn typed_values_parse() {
        let config = Config::from_pairs(
            &[
                ("threads", "8"),
                ("router", "10.1.0.1"),
                ("lookup", "uniform(1ms, 2ms)"),
            ],
            KEYS,
        )
        .unwrap();
        assert_eq!(config.u32_in("threads", 4, 1..=64), Ok(8));
        assert_eq!(
            config.required_ipv4("router"),
            Ok(Ipv4Addr::new(10, 1, 0, 1))
        );
        assert_eq!(
            config
                .distribution_or("lookup", "1ms")
                .unwrap()
                .nominal_ns(),
            1_500_000
        );
    }

    #[test]
    fn defaults_apply_when_absent() {
        let config = Config::from_pairs(&[], KEYS).unwrap();
        assert_eq!(config.u32_in("threads", 4, 1..=64), Ok(4));
        assert_eq!(config.ipv4("router"), Ok(None));
        assert_eq!(
            config
                .distribution_or("lookup", "2ms")
                .unwrap()
                .nominal_ns(),
            2_000_000
        );
    }

    #[test]
    fn errors_name_the_key_and_the_value() {
        let config = Config::from_pairs(
            &[
                ("threads", "x"),
                ("router", "10.1.0"),
                ("lookup", "gauss(1ms)"),
            ],
            KEYS,
        )
        .unwrap();
        assert_eq!(
            config.u32_in("threads", 4, 1..=64),
            Err(ConfigError::new(
                "threads",
                "expected a whole number, got `x`"
            ))
        );
        assert!(
            config
                .required_ipv4("router")
                .unwrap_err()
                .message
                .contains("`10.1.0`")
        );
        assert!(
            config
                .distribution_or("lookup", "1ms")
                .unwrap_err()
                .to_string()
                .starts_with("config `lookup`: unknown distribution")
        );
        let config = Config::from_pairs(&[("threads", "65")], KEYS).unwrap();
        assert!(
            config
                .u32_in("threads", 4, 1..=64)
                .unwrap_err()
                .message
                .contains("out of range")
        );
    }

    #[test]
    fn unknown_and_repeated_keys_are_refused() {
        let error = Config::from_pairs(&[("thread", "1")], KEYS).unwrap_err();
        assert_eq!(error.key, "thread");
        assert_eq!(
            error.to_string(),
            "config `thread`: unknown key; expected one of threads, router, lookup"
        );
        let error = Config::from_pairs(&[("threads", "1"), ("threads", "2")], KEYS).unwrap_err();
        assert!(error.message.contains("more than once"));
        assert!(
            Config::from_pairs(&[], KEYS)
                .unwrap()
                .required("router")
                .unwrap_err()
                .message
                .contains("required")
        );
    }
}
