//! [`analyze`]: every measure of a post, the advice they lead to, and one score.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::lexicon::CALLS_TO_ACTION;
use super::measures::{
    EmojiStats, Keyword, LengthAdvice, Readability, Sentiment, emoji_stats, keywords,
    length_advice, readability, repetition, sentiment,
};
use super::text::{Token, count_sentences, dedup, ratio, tokenize};

/// The result of [`analyze`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ContentAnalysis {
    /// Counts.
    pub stats: TextStats,
    /// Flesch scores.
    pub readability: Readability,
    /// Lexicon sentiment.
    pub sentiment: Sentiment,
    /// Hashtags in order of appearance (lower case, deduplicated).
    pub hashtags: Vec<String>,
    /// `@mentions` in order of appearance (deduplicated).
    pub mentions: Vec<String>,
    /// Number of links.
    pub links: usize,
    /// Emoji use.
    pub emoji: EmojiStats,
    /// The most frequent content words.
    pub keywords: Vec<Keyword>,
    /// Share of three-word sequences that occur more than once (0..=1).
    pub repetition: f64,
    /// Length category and advice.
    pub length: LengthAdvice,
    /// Whether the post asks its readers to do something.
    pub has_call_to_action: bool,
    /// Concrete advice, most important first.
    pub advice: Vec<String>,
    /// Overall quality score, 0..=100.
    pub score: u32,
}

/// Basic counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TextStats {
    /// Unicode scalar values.
    pub characters: usize,
    /// Words (hashtags, mentions and links excluded).
    pub words: usize,
    /// Sentences.
    pub sentences: usize,
    /// Paragraphs (blocks separated by blank lines).
    pub paragraphs: usize,
    /// Distinct words divided by words.
    pub lexical_diversity: f64,
}

/// Analyses `text`. Deterministic: the same text always gives the same analysis.
pub fn analyze(text: &str) -> ContentAnalysis {
    let tokens = tokenize(text);
    let words: Vec<String> = tokens
        .iter()
        .filter_map(|t| match t {
            Token::Word(w) => Some(w.clone()),
            _ => None,
        })
        .collect();
    let hashtags = dedup(tokens.iter().filter_map(|t| match t {
        Token::Hashtag(h) => Some(h.clone()),
        _ => None,
    }));
    let mentions = dedup(tokens.iter().filter_map(|t| match t {
        Token::Mention(m) => Some(m.clone()),
        _ => None,
    }));
    let links = tokens.iter().filter(|t| matches!(t, Token::Link)).count();

    let sentences = count_sentences(text, words.len());
    let paragraphs = text.split("\n\n").filter(|p| !p.trim().is_empty()).count();
    let distinct: HashSet<&str> = words.iter().map(String::as_str).collect();
    let stats = TextStats {
        characters: text.chars().count(),
        words: words.len(),
        sentences,
        paragraphs,
        lexical_diversity: ratio(distinct.len(), words.len()),
    };
    let readability = readability(&words, sentences);
    let sentiment = sentiment(&words);
    let emoji = emoji_stats(text);
    let keywords = keywords(&words);
    let repetition = repetition(&words);
    let length = length_advice(stats.characters);
    let has_call_to_action =
        text.contains('?') || words.iter().any(|w| CALLS_TO_ACTION.contains(&w.as_str()));

    let mut analysis = ContentAnalysis {
        stats,
        readability,
        sentiment,
        hashtags,
        mentions,
        links,
        emoji,
        keywords,
        repetition,
        length,
        has_call_to_action,
        advice: Vec::new(),
        score: 0,
    };
    analysis.advice = advice(&analysis);
    analysis.score = score(&analysis);
    analysis
}

fn advice(a: &ContentAnalysis) -> Vec<String> {
    let mut out = Vec::new();
    if a.length.category != "optimal" {
        out.push(a.length.advice.clone());
    }
    if a.stats.words > 0 && a.readability.flesch_reading_ease < 50.0 {
        out.push(format!(
            "Readability is {}: use shorter sentences (now {:.1} words on average) and simpler words.",
            a.readability.label, a.readability.avg_words_per_sentence
        ));
    }
    match a.hashtags.len() {
        0 => out.push("Add one to three relevant hashtags to be discovered in search.".into()),
        n if n > 5 => out.push(format!("{n} hashtags look like spam: keep the best three.")),
        _ => {}
    }
    if !a.has_call_to_action {
        out.push("End with a question or a call to action to invite replies.".into());
    }
    if a.emoji.count == 0 {
        out.push("One well-placed emoji makes a post stand out in the feed.".into());
    } else if a.emoji.count > 6 {
        out.push("Fewer emoji would make the post easier to read.".into());
    }
    if a.sentiment.label == "negative" {
        out.push(
            "The tone reads negative: posts with a constructive angle are shared more.".into(),
        );
    }
    if a.repetition > 0.15 {
        out.push("Several phrases repeat: tighten the wording.".into());
    }
    if a.links > 2 {
        out.push("More than two links dilute attention: keep the one that matters.".into());
    }
    out
}

fn score(a: &ContentAnalysis) -> u32 {
    if a.stats.words == 0 {
        return 0;
    }
    let mut score = 100.0;
    score -= match a.length.category.as_str() {
        "optimal" => 0.0,
        "short" | "long" => 10.0,
        _ => 25.0,
    };
    score -= ((60.0 - a.readability.flesch_reading_ease).max(0.0) * 0.4).min(20.0);
    score -= match a.hashtags.len() {
        0 => 10.0,
        1..=3 => 0.0,
        4..=5 => 3.0,
        _ => 12.0,
    };
    if !a.has_call_to_action {
        score -= 10.0;
    }
    if a.emoji.count == 0 || a.emoji.count > 6 {
        score -= 5.0;
    }
    if a.sentiment.label == "negative" {
        score -= 8.0;
    }
    score -= (a.repetition * 40.0).min(15.0);
    score.clamp(0.0, 100.0).round() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_entities() {
        let a = analyze(
            "Big news today: our new release is faster! 🚀 Tell us what you think? #Rust #rust @ferris https://example.com",
        );
        assert_eq!(a.hashtags, ["#rust"]);
        assert_eq!(a.mentions, ["@ferris"]);
        assert_eq!(a.links, 1);
        assert_eq!(a.emoji.count, 1);
        assert_eq!(a.stats.sentences, 2);
        assert!(a.has_call_to_action);
        assert_eq!(a.sentiment.label, "positive");
    }

    #[test]
    fn negation_flips_sentiment() {
        assert_eq!(analyze("This is good.").sentiment.label, "positive");
        assert_eq!(
            analyze("This is not good at all.").sentiment.label,
            "negative"
        );
        assert_eq!(
            analyze("Terrible, slow and buggy.").sentiment.label,
            "negative"
        );
    }

    #[test]
    fn readability_orders_easy_before_hard() {
        let easy = analyze("The cat sat. The dog ran. We had fun.");
        let hard = analyze(
            "Notwithstanding considerable organizational complexity, the interdisciplinary \
             collaboration demonstrated extraordinarily sophisticated methodological innovation.",
        );
        assert!(easy.readability.flesch_reading_ease > hard.readability.flesch_reading_ease);
        assert_eq!(hard.readability.label, "very difficult");
    }

    #[test]
    fn deterministic_and_advises() {
        let text = "short";
        assert_eq!(analyze(text), analyze(text));
        let a = analyze(text);
        assert_eq!(a.length.category, "too_short");
        assert!(a.advice.len() >= 3);
        assert!(a.score < 70);
    }
}
