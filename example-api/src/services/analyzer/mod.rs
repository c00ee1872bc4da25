//! Deterministic content analysis of a social-media post: readability, lexicon-based
//! sentiment, hashtags, mentions, emoji, keywords, repetition, and length and posting
//! advice. Pure functions, no I/O: the service layer (`services::ai`) caches and times
//! them.
//!
//! - `text`: splitting a post into words, hashtags, mentions and links; sentences and
//!   syllables.
//! - `lexicon`: the word lists (sentiment, stop words, calls to action).
//! - `measures`: one measure each: readability, sentiment, emoji, keywords, repetition,
//!   length.
//! - `analysis`: [`analyze`], which runs them all, with its advice and score.
//! - `suggest`: [`suggestions`] for a goal.

mod analysis;
mod lexicon;
mod measures;
mod suggest;
mod text;

pub use analysis::{ContentAnalysis, TextStats, analyze};
pub use measures::{EmojiStats, Keyword, LengthAdvice, Readability, Sentiment};
pub use suggest::{Goal, Suggestion, suggestions};
