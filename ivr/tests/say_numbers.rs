//! French number saying over the whole range: words checked by an independent reader of
//! French numerals, tricky values by hand, and every fragment present in the catalogue.

mod common;

use common::catalogue;
use guichet_ivr::say::{
    Gender, cardinal_words, number_fragments, ordinal_words, queue_announcement,
    say_estimated_wait, say_queue_position,
};

/// Reads French number words back into a value (independent of the code under test):
/// tokens are split on spaces and hyphens; « quatre » followed by « vingt(s) » is 80.
fn read_french(words: &str) -> u32 {
    let tokens: Vec<&str> = words.split([' ', '-']).filter(|t| *t != "et").collect();
    let mut total = 0;
    let mut i = 0;
    while i < tokens.len() {
        let t = tokens[i];
        if t == "quatre" && matches!(tokens.get(i + 1), Some(&"vingt") | Some(&"vingts")) {
            total += 80;
            i += 2;
            continue;
        }
        total += match t {
            "un" | "une" => 1,
            "deux" => 2,
            "trois" => 3,
            "quatre" => 4,
            "cinq" => 5,
            "six" => 6,
            "sept" => 7,
            "huit" => 8,
            "neuf" => 9,
            "dix" => 10,
            "onze" => 11,
            "douze" => 12,
            "treize" => 13,
            "quatorze" => 14,
            "quinze" => 15,
            "seize" => 16,
            "vingt" => 20,
            "trente" => 30,
            "quarante" => 40,
            "cinquante" => 50,
            "soixante" => 60,
            other => panic!("unexpected word {other:?} in {words:?}"),
        };
        i += 1;
    }
    total
}

#[test]
fn cardinals_read_back_to_their_value_over_1_to_99() {
    for n in 1..=99 {
        for gender in [Gender::Masculine, Gender::Feminine] {
            let words = cardinal_words(n, gender).unwrap();
            assert_eq!(read_french(&words), n, "{n} {gender:?} -> {words}");
            // « et » exactly for 21, 31, 41, 51, 61 and 71.
            let has_et = words.contains(" et ");
            assert_eq!(has_et, [21, 31, 41, 51, 61, 71].contains(&n), "{words}");
            // Feminine differs only where the number ends in « un ».
            let masculine = cardinal_words(n, Gender::Masculine).unwrap();
            if gender == Gender::Feminine {
                let ends_in_un = [1, 21, 31, 41, 51, 61, 81].contains(&n);
                assert_eq!(words != masculine, ends_in_un, "{n}: {words}");
            }
        }
    }
    assert_eq!(cardinal_words(0, Gender::Masculine), None);
    assert_eq!(cardinal_words(100, Gender::Masculine), None);
}

#[test]
fn cardinals_tricky_values() {
    let table = [
        (1, "un"),
        (16, "seize"),
        (17, "dix-sept"),
        (21, "vingt et un"),
        (22, "vingt-deux"),
        (60, "soixante"),
        (70, "soixante-dix"),
        (71, "soixante et onze"),
        (72, "soixante-douze"),
        (77, "soixante-dix-sept"),
        (80, "quatre-vingts"),
        (81, "quatre-vingt-un"),
        (88, "quatre-vingt-huit"),
        (90, "quatre-vingt-dix"),
        (91, "quatre-vingt-onze"),
        (97, "quatre-vingt-dix-sept"),
        (99, "quatre-vingt-dix-neuf"),
    ];
    for (n, words) in table {
        assert_eq!(cardinal_words(n, Gender::Masculine).as_deref(), Some(words));
    }
    assert_eq!(
        cardinal_words(21, Gender::Feminine).as_deref(),
        Some("vingt et une")
    );
    assert_eq!(
        cardinal_words(81, Gender::Feminine).as_deref(),
        Some("quatre-vingt-une")
    );
    assert_eq!(
        cardinal_words(71, Gender::Feminine).as_deref(),
        Some("soixante et onze")
    );
}

#[test]
fn ordinals_over_1_to_99() {
    let table = [
        (1, "premier"),
        (2, "deuxième"),
        (3, "troisième"),
        (4, "quatrième"),
        (5, "cinquième"),
        (9, "neuvième"),
        (11, "onzième"),
        (21, "vingt et unième"),
        (29, "vingt-neuvième"),
        (35, "trente-cinquième"),
        (71, "soixante et onzième"),
        (80, "quatre-vingtième"),
        (81, "quatre-vingt-unième"),
        (99, "quatre-vingt-dix-neuvième"),
    ];
    for (n, words) in table {
        assert_eq!(ordinal_words(n).as_deref(), Some(words), "{n}");
    }
    for n in 2..=99 {
        let ordinal = ordinal_words(n).unwrap();
        assert!(ordinal.ends_with("ième"), "{ordinal}");
        assert!(
            !ordinal.contains("eième") && !ordinal.contains("fième"),
            "{ordinal}"
        );
        // Everything before the last word is the cardinal's beginning, unchanged.
        let cardinal = cardinal_words(n, Gender::Masculine).unwrap();
        let cut = cardinal.rfind([' ', '-']).map_or(0, |i| i + 1);
        assert!(
            ordinal.starts_with(&cardinal[..cut]),
            "{cardinal} / {ordinal}"
        );
    }
    assert_eq!(ordinal_words(0), None);
}

fn spoken(ids: &[String]) -> String {
    static CATALOGUE: std::sync::OnceLock<guichet_ivr::PromptCatalogue> =
        std::sync::OnceLock::new();
    let catalogue = CATALOGUE.get_or_init(catalogue);
    ids.iter()
        .map(|id| {
            catalogue
                .text(id)
                .unwrap_or_else(|| panic!("fragment {id} missing from the catalogue"))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn queue_position_sentences() {
    assert_eq!(
        spoken(&say_queue_position(1).unwrap()),
        "Vous êtes le premier appel en attente."
    );
    assert_eq!(
        spoken(&say_queue_position(3).unwrap()),
        "Vous êtes le troisième appel en attente."
    );
    assert_eq!(
        spoken(&say_queue_position(71).unwrap()),
        "Vous êtes le soixante et onzième appel en attente."
    );
    assert_eq!(
        spoken(&say_queue_position(120).unwrap()),
        "De nombreux appels sont en attente avant le vôtre."
    );
    assert!(say_queue_position(0).is_err());
    for position in 1..=150 {
        spoken(&say_queue_position(position).unwrap());
    }
}

#[test]
fn estimated_wait_sentences() {
    let table = [
        (0, "Le temps d'attente estimé est de moins d'une minute."),
        (59, "Le temps d'attente estimé est de moins d'une minute."),
        (60, "Le temps d'attente estimé est d'environ une minute."),
        (89, "Le temps d'attente estimé est d'environ une minute."),
        (90, "Le temps d'attente estimé est d'environ deux minutes."),
        (
            240,
            "Le temps d'attente estimé est d'environ quatre minutes.",
        ),
        (
            21 * 60,
            "Le temps d'attente estimé est d'environ vingt et une minutes.",
        ),
        (
            59 * 60 + 29,
            "Le temps d'attente estimé est d'environ cinquante-neuf minutes.",
        ),
        (
            59 * 60 + 30,
            "Le temps d'attente estimé est d'environ une heure",
        ),
        (3_600, "Le temps d'attente estimé est d'environ une heure"),
        (
            4_500,
            "Le temps d'attente estimé est d'environ une heure et quart.",
        ),
        (
            5_400,
            "Le temps d'attente estimé est d'environ une heure et demie.",
        ),
        (
            6_300,
            "Le temps d'attente estimé est d'environ une heure trois quarts.",
        ),
        (7_200, "Le temps d'attente estimé est d'environ deux heures"),
        (
            8_100,
            "Le temps d'attente estimé est d'environ deux heures et quart.",
        ),
        (
            3 * 3_600,
            "Le temps d'attente estimé est d'environ trois heures",
        ),
        (
            3 * 3_600 + 449,
            "Le temps d'attente estimé est d'environ trois heures",
        ),
        (
            3 * 3_600 + 450,
            "Le temps d'attente estimé est de plus de trois heures.",
        ),
    ];
    for (secs, sentence) in table {
        assert_eq!(spoken(&say_estimated_wait(secs)), sentence, "{secs} s");
    }
    // Every wait up to five hours can be said with catalogue fragments.
    for secs in (0..5 * 3_600).step_by(7) {
        spoken(&say_estimated_wait(secs));
    }
}

#[test]
fn the_catalogue_holds_every_number_fragment_with_its_words() {
    let catalogue = catalogue();
    let fragments = number_fragments();
    assert_eq!(
        fragments
            .iter()
            .filter(|(id, _)| id.starts_with("nombre_"))
            .count(),
        99 + 7
    );
    assert_eq!(
        fragments
            .iter()
            .filter(|(id, _)| id.starts_with("rang_"))
            .count(),
        99
    );
    for (id, text) in fragments {
        assert_eq!(catalogue.text(&id), Some(text.as_str()), "{id}");
    }
}

#[test]
fn queue_announcement_as_the_acd_asks_for_it() {
    assert_eq!(
        spoken(&queue_announcement(3, Some(240))),
        "Vous êtes le troisième appel en attente. Le temps d'attente estimé est d'environ quatre minutes."
    );
    assert_eq!(
        spoken(&queue_announcement(1, None)),
        "Vous êtes le premier appel en attente."
    );
    assert_eq!(
        spoken(&queue_announcement(2, Some(-5))),
        "Vous êtes le deuxième appel en attente. Le temps d'attente estimé est de moins d'une minute."
    );
    assert!(queue_announcement(0, None).is_empty());
}
