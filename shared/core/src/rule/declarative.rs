//! Declarative (TOML) rules.
