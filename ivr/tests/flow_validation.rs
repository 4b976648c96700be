//! Flow loading and validation: the demo flows compile, and each kind of bad flow is refused
//! with an error that names the flow and the node.

mod common;

use common::{catalogue, repo_root};
use guichet_ivr::{FlowError, FlowSpec, NodeSpec};

fn compile(toml: &str) -> Result<guichet_ivr::Flow, FlowError> {
    FlowSpec::from_toml_str(toml)
        .expect("test flow parses")
        .compile(&catalogue())
}

#[test]
fn demo_flows_compile_and_are_documented() {
    let louvre = guichet_ivr::demo::louvre_8585()
        .unwrap()
        .compile(&catalogue())
        .unwrap();
    assert_eq!(louvre.name(), "louvre-8585");
    assert_eq!(louvre.start(), "crise");
    let culture = guichet_ivr::demo::culture_hotline()
        .unwrap()
        .compile(&catalogue())
        .unwrap();
    assert_eq!(culture.name(), "culture-hotline");
    assert!(matches!(
        culture.node("transfert_mobile"),
        Some(NodeSpec::Transfer { number }) if number == "4400"
    ));
    // Defaults from the issue: 5 s first-digit timeout, barge-in on menus.
    match louvre.node("menu") {
        Some(NodeSpec::Menu {
            first_digit_timeout_ms,
            barge_in,
            max_retries,
            ..
        }) => {
            assert_eq!(*first_digit_timeout_ms, 5_000);
            assert!(*barge_in);
            assert_eq!(*max_retries, 2);
        }
        other => panic!("menu is a menu: {other:?}"),
    }
    let doc = std::fs::read_to_string(repo_root().join("docs/ivr.md")).unwrap();
    for toml in [
        guichet_ivr::demo::LOUVRE_8585_TOML,
        guichet_ivr::demo::CULTURE_HOTLINE_TOML,
    ] {
        assert!(
            doc.contains(toml.trim()),
            "docs/ivr.md must quote the demo flow verbatim"
        );
    }
}

#[test]
fn missing_start_node() {
    let err = compile(
        r#"
name = "f"
start = "nulle_part"
[nodes.fin]
kind = "hang_up"
"#,
    )
    .unwrap_err();
    assert_eq!(
        err,
        FlowError::MissingStart {
            flow: "f".into(),
            node: "nulle_part".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "flow `f`: start node `nulle_part` does not exist"
    );
}

#[test]
fn missing_node() {
    let err = compile(
        r#"
name = "f"
start = "accueil"
[nodes.accueil]
kind = "play"
prompts = ["louvre_accueil"]
next = "menu"
"#,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "flow `f`, node `accueil`: leads to node `menu`, which does not exist"
    );
}

#[test]
fn missing_prompt() {
    let err = compile(
        r#"
name = "f"
start = "fin"
[nodes.fin]
kind = "hang_up"
prompts = ["au_revoir", "inexistant"]
"#,
    )
    .unwrap_err();
    assert_eq!(
        err,
        FlowError::MissingPrompt {
            flow: "f".into(),
            node: "fin".into(),
            prompt: "inexistant".into()
        }
    );
}

#[test]
fn missing_prompt_in_a_menu_timeout_list() {
    let err = compile(
        r#"
name = "f"
start = "menu"
[nodes.menu]
kind = "menu"
prompts = ["louvre_menu"]
timeout_prompts = ["silence_radio"]
on_failure = "fin"
choices = { "1" = "fin" }
[nodes.fin]
kind = "hang_up"
"#,
    )
    .unwrap_err();
    assert!(
        matches!(err, FlowError::MissingPrompt { ref node, ref prompt, .. } if node == "menu" && prompt == "silence_radio")
    );
}

#[test]
fn unreachable_node() {
    let err = compile(
        r#"
name = "f"
start = "fin"
[nodes.fin]
kind = "hang_up"
[nodes.orphelin]
kind = "queue"
queue = "q"
"#,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "flow `f`, node `orphelin`: unreachable from the start node"
    );
}

#[test]
fn loop_without_input_is_refused() {
    let err = compile(
        r#"
name = "f"
start = "a"
[nodes.a]
kind = "play"
prompts = ["patientez"]
next = "b"
[nodes.b]
kind = "deterrence_message"
next = "a"
"#,
    )
    .unwrap_err();
    match &err {
        FlowError::LoopWithoutInput { flow, cycle, .. } => {
            assert_eq!(flow, "f");
            assert_eq!(cycle, &["a", "b", "a"]);
        }
        other => panic!("expected a loop error, got {other:?}"),
    }
    assert!(err.to_string().contains("a -> b -> a"), "{err}");
}

#[test]
fn a_menu_failure_exit_back_to_itself_loops_without_input() {
    // After its retries the menu goes on to "desole", which sends the call back to the menu:
    // a silent caller would go round forever.
    let err = compile(
        r#"
name = "f"
start = "menu"
[nodes.menu]
kind = "menu"
prompts = ["louvre_menu"]
on_failure = "desole"
choices = { "1" = "fin" }
[nodes.desole]
kind = "play"
prompts = ["saisie_absente"]
next = "menu"
[nodes.fin]
kind = "hang_up"
"#,
    )
    .unwrap_err();
    assert!(
        matches!(err, FlowError::LoopWithoutInput { ref node, .. } if node == "menu" || node == "desole"),
        "{err:?}"
    );
}

#[test]
fn a_loop_through_a_menu_choice_is_allowed() {
    let flow = compile(
        r#"
name = "f"
start = "menu"
[nodes.menu]
kind = "menu"
prompts = ["louvre_menu"]
on_failure = "fin"
choices = { "1" = "info", "2" = "fin" }
[nodes.info]
kind = "play"
prompts = ["louvre_ferme"]
next = "menu"
[nodes.fin]
kind = "hang_up"
"#,
    )
    .unwrap();
    assert_eq!(flow.prompt_ids().len(), 2);
}

#[test]
fn unknown_fields_and_kinds_are_refused_at_parse_time() {
    let unknown_field = FlowSpec::from_toml_str(
        r#"
name = "f"
start = "fin"
[nodes.fin]
kind = "hang_up"
prompt = ["au_revoir"]
"#,
    )
    .unwrap_err();
    assert!(
        unknown_field.to_string().contains("prompt"),
        "{unknown_field}"
    );
    let unknown_kind = FlowSpec::from_toml_str(
        r#"
name = "f"
start = "fin"
[nodes.fin]
kind = "voicemail"
"#,
    )
    .unwrap_err();
    assert!(
        unknown_kind.to_string().contains("voicemail"),
        "{unknown_kind}"
    );
    let unknown_top = FlowSpec::from_toml_str(
        r#"
name = "f"
start = "fin"
colour = "bleu"
[nodes.fin]
kind = "hang_up"
"#,
    )
    .unwrap_err();
    assert!(unknown_top.to_string().contains("colour"), "{unknown_top}");
}

#[test]
fn bad_node_settings_name_the_node() {
    let cases = [
        (
            r#"
name = "f"
start = "menu"
[nodes.menu]
kind = "menu"
prompts = ["louvre_menu"]
on_failure = "fin"
choices = { "1a" = "fin" }
[nodes.fin]
kind = "hang_up"
"#,
            "flow `f`, node `menu`: choice `1a` must be made of the keys 0-9, * and #",
        ),
        (
            r#"
name = "f"
start = "menu"
[nodes.menu]
kind = "menu"
prompts = ["louvre_menu"]
first_digit_timeout_ms = 0
on_failure = "fin"
choices = { "1" = "fin" }
[nodes.fin]
kind = "hang_up"
"#,
            "flow `f`, node `menu`: menu timeouts must be greater than zero",
        ),
        (
            r#"
name = "f"
start = "t"
[nodes.t]
kind = "transfer"
number = "01 40 15"
"#,
            "flow `f`, node `t`: transfer number `01 40 15` must be digits, optionally after a +",
        ),
        (
            r#"
name = "f"
start = "p"
[nodes.p]
kind = "play"
prompts = []
next = "fin"
[nodes.fin]
kind = "hang_up"
"#,
            "flow `f`, node `p`: a play node needs at least one prompt",
        ),
    ];
    for (toml, expected) in cases {
        assert_eq!(compile(toml).unwrap_err().to_string(), expected);
    }
}

#[test]
fn a_zero_playback_guard_is_refused_by_field() {
    let err = compile(
        r#"
name = "f"
start = "fin"
playback_guard_ms = 0
[nodes.fin]
kind = "hang_up"
"#,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "flow `f`: `playback_guard_ms` must be greater than zero"
    );
}
