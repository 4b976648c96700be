//! HTML helpers: escaping and the common page layout.
//!
//! Pages are written with `format!`; every value that comes from a person or the store goes
//! through [`escape`] before it is written into HTML text or a quoted attribute.

use axum::response::Html;

use crate::auth::Session;

/// Escapes text for HTML element content and double- or single-quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;background:#f4f6f8;color:#111}\
header{background:#000091;color:#fff;padding:.6rem 1rem;display:flex;gap:1.5rem;align-items:center;flex-wrap:wrap}\
header a{color:#fff;margin-right:1.2rem}header form{margin-left:auto}main{padding:1rem 1.5rem;max-width:1400px}\
table{border-collapse:collapse;background:#fff;margin-bottom:1rem}th,td{border:1px solid #bbb;padding:.35rem .6rem;text-align:left;vertical-align:top}\
.erreur{background:#fde8e8;border-left:4px solid #c00;padding:.5rem}.ok{background:#e6f4ea;border-left:4px solid #18753c;padding:.5rem}\
.vip{background:#c00;color:#fff;font-weight:bold;padding:0 .3rem;border-radius:3px;white-space:nowrap}\
textarea{width:100%;max-width:50rem}button{font-size:1rem;padding:.3rem .8rem}\
.connexion input{font-size:1.1rem;width:20rem}";

/// A whole page: title, navigation for the session's roles, logout, and `body`.
pub fn page(server_name: &str, title: &str, session: Option<&Session>, body: &str) -> Html<String> {
    let nav = match session {
        Some(s) => {
            let mut links = String::from(
                "<a href=\"/agent\">Mon poste</a><a href=\"/mon-compte\">Mon compte</a>",
            );
            if s.is_supervisor() {
                links.push_str(
                    "<a href=\"/superviseur/mur\">Mur d'affichage</a>\
                     <a href=\"/superviseur/messages\">Messages de crise et de dissuasion</a>",
                );
                links.push_str("<a href=\"/superviseur/tableaux\">Tableaux de bord</a>");
                links.push_str("<a href=\"/superviseur/agents\">Agents</a>");
                links.push_str("<a href=\"/superviseur/incidents\">Incidents majeurs</a>");
                links.push_str("<a href=\"/superviseur/appels\">Journal des appels</a>");
            }
            if s.roles.contains(&crate::Role::Admin) {
                links.push_str("<a href=\"/admin/jetons\">Jetons d'API</a>");
            }
            if s.roles.contains(&crate::Role::Admin) {
                links.push_str("<a href=\"/admin\">Administration</a>");
            }
            format!(
                "<nav>{links}</nav><span>{}</span><form method=\"post\" action=\"/deconnexion\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
                 <button type=\"submit\">Se déconnecter</button></form>",
                escape(&s.name),
                escape(&s.csrf)
            )
        }
        None => String::new(),
    };
    Html(format!(
        "<!DOCTYPE html><html lang=\"fr\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} — {server}</title><style>{STYLE}</style></head><body>\
         <header><strong>{server}</strong>{nav}</header><main><h1>{title}</h1>{body}</main></body></html>",
        title = escape(title),
        server = escape(server_name),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_neutralises_markup_and_quotes() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
        assert_eq!(escape("Équipe réseau"), "Équipe réseau");
    }
}
