//! The proxy config model: the single source of truth that the static YAML file, the
//! controller and the wire protocol all carry (plain data, serde, camelCase).

pub mod authz;
pub mod config;
pub mod duration;
pub mod endpoint;
pub mod identity;
pub mod jwt;
pub mod load;
pub mod policy;
#[cfg(test)]
mod proptests;
pub mod route;
pub mod service;
pub mod tracing;

pub use config::Config;

/// Deserializes a value written as a string through its `FromStr` (durations, retry conditions).
pub(crate) fn from_str_de<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
    s.parse().map_err(serde::de::Error::custom)
}
