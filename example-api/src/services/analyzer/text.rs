//! Splitting a post into words, hashtags, mentions and links; counting sentences and
//! syllables; the small numeric helpers every measure shares.

use std::collections::HashSet;

#[derive(Debug)]
pub(super) enum Token {
    Word(String),
    Hashtag(String),
    Mention(String),
    Link,
}

pub(super) fn tokenize(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    for raw in text.split_whitespace() {
        if is_link(raw) {
            out.push(Token::Link);
            continue;
        }
        let trimmed = raw.trim_matches(|c: char| !c.is_alphanumeric() && c != '#' && c != '@');
        if let Some(tag) = trimmed.strip_prefix('#') {
            let tag = handle(tag);
            if !tag.is_empty() {
                out.push(Token::Hashtag(format!("#{}", tag.to_lowercase())));
            }
            continue;
        }
        if let Some(name) = trimmed.strip_prefix('@') {
            let name = handle(name);
            if !name.is_empty() {
                out.push(Token::Mention(format!("@{name}")));
            }
            continue;
        }
        for part in raw.split(|c: char| !c.is_alphanumeric() && c != '\'' && c != '’') {
            let word = part
                .trim_matches(|c| c == '\'' || c == '’')
                .replace('’', "'");
            if word.chars().any(char::is_alphabetic) {
                out.push(Token::Word(word.to_lowercase()));
            }
        }
    }
    out
}

/// Whether a whitespace-separated piece of text is a link.
fn is_link(raw: &str) -> bool {
    raw.starts_with("http://") || raw.starts_with("https://") || raw.starts_with("www.")
}

/// The name after a `#` or `@`: letters, digits and `_`, up to the first other character.
fn handle(rest: &str) -> &str {
    let end = rest
        .find(|c: char| !c.is_alphanumeric() && c != '_')
        .unwrap_or(rest.len());
    &rest[..end]
}

pub(super) fn dedup(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen = HashSet::new();
    items.filter(|i| seen.insert(i.clone())).collect()
}

pub(super) fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        round2(a as f64 / b as f64)
    }
}

pub(super) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Sentences end at `.`, `!`, `?` or `…` closing a word, or at a line break; hashtags,
/// mentions and links do not start a sentence of their own.
pub(super) fn count_sentences(text: &str, words: usize) -> usize {
    let mut count = 0;
    for line in text.lines() {
        let mut open = false;
        for raw in line.split_whitespace() {
            let is_entity = raw.starts_with('#') || raw.starts_with('@') || is_link(raw);
            if !is_entity && raw.chars().any(char::is_alphanumeric) {
                open = true;
            }
            let end = raw.trim_end_matches(['"', '\'', '’', '”', ')', ']']);
            if open && end.ends_with(['.', '!', '?', '…']) {
                count += 1;
                open = false;
            }
        }
        if open {
            count += 1;
        }
    }
    if words == 0 { 0 } else { count.clamp(1, words) }
}

/// Vowel groups, minus a silent final `e`; at least one.
pub(super) fn syllables(word: &str) -> usize {
    let chars: Vec<char> = word.chars().filter(|c| c.is_alphabetic()).collect();
    let vowel = |c: char| matches!(c, 'a' | 'e' | 'i' | 'o' | 'u' | 'y');
    let mut count = 0;
    let mut previous = false;
    for &c in &chars {
        let v = vowel(c);
        if v && !previous {
            count += 1;
        }
        previous = v;
    }
    let n = chars.len();
    if n > 2 && chars[n - 1] == 'e' && !vowel(chars[n - 2]) && chars[n - 2] != 'l' && count > 1 {
        count -= 1;
    }
    count.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handle_ends_at_the_first_other_character() {
        assert_eq!(handle("rust_lang!now"), "rust_lang");
        assert_eq!(handle("Café2024."), "Café2024");
        assert_eq!(handle("!"), "");
        assert!(is_link("https://example.com") && is_link("www.example.com"));
        assert!(!is_link("#http"));
    }

    #[test]
    fn syllable_heuristic() {
        assert_eq!(syllables("cat"), 1);
        assert_eq!(syllables("make"), 1);
        assert_eq!(syllables("table"), 2);
        assert_eq!(syllables("readability"), 5);
    }
}
