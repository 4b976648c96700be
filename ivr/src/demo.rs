//! Ready-made flows for the demo configuration: the Louvre `8585` hotline and the Ministry of
//! Culture service desk. Their TOML is in `ivr/flows/` and reproduced in `docs/ivr.md`.

use crate::flow::FlowSpec;

/// TOML of the Louvre 8585 flow.
pub const LOUVRE_8585_TOML: &str = include_str!("../flows/louvre-8585.toml");
/// TOML of the Ministry of Culture hotline flow.
pub const CULTURE_HOTLINE_TOML: &str = include_str!("../flows/culture-hotline.toml");

/// The Louvre 8585 flow, not yet compiled.
pub fn louvre_8585() -> Result<FlowSpec, toml::de::Error> {
    FlowSpec::from_toml_str(LOUVRE_8585_TOML)
}

/// The Ministry of Culture hotline flow, not yet compiled.
pub fn culture_hotline() -> Result<FlowSpec, toml::de::Error> {
    FlowSpec::from_toml_str(CULTURE_HOTLINE_TOML)
}
