//! [`suggestions`]: what to improve in a post for a [`Goal`], most important first.

use serde::{Deserialize, Serialize};

use super::analysis::ContentAnalysis;

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
    use crate::services::analyzer::analyze;

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
