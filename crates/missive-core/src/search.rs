//! Full-text search terms: what an event's text and a search query become
//! before any database sees them.
//!
//! Stemming and accent folding happen here, in Rust, rather than in the
//! database: SQLite's FTS5 has only an English (Porter) stemmer, and
//! PostgreSQL's `unaccent` extension may not be installed, so doing it in
//! the database would give each backend its own answers. Here both
//! backends index and query the very same terms and merely match and rank
//! them (FTS5 with its `ascii` tokenizer, PostgreSQL `tsvector`s whose
//! lexemes are given verbatim).
//!
//! A word is lowercased, split at every character that is not a letter or
//! a digit, and becomes its *variants*: the French stem of the word as
//! written (Snowball's French stemmer needs the accents), then folded to
//! ASCII letters (`é` → `e`, `œ` → `oe`); and the French and English stems
//! of the folded word. An indexed word stores all its variants, and a
//! query word matches a text holding any of its own, so `ecole` finds
//! `école`, `manger` finds `mangé` and `running` finds `run`. Snowball's
//! French stemmer leaves the `nous` form of verbs alone (`mangeons`), so a
//! query infinitive also looks for it (see `query_variants`).

use std::{collections::BTreeSet, sync::LazyLock};

use rust_stemmers::{Algorithm, Stemmer};
use serde_json::Value;
use unicode_normalization::{UnicodeNormalization, char::is_combining_mark};

/// Event types whose text is indexed, with the content key holding it:
/// what Synapse indexes (`content.body`, `content.name`, `content.topic`).
/// Encrypted events have no such text, so they are never found.
pub const SEARCHABLE: [(&str, &str); 3] = [
    ("m.room.message", "body"),
    ("m.room.name", "name"),
    ("m.room.topic", "topic"),
];

/// Words longer than this (in characters) are not indexed: they are keys,
/// hashes or pasted data, and would only bloat the index.
const MAX_WORD_CHARS: usize = 64;

/// Most words of one query (each one more condition on every row).
const MAX_QUERY_WORDS: usize = 16;

static FRENCH: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::French));
static ENGLISH: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::English));

/// The searchable text of an event, if its type is indexed.
pub fn searchable_text<'a>(event_type: &str, content: &'a Value) -> Option<&'a str> {
    let (_, key) = SEARCHABLE.iter().find(|(t, _)| *t == event_type)?;
    content.get(key)?.as_str()
}

/// The event type whose text a search key (`content.body`, ...) names.
pub fn type_for_key(key: &str) -> Option<&'static str> {
    let field = key.strip_prefix("content.")?;
    SEARCHABLE
        .iter()
        .find(|(_, k)| *k == field)
        .map(|(t, _)| *t)
}

/// The terms an event's text is indexed under, separated by single
/// spaces, in the order of its words (positions count for ranking).
/// `None` when the text has no word at all.
pub fn index_terms(text: &str) -> Option<String> {
    let mut out = String::new();
    for word in words(text) {
        for variant in variants(&word) {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&variant);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// A search query as groups of terms: a text matches when it holds, for
/// every group, at least one of the group's terms (each query word must be
/// there, in any of its forms). Empty when the query has no word.
pub fn query_terms(query: &str) -> Vec<Vec<String>> {
    let mut groups: Vec<Vec<String>> = Vec::new();
    for word in words(query) {
        let group = query_variants(&word);
        if !groups.contains(&group) {
            groups.push(group);
        }
        if groups.len() == MAX_QUERY_WORDS {
            break;
        }
    }
    groups
}

/// The words of `text` a query matched, as written (lowercased): the
/// highlights a client shows, since a stemmed match may differ from the
/// query's own words.
pub fn matched_words(text: &str, groups: &[Vec<String>]) -> BTreeSet<String> {
    let wanted: BTreeSet<&str> = groups.iter().flatten().map(String::as_str).collect();
    words(text)
        .filter(|w| variants(w).iter().any(|v| wanted.contains(v.as_str())))
        .collect()
}

/// The query's own words, lowercased (always highlighted).
pub fn query_words(query: &str) -> BTreeSet<String> {
    words(query).take(MAX_QUERY_WORDS).collect()
}

/// Lowercased words: runs of letters and digits, short enough to index.
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && w.chars().count() <= MAX_WORD_CHARS)
        .map(str::to_lowercase)
}

/// A query word's forms: its own, and for a French first-group infinitive
/// its present-tense `nous` form, which Snowball's French stemmer leaves
/// apart (`mangeons` stems to `mangeon`, `manger` to `mang`): `manger`
/// then finds `mangeons`, and `commencer` finds `commençons`. The converse
/// is not done: stripping `-ons` from a query word would make `maisons`
/// find `mais`.
fn query_variants(word: &str) -> Vec<String> {
    let mut out = variants(word);
    let folded = fold(word);
    if let Some(stem) = folded.strip_suffix("er")
        && out.iter().any(|v| v == stem)
    {
        // `-ger` verbs keep their `e` before `-ons` (soft g).
        let nous = if stem.ends_with('g') {
            format!("{stem}eon")
        } else {
            format!("{stem}on")
        };
        if !out.contains(&nous) {
            out.push(nous);
        }
    }
    out
}

/// A lowercased word's forms (see the module's doc), without repeats.
fn variants(word: &str) -> Vec<String> {
    let folded = fold(word);
    let mut out: Vec<String> = Vec::with_capacity(3);
    for v in [
        fold(&FRENCH.stem(word)),
        FRENCH.stem(&folded).into_owned(),
        ENGLISH.stem(&folded).into_owned(),
    ] {
        if !v.is_empty() && !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// The word without accents: decomposed, its combining marks dropped, and
/// the ligatures French writes (`œ`, `æ`) and `ß` spelt out.
fn fold(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    for c in word.nfkd().filter(|c| !is_combining_mark(*c)) {
        match c {
            'œ' => out.push_str("oe"),
            'æ' => out.push_str("ae"),
            'ß' => out.push_str("ss"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(text: &str, query: &str) -> bool {
        let terms: BTreeSet<String> = index_terms(text)
            .unwrap_or_default()
            .split(' ')
            .map(str::to_owned)
            .collect();
        let groups = query_terms(query);
        !groups.is_empty() && groups.iter().all(|g| g.iter().any(|t| terms.contains(t)))
    }

    #[test]
    fn french_and_english_forms_meet() {
        assert!(matches("Nous mangeons à midi", "manger"));
        assert!(matches("Nous avons mangé", "manger"));
        assert!(matches("Il faut manger", "mange"));
        assert!(matches("commençons", "commencer"));
        assert!(!matches("mais non", "maisons"));
        assert!(matches("I run every day", "running"));
        assert!(matches("She was running late", "run"));
        assert!(matches("les réunions du lundi", "réunion"));
    }

    #[test]
    fn accents_and_case_do_not_matter() {
        assert!(matches("L'École est fermée", "ecole"));
        assert!(matches("l'ecole est fermee", "école"));
        assert!(matches("Un cœur", "coeur"));
        assert!(matches("ÉTÉ", "été"));
    }

    #[test]
    fn every_query_word_must_match() {
        assert!(matches(
            "le rapport annuel du ministère",
            "rapport ministere"
        ));
        assert!(!matches("le rapport annuel", "rapport ministere"));
        assert!(!matches("anything", "!!!"));
    }

    #[test]
    fn terms_are_plain_and_bounded() {
        let long = "x".repeat(MAX_WORD_CHARS + 1);
        assert_eq!(index_terms(&long), None);
        assert_eq!(index_terms("a\0b"), Some("a b".into()));
        let terms = index_terms("Don't stop: l'état, 2024!").unwrap();
        assert!(
            terms
                .split(' ')
                .all(|t| !t.is_empty() && t.chars().all(char::is_alphanumeric)),
            "{terms}"
        );
        let words = "mot ".repeat(100);
        assert_eq!(query_terms(&words).len(), 1, "repeats count once");
    }

    #[test]
    fn searchable_keys_and_highlights() {
        let content = serde_json::json!({"body": "bonjour", "name": "x"});
        assert_eq!(searchable_text("m.room.message", &content), Some("bonjour"));
        assert_eq!(searchable_text("m.room.encrypted", &content), None);
        assert_eq!(type_for_key("content.topic"), Some("m.room.topic"));
        assert_eq!(type_for_key("content.other"), None);
        let hits = matched_words("Nous Mangeons des pommes", &query_terms("manger"));
        assert_eq!(hits.into_iter().collect::<Vec<_>>(), ["mangeons"]);
    }
}
