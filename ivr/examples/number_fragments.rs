//! Prints the number-saying fragments as `id = "texte"` lines, the format of the
//! `[prompts]` table in `sounds/fr/prompts.toml` (used to write that file's number section).

fn main() {
    for (id, text) in guichet_ivr::say::number_fragments() {
        println!("{id} = \"{text}\"");
    }
}
