//! The people directory: import from CSV (idempotent, with a report of
//! rejected rows) and caller lookup by normalised number.
//!
//! CSV columns (header row required, `,` or `;` separated, in any order):
//! `id` (stable key, optional: defaults to last name + first name + entity),
//! `last_name`, `first_name`, `entity`, `site`, `dependency` (optional, RI or
//! COINF), `vip` (`oui`/`non`, `true`/`false`, `1`/`0`, empty = no),
//! `phones` (numbers separated by `|`), `p0_windows` (optional, periods
//! `start/end` separated by `|`, each instant RFC 3339 or `YYYY-MM-DDTHH:MM`
//! local time in Europe/Paris).

use std::collections::HashMap;
use std::io::Read;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Europe::Paris;
use sqlx::Row;

use crate::store::{Store, StoreError, from_ms, get_bool, to_ms};

/// A person of the directory as the switchboard needs it for a caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Person id.
    pub person_id: i64,
    /// Last name.
    pub last_name: String,
    /// First name.
    pub first_name: String,
    /// Entity.
    pub entity: String,
    /// Site.
    pub site: String,
    /// RI/COINF dependency.
    pub dependency: Option<String>,
    /// VIP flag.
    pub vip: bool,
    /// A P0 window covers `now`.
    pub p0_active: bool,
}

/// A row refused by an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRow {
    /// Line number in the file (the header is line 1).
    pub line: u64,
    /// Why, in French (shown to administrators).
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// People created.
    pub inserted: u64,
    /// People already known, updated.
    pub updated: u64,
    /// Rows refused.
    pub rejected: Vec<RejectedRow>,
}

/// Normalises a phone number: E.164 (`+33…`, overseas departments under
/// their own country code) for French national and international numbers,
/// digits only for internal short numbers (3 to 6 digits). Returns `None`
/// for anything else.
pub fn normalize_number(raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    let plus = trimmed.starts_with('+');
    let mut digits = String::with_capacity(trimmed.len());
    for c in trimmed.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '.' | '-' | '(' | ')' | '\u{a0}' => {}
            '+' if digits.is_empty() => {}
            _ => return None,
        }
    }
    if plus {
        return (8..=15)
            .contains(&digits.len())
            .then(|| format!("+{digits}"));
    }
    if let Some(intl) = digits.strip_prefix("00") {
        return (8..=15).contains(&intl.len()).then(|| format!("+{intl}"));
    }
    if (3..=6).contains(&digits.len()) {
        return Some(digits);
    }
    if digits.len() == 10 && digits.starts_with('0') {
        // Overseas departments dial like metropolitan numbers but have their
        // own country codes in E.164.
        let country = match &digits[..4] {
            "0590" | "0690" | "0691" => "590",
            "0594" | "0694" => "594",
            "0596" | "0696" | "0697" => "596",
            "0262" | "0263" | "0692" | "0693" | "0269" | "0639" => "262",
            _ => "33",
        };
        return Some(format!("+{country}{}", &digits[1..]));
    }
    None
}

fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M"))
        .ok()?;
    Paris
        .from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

fn parse_vip(s: &str) -> Option<bool> {
    match s.trim().to_lowercase().as_str() {
        "" | "non" | "false" | "0" | "n" | "no" => Some(false),
        "oui" | "true" | "1" | "o" | "yes" | "vip" => Some(true),
        _ => None,
    }
}

struct PersonRow {
    key: String,
    last_name: String,
    first_name: String,
    entity: String,
    site: String,
    dependency: Option<String>,
    vip: bool,
    numbers: Vec<String>,
    p0: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

fn parse_row(get: &dyn Fn(&str) -> String) -> Result<PersonRow, String> {
    let last_name = get("last_name").trim().to_owned();
    let first_name = get("first_name").trim().to_owned();
    let entity = get("entity").trim().to_owned();
    let site = get("site").trim().to_owned();
    if last_name.is_empty() {
        return Err("nom (last_name) manquant".to_owned());
    }
    if entity.is_empty() {
        return Err("entité (entity) manquante".to_owned());
    }
    let vip_raw = get("vip");
    let vip =
        parse_vip(&vip_raw).ok_or_else(|| format!("valeur VIP invalide « {} »", vip_raw.trim()))?;
    let mut numbers = Vec::new();
    for raw in get("phones").split('|').filter(|s| !s.trim().is_empty()) {
        let n = normalize_number(raw)
            .ok_or_else(|| format!("numéro de téléphone invalide « {} »", raw.trim()))?;
        if !numbers.contains(&n) {
            numbers.push(n);
        }
    }
    if numbers.is_empty() {
        return Err("aucun numéro de téléphone (phones)".to_owned());
    }
    let mut p0 = Vec::new();
    for raw in get("p0_windows")
        .split('|')
        .filter(|s| !s.trim().is_empty())
    {
        let bad = || format!("période P0 invalide « {} » (attendu début/fin)", raw.trim());
        let (a, b) = raw.split_once('/').ok_or_else(bad)?;
        let (a, b) = (
            parse_instant(a).ok_or_else(bad)?,
            parse_instant(b).ok_or_else(bad)?,
        );
        if b <= a {
            return Err(format!(
                "période P0 « {} » : la fin précède le début",
                raw.trim()
            ));
        }
        p0.push((a, b));
    }
    let dependency = Some(get("dependency").trim().to_owned()).filter(|s| !s.is_empty());
    let id = get("id").trim().to_owned();
    let key = if id.is_empty() {
        format!(
            "{}|{}|{}",
            last_name.to_lowercase(),
            first_name.to_lowercase(),
            entity.to_lowercase()
        )
    } else {
        id
    };
    Ok(PersonRow {
        key,
        last_name,
        first_name,
        entity,
        site,
        dependency,
        vip,
        numbers,
        p0,
    })
}

/// A directory CSV file checked row by row, ready to be written (see
/// [`Store::import_directory_rows`]).
pub struct ParsedDirectory {
    rows: Vec<PersonRow>,
    /// Rows refused while reading, in file order.
    pub rejected: Vec<RejectedRow>,
}

impl ParsedDirectory {
    /// Number of valid rows to write.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no row is valid.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// Reads and checks a directory CSV file without writing anything. The error is a French
/// reason when the file itself is unusable (no header, missing column).
pub fn parse_directory_csv(text: &str) -> Result<ParsedDirectory, StoreError> {
    let first_line = text.lines().next().unwrap_or("");
    let delimiter = if first_line.contains(';') && !first_line.contains(',') {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .trim(csv::Trim::Headers)
        .from_reader(text.as_bytes());
    let headers: HashMap<String, usize> = reader
        .headers()?
        .iter()
        .enumerate()
        .map(|(i, h)| (h.to_lowercase(), i))
        .collect();
    for required in ["last_name", "first_name", "entity", "site", "phones"] {
        if !headers.contains_key(required) {
            return Err(StoreError::Invalid {
                field: "header",
                reason: format!("colonne « {required} » absente de l'en-tête"),
            });
        }
    }
    let mut rejected = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                rejected.push(RejectedRow {
                    line,
                    reason: format!("ligne illisible : {e}"),
                });
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        let get = |name: &str| {
            headers
                .get(name)
                .and_then(|&i| record.get(i))
                .unwrap_or("")
                .to_owned()
        };
        match parse_row(&get) {
            Ok(row) => {
                if let Some(first) = seen.get(&row.key) {
                    rejected.push(RejectedRow {
                        line,
                        reason: format!("personne en double (déjà vue ligne {first})"),
                    });
                } else {
                    seen.insert(row.key.clone(), line);
                    rows.push(row);
                }
            }
            Err(reason) => rejected.push(RejectedRow { line, reason }),
        }
    }
    Ok(ParsedDirectory { rows, rejected })
}

impl Store {
    /// Imports people from CSV in one transaction. Re-importing the same
    /// file changes nothing; a changed row updates the person (numbers and
    /// P0 windows are replaced). People missing from the file are kept.
    pub async fn import_directory_csv<R: Read>(
        &self,
        input: R,
        now: DateTime<Utc>,
    ) -> Result<ImportReport, StoreError> {
        let mut text = String::new();
        let mut input = input;
        input.read_to_string(&mut text)?;
        let parsed = parse_directory_csv(&text)?;
        let (inserted, updated) = self
            .import_directory_rows(&parsed, 0..parsed.len(), now)
            .await?;
        let report = ImportReport {
            inserted,
            updated,
            rejected: parsed.rejected,
        };
        tracing::info!(
            inserted = report.inserted,
            updated = report.updated,
            rejected = report.rejected.len(),
            "directory imported"
        );
        Ok(report)
    }

    /// Writes the valid rows `range` of a parsed file in one transaction; returns how many
    /// people were created and updated. Large files are written batch by batch so that
    /// progress can be shown and a failure keeps the batches already written.
    pub async fn import_directory_rows(
        &self,
        parsed: &ParsedDirectory,
        range: std::ops::Range<usize>,
        now: DateTime<Utc>,
    ) -> Result<(u64, u64), StoreError> {
        let (mut inserted, mut updated) = (0, 0);
        let rows = parsed.rows.get(range).unwrap_or(&[]);
        let mut tx = self.writer.begin().await?;
        for p in rows {
            let existing: Option<i64> =
                sqlx::query("SELECT id FROM people WHERE external_key = $1")
                    .bind(&p.key)
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(|r| r.try_get(0))
                    .transpose()?;
            let id: i64 = sqlx::query(
                "INSERT INTO people (external_key, last_name, first_name, entity, site, dependency, vip, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (external_key) DO UPDATE SET last_name = excluded.last_name, \
                 first_name = excluded.first_name, entity = excluded.entity, site = excluded.site, \
                 dependency = excluded.dependency, vip = excluded.vip, updated_at = excluded.updated_at \
                 RETURNING id",
            )
            .bind(&p.key)
            .bind(&p.last_name)
            .bind(&p.first_name)
            .bind(&p.entity)
            .bind(&p.site)
            .bind(&p.dependency)
            .bind(p.vip)
            .bind(to_ms(now))
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
            if existing.is_some() {
                updated += 1;
                sqlx::query("DELETE FROM person_numbers WHERE person_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM p0_windows WHERE person_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            } else {
                inserted += 1;
            }
            for n in &p.numbers {
                sqlx::query("INSERT INTO person_numbers (person_id, number) VALUES ($1, $2)")
                    .bind(id)
                    .bind(n)
                    .execute(&mut *tx)
                    .await?;
            }
            for (a, b) in &p.p0 {
                sqlx::query(
                    "INSERT INTO p0_windows (person_id, starts_at, ends_at) VALUES ($1, $2, $3)",
                )
                .bind(id)
                .bind(to_ms(*a))
                .bind(to_ms(*b))
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok((inserted, updated))
    }

    /// Finds the caller behind a number (any form [`normalize_number`]
    /// accepts), with its VIP flag and whether a P0 window covers `now`.
    /// When several people share a number, a VIP wins, then the lowest id.
    pub async fn lookup_caller(
        &self,
        number: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Caller>, StoreError> {
        let Some(number) = normalize_number(number) else {
            return Ok(None);
        };
        let row = sqlx::query(
            "SELECT p.id, p.last_name, p.first_name, p.entity, p.site, p.dependency, p.vip, \
             (SELECT COUNT(*) FROM p0_windows w WHERE w.person_id = p.id AND w.starts_at <= $2 AND w.ends_at > $2) \
             FROM people p JOIN person_numbers n ON n.person_id = p.id \
             WHERE n.number = $1 ORDER BY p.vip DESC, p.id LIMIT 1",
        )
        .bind(&number)
        .bind(to_ms(now))
        .fetch_optional(&self.reader)
        .await?;
        row.map(|r| {
            Ok(Caller {
                person_id: r.try_get(0)?,
                last_name: r.try_get(1)?,
                first_name: r.try_get(2)?,
                entity: r.try_get(3)?,
                site: r.try_get(4)?,
                dependency: r.try_get(5)?,
                vip: get_bool(&r, 6)?,
                p0_active: r.try_get::<i64, _>(7)? > 0,
            })
        })
        .transpose()
    }

    /// Number of people in the directory.
    pub async fn people_count(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) FROM people")
            .fetch_one(&self.reader)
            .await?;
        Ok(row.try_get(0)?)
    }

    /// The numbers of one person, sorted.
    pub async fn person_numbers(&self, person_id: i64) -> Result<Vec<String>, StoreError> {
        let rows =
            sqlx::query("SELECT number FROM person_numbers WHERE person_id = $1 ORDER BY number")
                .bind(person_id)
                .fetch_all(&self.reader)
                .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// The P0 windows of one person, oldest first.
    pub async fn person_p0_windows(
        &self,
        person_id: i64,
    ) -> Result<Vec<(DateTime<Utc>, DateTime<Utc>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT starts_at, ends_at FROM p0_windows WHERE person_id = $1 ORDER BY starts_at",
        )
        .bind(person_id)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| Ok((from_ms(r.try_get(0)?), from_ms(r.try_get(1)?))))
            .collect()
    }
}

/// A person of the directory as administrators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Row id.
    pub id: i64,
    /// Last name.
    pub last_name: String,
    /// First name.
    pub first_name: String,
    /// Entity.
    pub entity: String,
    /// Site.
    pub site: String,
    /// VIP flag.
    pub vip: bool,
    /// Normalised numbers, sorted.
    pub numbers: Vec<String>,
}

/// A P0 window of a person, as administrators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct P0Window {
    /// Row id.
    pub id: i64,
    /// Person it belongs to.
    pub person_id: i64,
    /// "First Last (entity)", for lists.
    pub person: String,
    /// Start (inclusive).
    pub starts_at: DateTime<Utc>,
    /// End (exclusive).
    pub ends_at: DateTime<Utc>,
}

fn person_label(last: &str, first: &str, entity: &str) -> String {
    format!("{first} {last} ({entity})").trim().to_owned()
}

fn window_text(a: DateTime<Utc>, b: DateTime<Utc>) -> String {
    format!("{} → {}", a.to_rfc3339(), b.to_rfc3339())
}

fn check_window(a: DateTime<Utc>, b: DateTime<Utc>) -> Result<(), StoreError> {
    if b <= a {
        return Err(StoreError::Invalid {
            field: "ends_at",
            reason: "la fin de la période P0 doit suivre son début".to_owned(),
        });
    }
    Ok(())
}

impl Store {
    /// People whose name, entity, site or number contains `query` (case-insensitive; empty:
    /// everyone), VIPs only when asked, by name, at most `limit`.
    pub async fn search_people(
        &self,
        query: &str,
        vip_only: bool,
        limit: i64,
    ) -> Result<Vec<Person>, StoreError> {
        let needle = format!("%{}%", query.trim().to_lowercase());
        let rows = sqlx::query(
            "SELECT p.id, p.last_name, p.first_name, p.entity, p.site, p.vip FROM people p \
             WHERE ($1 = '%%' OR LOWER(p.last_name) LIKE $1 OR LOWER(p.first_name) LIKE $1 \
             OR LOWER(p.entity) LIKE $1 OR LOWER(p.site) LIKE $1 \
             OR EXISTS (SELECT 1 FROM person_numbers n WHERE n.person_id = p.id AND n.number LIKE $1)) \
             AND (p.vip = $2 OR $3 = 0) ORDER BY p.last_name, p.first_name, p.id LIMIT $4",
        )
        .bind(&needle)
        .bind(true)
        .bind(i64::from(vip_only))
        .bind(limit)
        .fetch_all(&self.reader)
        .await?;
        let mut people = Vec::with_capacity(rows.len());
        for r in &rows {
            let id: i64 = r.try_get(0)?;
            people.push(Person {
                id,
                last_name: r.try_get(1)?,
                first_name: r.try_get(2)?,
                entity: r.try_get(3)?,
                site: r.try_get(4)?,
                vip: get_bool(r, 5)?,
                numbers: self.person_numbers(id).await?,
            });
        }
        Ok(people)
    }

    async fn person_label_of(
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        id: i64,
    ) -> Result<(String, bool), StoreError> {
        let row =
            sqlx::query("SELECT last_name, first_name, entity, vip FROM people WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?
                .ok_or(StoreError::NotFound { what: "person", id })?;
        Ok((
            person_label(
                &row.try_get::<String, _>(0)?,
                &row.try_get::<String, _>(1)?,
                &row.try_get::<String, _>(2)?,
            ),
            get_bool(&row, 3)?,
        ))
    }

    /// Sets or clears the VIP flag of a person; journaled (before/after).
    pub async fn set_person_vip(
        &self,
        id: i64,
        vip: bool,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        let (label, before) = Self::person_label_of(&mut tx, id).await?;
        sqlx::query("UPDATE people SET vip = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(vip)
            .bind(to_ms(now))
            .execute(&mut *tx)
            .await?;
        let describe = |v: bool| format!("{label} : {}", if v { "VIP" } else { "non VIP" });
        crate::admin::journal_in(
            &mut tx,
            now,
            actor,
            "directory.vip",
            &format!("person:{id}"),
            Some(&describe(before)),
            Some(&describe(vip)),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every P0 window ending after `since`, by start.
    pub async fn p0_windows(&self, since: DateTime<Utc>) -> Result<Vec<P0Window>, StoreError> {
        let rows = sqlx::query(
            "SELECT w.id, w.person_id, p.last_name, p.first_name, p.entity, w.starts_at, w.ends_at \
             FROM p0_windows w JOIN people p ON p.id = w.person_id WHERE w.ends_at > $1 \
             ORDER BY w.starts_at, w.id",
        )
        .bind(to_ms(since))
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(P0Window {
                    id: r.try_get(0)?,
                    person_id: r.try_get(1)?,
                    person: person_label(
                        &r.try_get::<String, _>(2)?,
                        &r.try_get::<String, _>(3)?,
                        &r.try_get::<String, _>(4)?,
                    ),
                    starts_at: from_ms(r.try_get(5)?),
                    ends_at: from_ms(r.try_get(6)?),
                })
            })
            .collect()
    }

    /// Adds a P0 window to a person; journaled. Returns its id.
    pub async fn add_p0_window(
        &self,
        person_id: i64,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        check_window(starts_at, ends_at)?;
        let mut tx = self.writer.begin().await?;
        let (label, _) = Self::person_label_of(&mut tx, person_id).await?;
        let id: i64 = sqlx::query(
            "INSERT INTO p0_windows (person_id, starts_at, ends_at) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(person_id)
        .bind(to_ms(starts_at))
        .bind(to_ms(ends_at))
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        crate::admin::journal_in(
            &mut tx,
            now,
            actor,
            "directory.p0.add",
            &format!("person:{person_id}"),
            None,
            Some(&format!("{label} : {}", window_text(starts_at, ends_at))),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn p0_window_in(
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        id: i64,
    ) -> Result<(i64, DateTime<Utc>, DateTime<Utc>), StoreError> {
        let row = sqlx::query("SELECT person_id, starts_at, ends_at FROM p0_windows WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?
            .ok_or(StoreError::NotFound {
                what: "P0 window",
                id,
            })?;
        Ok((
            row.try_get(0)?,
            from_ms(row.try_get(1)?),
            from_ms(row.try_get(2)?),
        ))
    }

    /// Changes the period of a P0 window; journaled (before/after).
    pub async fn update_p0_window(
        &self,
        id: i64,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        check_window(starts_at, ends_at)?;
        let mut tx = self.writer.begin().await?;
        let (person_id, a, b) = Self::p0_window_in(&mut tx, id).await?;
        let (label, _) = Self::person_label_of(&mut tx, person_id).await?;
        sqlx::query("UPDATE p0_windows SET starts_at = $2, ends_at = $3 WHERE id = $1")
            .bind(id)
            .bind(to_ms(starts_at))
            .bind(to_ms(ends_at))
            .execute(&mut *tx)
            .await?;
        crate::admin::journal_in(
            &mut tx,
            now,
            actor,
            "directory.p0.update",
            &format!("person:{person_id}"),
            Some(&format!("{label} : {}", window_text(a, b))),
            Some(&format!("{label} : {}", window_text(starts_at, ends_at))),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes a P0 window; journaled.
    pub async fn remove_p0_window(
        &self,
        id: i64,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        let (person_id, a, b) = Self::p0_window_in(&mut tx, id).await?;
        let (label, _) = Self::person_label_of(&mut tx, person_id).await?;
        sqlx::query("DELETE FROM p0_windows WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        crate::admin::journal_in(
            &mut tx,
            now,
            actor,
            "directory.p0.remove",
            &format!("person:{person_id}"),
            Some(&format!("{label} : {}", window_text(a, b))),
            None,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_number;

    #[test]
    fn numbers_normalise_to_one_form() {
        assert_eq!(
            normalize_number("01 40 15 80 00").as_deref(),
            Some("+33140158000")
        );
        assert_eq!(
            normalize_number("+33 1 40 15 80 00").as_deref(),
            Some("+33140158000")
        );
        assert_eq!(
            normalize_number("0033140158000").as_deref(),
            Some("+33140158000")
        );
        assert_eq!(
            normalize_number("01.40.15.80.00").as_deref(),
            Some("+33140158000")
        );
        assert_eq!(
            normalize_number("0594 29 00 00").as_deref(),
            Some("+594594290000")
        );
        assert_eq!(
            normalize_number("0692 12 34 56").as_deref(),
            Some("+262692123456")
        );
        assert_eq!(normalize_number("4521").as_deref(), Some("4521"));
        assert_eq!(normalize_number("84521").as_deref(), Some("84521"));
        assert_eq!(normalize_number("12"), None);
        assert_eq!(normalize_number("01 40 15 80"), None);
        assert_eq!(normalize_number("abc"), None);
    }
}
