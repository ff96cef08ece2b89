//! Durations as the configuration writes them.

use serde::Deserialize;
use serde_json::Value;

/// A duration written as `90`, `1.5` (seconds), `500ms`, `30s`, `5m` or `1h`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Seconds(pub f64);

impl Seconds {
    pub fn duration(self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.0)
    }
}

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let v = Value::deserialize(d)?;
        let secs = match &v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => parse_duration(s),
            _ => None,
        };
        match secs {
            Some(s) if s.is_finite() && s >= 0.0 => Ok(Seconds(s)),
            _ => Err(D::Error::custom(format!(
                "invalid duration {v}: write seconds (`30`) or a number with a unit (`500ms`, `30s`, `5m`, `1h`)"
            ))),
        }
    }
}

fn parse_duration(s: &str) -> Option<f64> {
    let s = s.trim();
    let (number, factor) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (s, 1.0)
    };
    number.trim().parse::<f64>().ok().map(|n| n * factor)
}
