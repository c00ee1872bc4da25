//! One measure each: readability, sentiment, emoji, keywords, repetition and length.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::lexicon::{INTENSIFIERS, NEGATIONS, NEGATIVE, POSITIVE, STOPWORDS};
use super::text::{dedup, ratio, round2, syllables};

/// Flesch reading ease and grade level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Readability {
    /// 0 (very hard) ..= 100 (very easy), clamped.
    pub flesch_reading_ease: f64,
    /// US school grade.
    pub flesch_kincaid_grade: f64,
    /// Average sentence length.
    pub avg_words_per_sentence: f64,
    /// Average syllables per word.
    pub avg_syllables_per_word: f64,
    /// `very easy` ... `very difficult`.
    pub label: String,
}

/// Sentiment from a word lexicon, with negation and intensifiers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Sentiment {
    /// -1 (negative) ..= 1 (positive).
    pub score: f64,
    /// `positive`, `neutral` or `negative`.
    pub label: String,
    /// Positive words found (deduplicated).
    pub positive_words: Vec<String>,
    /// Negative words found (deduplicated).
    pub negative_words: Vec<String>,
}

/// Emoji use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EmojiStats {
    /// Emoji characters.
    pub count: usize,
    /// Distinct emoji in order of appearance.
    pub distinct: Vec<String>,
}

/// A frequent content word.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Keyword {
    /// The word, lower case.
    pub word: String,
    /// Occurrences.
    pub count: usize,
}

/// Length of the post against what performs well.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LengthAdvice {
    /// `too_short`, `optimal`, `long` or `too_long`.
    pub category: String,
    /// The character range that performs best.
    pub ideal_characters: [usize; 2],
    /// One sentence of advice.
    pub advice: String,
}

const IDEAL: [usize; 2] = [80, 280];

pub(super) fn readability(words: &[String], sentences: usize) -> Readability {
    if words.is_empty() {
        return Readability {
            flesch_reading_ease: 0.0,
            flesch_kincaid_grade: 0.0,
            avg_words_per_sentence: 0.0,
            avg_syllables_per_word: 0.0,
            label: "n/a".into(),
        };
    }
    let total_syllables: usize = words.iter().map(|w| syllables(w)).sum();
    let wps = words.len() as f64 / sentences.max(1) as f64;
    let spw = total_syllables as f64 / words.len() as f64;
    let ease = (206.835 - 1.015 * wps - 84.6 * spw).clamp(0.0, 100.0);
    let grade = (0.39 * wps + 11.8 * spw - 15.59).max(0.0);
    let label = match ease {
        e if e >= 80.0 => "very easy",
        e if e >= 60.0 => "easy",
        e if e >= 50.0 => "fairly difficult",
        e if e >= 30.0 => "difficult",
        _ => "very difficult",
    };
    Readability {
        flesch_reading_ease: round2(ease),
        flesch_kincaid_grade: round2(grade),
        avg_words_per_sentence: round2(wps),
        avg_syllables_per_word: round2(spw),
        label: label.into(),
    }
}

pub(super) fn sentiment(words: &[String]) -> Sentiment {
    let mut sum: f64 = 0.0;
    let mut positive = Vec::new();
    let mut negative = Vec::new();
    for (i, word) in words.iter().enumerate() {
        let base = if POSITIVE.contains(word.as_str()) {
            1.0
        } else if NEGATIVE.contains(word.as_str()) {
            -1.0
        } else {
            continue;
        };
        let before = &words[i.saturating_sub(3)..i];
        let negated = before.iter().any(|w| NEGATIONS.contains(&w.as_str()));
        let intensified = i > 0 && INTENSIFIERS.contains(&words[i - 1].as_str());
        let mut value = if negated { -0.75 * base } else { base };
        if intensified {
            value *= 1.5;
        }
        if value > 0.0 {
            positive.push(word.clone());
        } else {
            negative.push(word.clone());
        }
        sum += value;
    }
    // VADER-style normalisation into -1..=1.
    let score = round2(sum / (sum * sum + 15.0).sqrt());
    let label = if score >= 0.05 {
        "positive"
    } else if score <= -0.05 {
        "negative"
    } else {
        "neutral"
    };
    Sentiment {
        score,
        label: label.into(),
        positive_words: dedup(positive.into_iter()),
        negative_words: dedup(negative.into_iter()),
    }
}

pub(super) fn is_emoji(c: char) -> bool {
    matches!(c as u32,
        0x1F300..=0x1F5FF | 0x1F600..=0x1F64F | 0x1F680..=0x1F6FF | 0x1F900..=0x1F9FF
        | 0x1FA70..=0x1FAFF | 0x2600..=0x26FF | 0x2700..=0x27BF | 0x1F1E6..=0x1F1FF
        | 0x2B50 | 0x2B55 | 0x231A..=0x231B | 0x23E9..=0x23FA)
}

pub(super) fn emoji_stats(text: &str) -> EmojiStats {
    let found: Vec<String> = text
        .chars()
        .filter(|c| is_emoji(*c))
        .map(String::from)
        .collect();
    EmojiStats {
        count: found.len(),
        distinct: dedup(found.into_iter()),
    }
}

pub(super) fn keywords(words: &[String]) -> Vec<Keyword> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for w in words {
        if w.chars().count() > 2 && !STOPWORDS.contains(w.as_str()) {
            *counts.entry(w.as_str()).or_default() += 1;
        }
    }
    let mut list: Vec<Keyword> = counts
        .into_iter()
        .map(|(word, count)| Keyword {
            word: word.to_owned(),
            count,
        })
        .collect();
    // Deterministic: by count, then alphabetically.
    list.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.word.cmp(&b.word)));
    list.truncate(10);
    list
}

pub(super) fn repetition(words: &[String]) -> f64 {
    if words.len() < 4 {
        return 0.0;
    }
    let mut seen: HashMap<[&str; 3], usize> = HashMap::new();
    for w in words.windows(3) {
        *seen.entry([&w[0], &w[1], &w[2]]).or_default() += 1;
    }
    let repeated: usize = seen.values().filter(|n| **n > 1).map(|n| n - 1).sum();
    ratio(repeated, words.len() - 2)
}

pub(super) fn length_advice(chars: usize) -> LengthAdvice {
    let (category, advice) = if chars < 40 {
        (
            "too_short",
            "Add context: posts of 80 to 280 characters get the most engagement.",
        )
    } else if chars < IDEAL[0] {
        (
            "short",
            "A sentence more of context would help readers engage.",
        )
    } else if chars <= IDEAL[1] {
        ("optimal", "The length is in the range that performs best.")
    } else if chars <= 1000 {
        (
            "long",
            "Consider cutting to under 280 characters or splitting into a thread.",
        )
    } else {
        (
            "too_long",
            "Split this into a thread or link to a longer article.",
        )
    };
    LengthAdvice {
        category: category.into(),
        ideal_characters: IDEAL,
        advice: advice.into(),
    }
}
