//! Deterministic content analysis of a social-media post: readability, lexicon-based
//! sentiment, hashtags, mentions, emoji, keywords, repetition, and length and posting
//! advice. Pure functions, no I/O: the service layer caches and times them.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

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

static POSITIVE: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    [
        "amazing",
        "awesome",
        "beautiful",
        "best",
        "better",
        "brilliant",
        "celebrate",
        "clean",
        "congratulations",
        "cool",
        "delight",
        "delightful",
        "easy",
        "easier",
        "effective",
        "efficient",
        "enjoy",
        "excellent",
        "excited",
        "exciting",
        "fantastic",
        "fast",
        "faster",
        "favorite",
        "fun",
        "glad",
        "good",
        "great",
        "happy",
        "helpful",
        "honest",
        "huge",
        "impressive",
        "improve",
        "improved",
        "incredible",
        "inspiring",
        "love",
        "loved",
        "lovely",
        "nice",
        "perfect",
        "pleasant",
        "powerful",
        "practical",
        "proud",
        "recommend",
        "reliable",
        "safe",
        "simple",
        "simpler",
        "smart",
        "smooth",
        "solid",
        "strong",
        "success",
        "successful",
        "superb",
        "thank",
        "thanks",
        "useful",
        "win",
        "winner",
        "wonderful",
        "wow",
    ]
    .into_iter()
    .collect()
});

static NEGATIVE: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    [
        "angry",
        "annoying",
        "awful",
        "bad",
        "boring",
        "broken",
        "bug",
        "buggy",
        "confusing",
        "crash",
        "crashed",
        "difficult",
        "disappointed",
        "disappointing",
        "disaster",
        "fail",
        "failed",
        "failure",
        "fake",
        "fear",
        "hard",
        "hate",
        "horrible",
        "hurt",
        "issue",
        "lose",
        "loss",
        "mess",
        "mistake",
        "negative",
        "poor",
        "problem",
        "risk",
        "risky",
        "sad",
        "scam",
        "slow",
        "slower",
        "terrible",
        "ugly",
        "unfortunately",
        "unhappy",
        "useless",
        "waste",
        "worse",
        "worst",
        "wrong",
    ]
    .into_iter()
    .collect()
});

const NEGATIONS: [&str; 10] = [
    "not", "no", "never", "don't", "doesn't", "isn't", "wasn't", "can't", "won't", "without",
];
const INTENSIFIERS: [&str; 6] = ["very", "really", "so", "extremely", "super", "incredibly"];

static STOPWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    [
        "a", "about", "after", "all", "also", "an", "and", "any", "are", "as", "at", "be",
        "because", "been", "before", "but", "by", "can", "could", "did", "do", "does", "for",
        "from", "had", "has", "have", "he", "her", "here", "him", "his", "how", "i", "if", "in",
        "into", "is", "it", "its", "it's", "just", "like", "me", "more", "most", "my", "no", "not",
        "now", "of", "on", "one", "or", "our", "out", "over", "she", "so", "some", "than", "that",
        "the", "their", "them", "then", "there", "these", "they", "this", "those", "to", "too",
        "up", "us", "very", "was", "we", "were", "what", "when", "where", "which", "who", "why",
        "will", "with", "would", "you", "your", "you're",
    ]
    .into_iter()
    .collect()
});

const CALLS_TO_ACTION: [&str; 12] = [
    "comment",
    "comments",
    "share",
    "subscribe",
    "follow",
    "join",
    "click",
    "link",
    "read",
    "watch",
    "tell",
    "save",
];

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

#[derive(Debug)]
enum Token {
    Word(String),
    Hashtag(String),
    Mention(String),
    Link,
}

fn tokenize(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    for raw in text.split_whitespace() {
        if raw.starts_with("http://") || raw.starts_with("https://") || raw.starts_with("www.") {
            out.push(Token::Link);
            continue;
        }
        let trimmed = raw.trim_matches(|c: char| !c.is_alphanumeric() && c != '#' && c != '@');
        if let Some(tag) = trimmed.strip_prefix('#') {
            let tag: String = tag
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !tag.is_empty() {
                out.push(Token::Hashtag(format!("#{}", tag.to_lowercase())));
            }
            continue;
        }
        if let Some(name) = trimmed.strip_prefix('@') {
            let name: String = name
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
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

fn dedup(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen = HashSet::new();
    items.filter(|i| seen.insert(i.clone())).collect()
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        round2(a as f64 / b as f64)
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Sentences end at `.`, `!`, `?` or `…` closing a word, or at a line break; hashtags,
/// mentions and links do not start a sentence of their own.
fn count_sentences(text: &str, words: usize) -> usize {
    let mut count = 0;
    for line in text.lines() {
        let mut open = false;
        for raw in line.split_whitespace() {
            let is_entity = raw.starts_with('#')
                || raw.starts_with('@')
                || raw.starts_with("http://")
                || raw.starts_with("https://")
                || raw.starts_with("www.");
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
fn syllables(word: &str) -> usize {
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

fn readability(words: &[String], sentences: usize) -> Readability {
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

fn sentiment(words: &[String]) -> Sentiment {
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

fn is_emoji(c: char) -> bool {
    matches!(c as u32,
        0x1F300..=0x1F5FF | 0x1F600..=0x1F64F | 0x1F680..=0x1F6FF | 0x1F900..=0x1F9FF
        | 0x1FA70..=0x1FAFF | 0x2600..=0x26FF | 0x2700..=0x27BF | 0x1F1E6..=0x1F1FF
        | 0x2B50 | 0x2B55 | 0x231A..=0x231B | 0x23E9..=0x23FA)
}

fn emoji_stats(text: &str) -> EmojiStats {
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

fn keywords(words: &[String]) -> Vec<Keyword> {
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

fn repetition(words: &[String]) -> f64 {
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

fn length_advice(chars: usize) -> LengthAdvice {
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

/// What an optimisation should favour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Goal {
    /// Replies, reactions and shares.
    #[default]
    Engagement,
    /// Being found and shown to new readers.
    Reach,
    /// Being understood quickly.
    Clarity,
}

/// One improvement, with its priority (1 = most important).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Suggestion {
    /// Area: `length`, `readability`, `hashtags`, `call_to_action`, `emoji`, `tone`, ...
    pub area: String,
    /// 1 (most important) ..= 3.
    pub priority: u8,
    /// What to do.
    pub message: String,
}

/// Suggestions for `text` from its analysis, ordered by priority for the goal, plus
/// hashtags derived from its keywords and a mechanically tidied version of the text.
pub fn suggestions(
    text: &str,
    a: &ContentAnalysis,
    goal: Goal,
) -> (Vec<Suggestion>, Vec<String>, String) {
    let mut list = Vec::new();
    let mut add = |area: &str, base: u8, message: String| {
        let boost = match (goal, area) {
            (Goal::Engagement, "call_to_action" | "tone" | "emoji") => 1,
            (Goal::Reach, "hashtags" | "length") => 1,
            (Goal::Clarity, "readability" | "repetition" | "length") => 1,
            _ => 0,
        };
        list.push(Suggestion {
            area: area.into(),
            priority: base.saturating_sub(boost).max(1),
            message,
        });
    };
    if a.length.category != "optimal" {
        add("length", 2, a.length.advice.clone());
    }
    if a.readability.flesch_reading_ease < 60.0 && a.stats.words > 0 {
        add(
            "readability",
            2,
            format!(
                "Aim for a reading ease above 60 (now {:.0}): split long sentences.",
                a.readability.flesch_reading_ease
            ),
        );
    }
    let hashtag_suggestions: Vec<String> = a
        .keywords
        .iter()
        .map(|k| format!("#{}", k.word.replace('\'', "")))
        .filter(|h| !a.hashtags.contains(h))
        .take(3usize.saturating_sub(a.hashtags.len()))
        .collect();
    if a.hashtags.is_empty() {
        add(
            "hashtags",
            2,
            "Add hashtags so the post can be found.".into(),
        );
    } else if a.hashtags.len() > 5 {
        add("hashtags", 2, "Keep at most three hashtags.".into());
    }
    if !a.has_call_to_action {
        add(
            "call_to_action",
            2,
            "Finish with a question (\"What do you think?\") to invite replies.".into(),
        );
    }
    if a.emoji.count == 0 {
        add(
            "emoji",
            3,
            "Add one emoji near the start to catch the eye.".into(),
        );
    } else if a.emoji.count > 6 {
        add("emoji", 3, "Remove most emoji; keep one or two.".into());
    }
    if a.sentiment.label == "negative" {
        add(
            "tone",
            2,
            "Reframe constructively: say what helps, not only what is wrong.".into(),
        );
    }
    if a.repetition > 0.15 {
        add("repetition", 3, "Remove repeated phrases.".into());
    }
    list.sort_by(|x, y| {
        x.priority
            .cmp(&y.priority)
            .then_with(|| x.area.cmp(&y.area))
    });

    let mut optimized = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if !a.has_call_to_action {
        optimized.push_str(" What do you think?");
    }
    for tag in &hashtag_suggestions {
        optimized.push(' ');
        optimized.push_str(tag);
    }
    (list, hashtag_suggestions, optimized)
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

    #[test]
    fn syllable_heuristic() {
        assert_eq!(syllables("cat"), 1);
        assert_eq!(syllables("make"), 1);
        assert_eq!(syllables("table"), 2);
        assert_eq!(syllables("readability"), 5);
    }

    #[test]
    fn optimize_adds_call_to_action_and_hashtags() {
        let text = "Rust compiles   fast code. Rust code is safe.";
        let a = analyze(text);
        let (list, tags, optimized) = suggestions(text, &a, Goal::Reach);
        assert!(list.iter().any(|s| s.area == "hashtags" && s.priority == 1));
        assert!(tags.contains(&"#rust".to_owned()));
        assert!(optimized.starts_with("Rust compiles fast code."));
        assert!(optimized.contains("What do you think?"));
    }
}
