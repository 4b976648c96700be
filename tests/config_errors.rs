//! A bad configuration is refused with the file, line, column and field in the message.
//!
//! Each case starts from the demo configuration, breaks one thing, and checks the exact
//! location and field reported.

use guichet::config::{self, ConfigError, DEMO_CONFIG};

/// Replaces the first occurrence of `from` in the demo configuration (panics if absent, so a
/// case never silently tests the unbroken file).
fn demo_with(from: &str, to: &str) -> String {
    assert!(
        DEMO_CONFIG.contains(from),
        "the demo config no longer contains {from:?}"
    );
    DEMO_CONFIG.replacen(from, to, 1)
}

fn line_of(text: &str, needle: &str) -> usize {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in the text"));
    text[..at].matches('\n').count() + 1
}

fn errors(text: &str) -> Vec<ConfigError> {
    match config::parse("site/guichet.toml", text) {
        Ok(_) => panic!("the broken configuration was accepted"),
        Err(e) => e.0,
    }
}

fn single_error(text: &str) -> ConfigError {
    let mut errs = errors(text);
    assert_eq!(errs.len(), 1, "expected one error, got {errs:?}");
    errs.remove(0)
}

#[test]
fn demo_config_is_valid() {
    let c = config::parse("demo/guichet.toml", DEMO_CONFIG).expect("demo config must be valid");
    assert_eq!(c.lines.len(), 2);
    assert_eq!(c.lines[0].number, "8585");
}

#[test]
fn syntax_error_is_located() {
    let text = demo_with("realm = \"guichet.demo\"", "realm = \"guichet.demo");
    let e = single_error(&text);
    assert_eq!(e.file, "site/guichet.toml");
    assert_eq!(e.line, line_of(&text, "realm = "));
    assert!(e.column > 1, "{e}");
    assert!(
        e.to_string()
            .starts_with(&format!("site/guichet.toml:{}:", e.line))
    );
}

#[test]
fn unknown_field_names_the_field() {
    let text = demo_with("shutdown_grace_secs = 30", "shutdown_grace_sec = 30");
    let e = single_error(&text);
    assert_eq!(e.line, line_of(&text, "shutdown_grace_sec ="));
    assert_eq!(e.column, 1);
    assert_eq!(e.field, "sip.shutdown_grace_sec");
    assert!(e.message.contains("unknown field"), "{e}");
}

#[test]
fn wrong_type_names_the_field() {
    let text = demo_with("port_min = 20000", "port_min = \"20000\"");
    let e = single_error(&text);
    assert_eq!(e.line, line_of(&text, "port_min ="));
    assert_eq!(e.column, 12);
    assert_eq!(e.field, "rtp.port_min");
    assert!(e.message.contains("expected u16"), "{e}");
}

#[test]
fn bad_socket_address_is_refused() {
    let text = demo_with("listen = \"127.0.0.1:8080\"", "listen = \"localhost-8080\"");
    let e = single_error(&text);
    assert_eq!(e.line, line_of(&text, "listen = \"localhost-8080\""));
    assert_eq!(e.field, "http.listen");
}

#[test]
fn line_naming_a_missing_queue_is_refused() {
    let text = demo_with(
        "queues = [\"culture-incidents\", \"culture-demandes\"]",
        "queues = [\"culture-incidents\", \"culture-demande\"]",
    );
    let e = single_error(&text);
    assert_eq!(e.field, "lines[1].queues[1]");
    assert_eq!(e.line, line_of(&text, "\"culture-demande\"]"));
    assert_eq!(e.column, 32);
    assert!(e.message.contains("culture-demande"), "{e}");
}

#[test]
fn line_naming_a_missing_flow_is_refused() {
    let text = demo_with("flow = \"louvre\"", "flow = \"louvres\"");
    let e = single_error(&text);
    assert_eq!(e.field, "lines[0].flow");
    assert_eq!(e.line, line_of(&text, "flow = \"louvres\""));
    assert_eq!(e.column, 8);
}

#[test]
fn duplicate_line_number_is_refused() {
    let text = demo_with("number = \"4400\"", "number = \"8585\"");
    let e = single_error(&text);
    assert_eq!(e.field, "lines[1].number");
    let second = text
        .match_indices("number = \"8585\"")
        .nth(1)
        .map(|(i, _)| i);
    let expected_line = text[..second.unwrap_or(0)].matches('\n').count() + 1;
    assert_eq!(e.line, expected_line);
    assert!(e.message.contains("two lines"), "{e}");
}

#[test]
fn agent_in_a_missing_queue_is_refused() {
    let text = demo_with(
        "queues = { \"culture-incidents\" = 1, \"culture-demandes\" = 1 }",
        "queues = { \"culture-incidents\" = 1, \"reseau\" = 1 }",
    );
    let e = single_error(&text);
    assert_eq!(e.field, "agents[1].queues.reseau");
    assert_eq!(e.line, line_of(&text, "\"reseau\" = 1"));
}

#[test]
fn odd_rtp_port_and_empty_range_are_refused_together() {
    let text = demo_with("port_min = 20000", "port_min = 20001").replacen(
        "port_max = 20999",
        "port_max = 20001",
        1,
    );
    let errs = errors(&text);
    let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["rtp.port_min", "rtp.port_max"]);
    assert_eq!(errs[0].line, line_of(&text, "port_min ="));
    assert_eq!(errs[1].line, line_of(&text, "port_max ="));
}

#[test]
fn unknown_time_zone_is_refused() {
    let text = demo_with(
        "timezone = \"Europe/Paris\"",
        "timezone = \"Europe/Pariss\"",
    );
    let e = single_error(&text);
    assert_eq!(e.field, "server.timezone");
    assert_eq!(e.line, line_of(&text, "Europe/Pariss"));
}

#[test]
fn short_admin_password_is_refused() {
    let text = demo_with(
        "password = \"Guichet-Admin-2026!\"",
        "password = \"Admin-2026!\"",
    );
    let e = single_error(&text);
    assert_eq!(e.field, "agents[3].password");
    assert!(e.message.contains("14"), "{e}");
}

#[test]
fn desk_phone_without_secret_is_refused() {
    let text = demo_with("sip_secret = \"demo-1002-secret\"\n", "");
    let e = single_error(&text);
    assert_eq!(e.field, "agents[1].sip_secret");
    // The missing field is reported at the table that lacks it.
    let second_agent = text.match_indices("[[agents]]").nth(1).map(|(i, _)| i);
    let expected_line = text[..second_agent.unwrap_or(0)].matches('\n').count() + 1;
    assert_eq!(e.line, expected_line);
}

#[test]
fn a_desk_phone_s_own_digest_algorithms_are_read_and_checked() {
    // Amélie's phone answers MD5 only: accepted, and kept for the registrar.
    let text = demo_with(
        "sip_secret = \"demo-1001-secret\"\n",
        "sip_secret = \"demo-1001-secret\"\ndigest_algorithms = [\"md5\"]\n",
    );
    let c = config::parse("site/guichet.toml", &text).expect("valid");
    assert_eq!(
        c.agents[0].digest_algorithms,
        Some(vec![guichet_sip::digest::DigestAlgorithm::Md5])
    );
    assert_eq!(c.agents[1].digest_algorithms, None);
    // An empty list, and algorithms for an account without a desk phone, are refused.
    let text = demo_with(
        "sip_secret = \"demo-1001-secret\"\n",
        "sip_secret = \"demo-1001-secret\"\ndigest_algorithms = []\n",
    );
    let e = single_error(&text);
    assert_eq!(e.field, "agents[0].digest_algorithms");
    assert_eq!(e.line, line_of(&text, "digest_algorithms = []"));
    let text = demo_with(
        "password = \"Guichet-Admin-2026!\"",
        "password = \"Guichet-Admin-2026!\"\ndigest_algorithms = [\"md5\"]",
    );
    let e = single_error(&text);
    assert_eq!(e.field, "agents[3].digest_algorithms");
    assert!(e.message.contains("extension"), "{e}");
}

#[test]
fn check_config_command_prints_located_errors_and_exits_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, demo_with("flow = \"louvre\"", "flow = \"louvres\"")).expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_guichet"))
        .arg("check-config")
        .arg(&path)
        .output()
        .expect("run guichet");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = format!("{}:", path.display());
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(stderr.contains(": lines[0].flow: "), "{stderr}");
}

#[test]
fn overlapping_opening_hours_are_refused_at_the_range() {
    let text = demo_with(
        "monday = [\"08:00-18:30\"]",
        "monday = [\"08:00-12:30\", \"12:00-18:30\"]",
    );
    let e = single_error(&text);
    assert_eq!(e.field, "calendars.culture.hours.monday[1]");
    assert_eq!(e.line, line_of(&text, "\"08:00-12:30\", \"12:00-18:30\""));
    assert_eq!(e.column, 26);
    assert!(e.message.contains("overlap"), "{e}");
}

#[test]
fn bad_time_range_is_refused_at_the_range() {
    let text = demo_with("friday = [\"09:00-18:00\"]", "friday = [\"18:00-09:00\"]");
    let e = single_error(&text);
    assert_eq!(e.field, "calendars.louvre.hours.friday[0]");
    assert_eq!(e.line, line_of(&text, "\"18:00-09:00\""));
}

#[test]
fn flow_leading_to_a_missing_node_is_refused_at_the_node() {
    let text = demo_with("next = \"horaires\"", "next = \"horaire\"");
    let errs = errors(&text);
    let e = errs
        .iter()
        .find(|e| e.message.contains("horaire`"))
        .unwrap_or_else(|| panic!("no missing-node error in {errs:?}"));
    assert_eq!(e.field, "flows.louvre.nodes.crise");
    assert_eq!(e.line, line_of(&text, "[flows.louvre.nodes.crise]"));
}

#[test]
fn flow_routing_to_a_missing_queue_is_refused() {
    let text = demo_with("queue = \"louvre-hotline\"", "queue = \"louvre-hotlin\"");
    let e = single_error(&text);
    assert_eq!(e.field, "flows.louvre.nodes.file_vip.queue");
    assert_eq!(e.line, line_of(&text, "queue = \"louvre-hotlin\""));
}

#[test]
fn flow_naming_a_missing_prompt_is_refused() {
    let text = demo_with(
        "prompts = [\"vip_prioritaire\"]",
        "prompts = [\"vip_prioritair\"]",
    );
    let e = single_error(&text);
    assert_eq!(e.field, "flows.louvre.nodes.accueil_vip");
    assert!(e.message.contains("vip_prioritair"), "{e}");
}

#[test]
fn overflow_rule_with_two_conditions_is_refused_at_the_queue() {
    let text = demo_with(
        "overflow = [{ wait_above = 900, to_queue = \"culture-demandes\" }]",
        "overflow = [{ wait_above = 900, length_above = 3, to_queue = \"culture-demandes\" }]",
    );
    let e = single_error(&text);
    assert_eq!(e.field, "queues[1].overflow[0]");
    assert_eq!(e.line, line_of(&text, "length_above = 3"));
}

#[test]
fn sla_policy_on_a_missing_calendar_is_refused() {
    let text = demo_with(
        "[sla_policies.culture]\ncalendar = \"culture\"",
        "[sla_policies.culture]\ncalendar = \"cultur\"",
    );
    let e = single_error(&text);
    assert_eq!(e.field, "sla_policies.culture.calendar");
    assert_eq!(e.line, line_of(&text, "calendar = \"cultur\""));
}

#[test]
fn a_typology_listed_twice_is_located() {
    let text = demo_with("name = \"Messagerie\"", "name = \"Logiciels\"");
    let e = single_error(&text);
    assert!(e.message.contains("listed twice"), "{e:?}");
    assert_eq!(e.field, "tickets.typologies[2].name", "{e:?}");
    assert_eq!(
        e.line,
        line_of(&text, "name = \"Logiciels\"\nsub_categories = [\"Réception")
    );
}
