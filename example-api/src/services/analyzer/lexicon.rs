//! The word lists: sentiment, negations and intensifiers, stop words, calls to action.

use std::collections::HashSet;
use std::sync::LazyLock;

pub(super) static POSITIVE: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
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

pub(super) static NEGATIVE: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
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

pub(super) const NEGATIONS: [&str; 10] = [
    "not", "no", "never", "don't", "doesn't", "isn't", "wasn't", "can't", "won't", "without",
];

pub(super) const INTENSIFIERS: [&str; 6] =
    ["very", "really", "so", "extremely", "super", "incredibly"];

pub(super) static STOPWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
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

pub(super) const CALLS_TO_ACTION: [&str; 12] = [
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
