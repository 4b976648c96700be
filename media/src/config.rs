//! Media configuration, embedded in the binary's TOML file.

use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr};
use thiserror::Error;

/// The `[media]` section of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// Address the RTP/RTCP sockets bind to. Default `0.0.0.0`.
    pub bind_ip: IpAddr,
    /// First port of the RTP/RTCP range (inclusive). Default 20000.
    pub port_min: u16,
    /// Last port of the RTP/RTCP range (inclusive). Default 20999, which
    /// gives 500 simultaneous sessions.
    pub port_max: u16,
    /// Delay of the bridge's jitter buffer in milliseconds, rounded to
    /// 20 ms frames. Default 40.
    pub jitter_buffer_ms: u32,
    /// Seconds without a received packet before a `NoMedia` event. Default 30.
    pub no_media_timeout_secs: u32,
    /// Seconds between RTCP reports of a session. Default 5 (RFC 3550).
    pub rtcp_interval_secs: u32,
    /// UDP port of the shared WebRTC socket for browser agents (0: chosen
    /// by the OS). Absent: no WebRTC endpoint. Default absent.
    pub webrtc_port: Option<u16>,
    /// Run the two clock threads (which send every packet) and the receive
    /// thread at real-time priority (SCHED_FIFO 10) when the process is
    /// allowed to, so other work on the machine does not make packets late.
    /// Default true.
    pub realtime_clock: bool,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            bind_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port_min: 20000,
            port_max: 20999,
            jitter_buffer_ms: 40,
            no_media_timeout_secs: 30,
            rtcp_interval_secs: 5,
            webrtc_port: None,
            realtime_clock: true,
        }
    }
}

/// A configuration value that cannot work; `field` names it.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("media.{field}: {reason}")]
pub struct ConfigError {
    /// The offending field, as spelled in the TOML file.
    pub field: &'static str,
    /// Why, in plain words.
    pub reason: String,
}

impl MediaConfig {
    /// Checks the values against each other.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |field, reason: &str| {
            Err(ConfigError {
                field,
                reason: reason.to_owned(),
            })
        };
        if self.port_min < 1024 {
            return err("port_min", "must be 1024 or more");
        }
        if self.port_max <= self.port_min {
            return err("port_max", "must be greater than port_min");
        }
        if (self.port_min..=self.port_max)
            .filter(|p| p % 2 == 0 && *p < self.port_max)
            .count()
            == 0
        {
            return err(
                "port_max",
                "the range holds no even RTP port with its odd RTCP port",
            );
        }
        if self.jitter_buffer_ms > 1000 {
            return err("jitter_buffer_ms", "must be at most 1000");
        }
        if self.no_media_timeout_secs == 0 {
            return err("no_media_timeout_secs", "must be at least 1");
        }
        if self.rtcp_interval_secs == 0 {
            return err("rtcp_interval_secs", "must be at least 1");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_toml_and_rejects_unknown_fields() {
        let c: MediaConfig = toml::from_str(
            "bind_ip = \"127.0.0.1\"\nport_min = 30000\nport_max = 30099\nwebrtc_port = 0\n",
        )
        .unwrap();
        assert_eq!(c.port_min, 30000);
        assert_eq!(c.webrtc_port, Some(0));
        assert_eq!(c.jitter_buffer_ms, 40, "default kept");
        let err = toml::from_str::<MediaConfig>("port_mini = 3").unwrap_err();
        assert!(err.to_string().contains("port_mini"), "{err}");
    }

    #[test]
    fn defaults_are_valid_and_errors_name_fields() {
        assert_eq!(MediaConfig::default().validate(), Ok(()));
        let c = MediaConfig {
            port_max: 19000,
            ..Default::default()
        };
        assert_eq!(c.validate().unwrap_err().field, "port_max");
        let c = MediaConfig {
            port_min: 80,
            ..Default::default()
        };
        assert_eq!(c.validate().unwrap_err().field, "port_min");
        let c = MediaConfig {
            rtcp_interval_secs: 0,
            ..Default::default()
        };
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .starts_with("media.rtcp_interval_secs")
        );
    }
}
