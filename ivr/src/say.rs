//! Saying numbers in French from recorded fragments: queue position and estimated wait.
//!
//! Every number from 1 to 99 is one recorded fragment (`nombre_NN`, with a feminine
//! `nombre_NNf` for the numbers ending in « un »: 1, 21, 31, 41, 51, 61, 81), and every rank
//! from 1st to 99th too (`rang_NN`, masculine since it qualifies « appel »): whole words sound
//! far better than glued pieces and leave no room for a wrong liaison. The words follow the
//! traditional spelling: « vingt et un », « soixante et onze », « quatre-vingts »,
//! « quatre-vingt-un », « quatre-vingt-onze ».
//!
//! Estimated wait, as decided here:
//! - under 60 s: « le temps d'attente estimé est de moins d'une minute »;
//! - otherwise rounded to the nearest minute, up to 59: « … d'environ une minute »,
//!   « … d'environ vingt et une minutes »;
//! - from one hour, rounded to the nearest quarter of an hour: « une heure », « une heure et
//!   quart », « une heure et demie », « une heure trois quarts », « deux heures »… up to three
//!   hours; beyond: « … de plus de trois heures ».

/// Grammatical gender of what is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gender {
    /// « un appel ».
    Masculine,
    /// « une minute », « une heure ».
    Feminine,
}

/// A number that cannot be said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SayError {
    /// Queue positions start at 1.
    #[error("queue position {0} is not a position (positions start at 1)")]
    NotAPosition(u32),
}

const UNITS: [&str; 17] = [
    "", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf", "dix", "onze",
    "douze", "treize", "quatorze", "quinze", "seize",
];
const TENS: [&str; 7] = [
    "",
    "dix",
    "vingt",
    "trente",
    "quarante",
    "cinquante",
    "soixante",
];

fn below_twenty(n: u32) -> String {
    match n {
        0..=16 => UNITS[n as usize].to_owned(),
        _ => format!("dix-{}", UNITS[(n - 10) as usize]),
    }
}

/// The French words of `n` (1 to 99), or `None` outside that range.
pub fn cardinal_words(n: u32, gender: Gender) -> Option<String> {
    let masculine = match n {
        1..=19 => below_twenty(n),
        20..=69 => {
            let (tens, unit) = (TENS[(n / 10) as usize], n % 10);
            match unit {
                0 => tens.to_owned(),
                1 => format!("{tens} et un"),
                _ => format!("{tens}-{}", UNITS[unit as usize]),
            }
        }
        70..=79 => match n - 60 {
            11 => "soixante et onze".to_owned(),
            rest => format!("soixante-{}", below_twenty(rest)),
        },
        80 => "quatre-vingts".to_owned(),
        81..=99 => format!("quatre-vingt-{}", below_twenty(n - 80)),
        _ => return None,
    };
    Some(match gender {
        Gender::Feminine if masculine.ends_with("un") => format!("{masculine}e"),
        _ => masculine,
    })
}

/// The French masculine ordinal of `n` (1 to 99): « premier », « deuxième », « vingt et
/// unième », « quatre-vingtième »…, or `None` outside that range.
pub fn ordinal_words(n: u32) -> Option<String> {
    if n == 1 {
        return Some("premier".to_owned());
    }
    let cardinal = cardinal_words(n, Gender::Masculine)?;
    Some(if let Some(stem) = cardinal.strip_suffix("cinq") {
        format!("{stem}cinquième")
    } else if let Some(stem) = cardinal.strip_suffix("neuf") {
        format!("{stem}neuvième")
    } else if let Some(stem) = cardinal.strip_suffix("vingts") {
        format!("{stem}vingtième")
    } else if let Some(stem) = cardinal.strip_suffix('e') {
        format!("{stem}ième")
    } else {
        format!("{cardinal}ième")
    })
}

/// Prompt id of the recorded cardinal `n` (1 to 99) in `gender`.
pub fn cardinal_prompt_id(n: u32, gender: Gender) -> Option<String> {
    let words = cardinal_words(n, gender)?;
    Some(if gender == Gender::Feminine && words.ends_with("une") {
        format!("nombre_{n:02}f")
    } else {
        format!("nombre_{n:02}")
    })
}

/// Prompt id of the recorded ordinal `n` (1 to 99).
pub fn ordinal_prompt_id(n: u32) -> Option<String> {
    (1..=99).contains(&n).then(|| format!("rang_{n:02}"))
}

/// Opening of the position sentence: « Vous êtes le ».
pub const POSITION_INTRO: &str = "position_vous_etes_le";
/// End of the position sentence: « appel en attente. ».
pub const POSITION_OUTRO: &str = "position_appel_en_attente";
/// Said for positions from 100 on.
pub const POSITION_MANY: &str = "position_nombreux_appels";
/// « Le temps d'attente estimé est d'environ ».
pub const WAIT_INTRO: &str = "attente_environ";
/// « Le temps d'attente estimé est de moins d'une minute. ».
pub const WAIT_UNDER_A_MINUTE: &str = "attente_moins_une_minute";
/// « Le temps d'attente estimé est de plus de trois heures. ».
pub const WAIT_OVER_THREE_HOURS: &str = "attente_plus_de_trois_heures";

/// Fragments for « vous êtes le troisième appel en attente » (`position` from 1).
pub fn say_queue_position(position: u32) -> Result<Vec<String>, SayError> {
    match position {
        0 => Err(SayError::NotAPosition(0)),
        1..=99 => Ok(vec![
            POSITION_INTRO.to_owned(),
            format!("rang_{position:02}"),
            POSITION_OUTRO.to_owned(),
        ]),
        _ => Ok(vec![POSITION_MANY.to_owned()]),
    }
}

/// Fragments for the estimated wait of `wait_secs` seconds (see the module doc for the
/// rounding rules).
pub fn say_estimated_wait(wait_secs: u64) -> Vec<String> {
    if wait_secs < 60 {
        return vec![WAIT_UNDER_A_MINUTE.to_owned()];
    }
    let minutes = (wait_secs + 30) / 60;
    if minutes < 60 {
        // minutes is 1..=59 here, so the conversions cannot fail.
        let n = u32::try_from(minutes).unwrap_or(59);
        return vec![
            WAIT_INTRO.to_owned(),
            cardinal_prompt_id(n, Gender::Feminine).unwrap_or_default(),
            if n == 1 {
                "unite_minute"
            } else {
                "unite_minutes"
            }
            .to_owned(),
        ];
    }
    let quarters = (wait_secs + 450) / 900;
    if quarters > 12 {
        return vec![WAIT_OVER_THREE_HOURS.to_owned()];
    }
    let hours = u32::try_from(quarters / 4).unwrap_or(3);
    let mut ids = vec![
        WAIT_INTRO.to_owned(),
        cardinal_prompt_id(hours, Gender::Feminine).unwrap_or_default(),
        if hours == 1 {
            "unite_heure"
        } else {
            "unite_heures"
        }
        .to_owned(),
    ];
    match quarters % 4 {
        1 => ids.push("fraction_et_quart".to_owned()),
        2 => ids.push("fraction_et_demie".to_owned()),
        3 => ids.push("fraction_trois_quarts".to_owned()),
        _ => {}
    }
    ids
}

/// The whole queue announcement, matching the ACD's `Announce { position, expected_wait_secs }`:
/// the position sentence (skipped for position 0, which is no position), then the estimated
/// wait when there is one (a negative estimate counts as zero; `None`, when no agent is
/// staffed, says nothing about the wait rather than a number that means nothing).
pub fn queue_announcement(position: u32, expected_wait_secs: Option<i64>) -> Vec<String> {
    let mut ids = say_queue_position(position).unwrap_or_default();
    if let Some(wait) = expected_wait_secs {
        ids.extend(say_estimated_wait(u64::try_from(wait).unwrap_or(0)));
    }
    ids
}

/// Every fragment the functions above may return, with its French text: what
/// `sounds/fr/prompts.toml` must hold for number saying.
pub fn number_fragments() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for n in 1..=99 {
        for gender in [Gender::Masculine, Gender::Feminine] {
            if let (Some(id), Some(words)) =
                (cardinal_prompt_id(n, gender), cardinal_words(n, gender))
                && !out.iter().any(|(i, _): &(String, String)| *i == id)
            {
                out.push((id, words));
            }
        }
        if let (Some(id), Some(words)) = (ordinal_prompt_id(n), ordinal_words(n)) {
            out.push((id, words));
        }
    }
    let fixed = [
        (POSITION_INTRO, "Vous êtes le"),
        (POSITION_OUTRO, "appel en attente."),
        (
            POSITION_MANY,
            "De nombreux appels sont en attente avant le vôtre.",
        ),
        (WAIT_INTRO, "Le temps d'attente estimé est d'environ"),
        (
            WAIT_UNDER_A_MINUTE,
            "Le temps d'attente estimé est de moins d'une minute.",
        ),
        (
            WAIT_OVER_THREE_HOURS,
            "Le temps d'attente estimé est de plus de trois heures.",
        ),
        ("unite_minute", "minute."),
        ("unite_minutes", "minutes."),
        ("unite_heure", "heure"),
        ("unite_heures", "heures"),
        ("fraction_et_quart", "et quart."),
        ("fraction_et_demie", "et demie."),
        ("fraction_trois_quarts", "trois quarts."),
    ];
    out.extend(
        fixed
            .iter()
            .map(|(i, t)| ((*i).to_owned(), (*t).to_owned())),
    );
    out
}
