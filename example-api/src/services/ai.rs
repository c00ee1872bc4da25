//! AI content analysis and optimisation. The analysis is deterministic and CPU-bound, so
//! it runs on the blocking pool and is cached by the text it analysed.

use serde::{Deserialize, Serialize};

use crate::db::Db;
use crate::error::ApiError;
use crate::services::analytics::{self, SlotScore};
use crate::services::analyzer::{self, ContentAnalysis, Goal, Suggestion};

/// Longest text accepted, in characters (Unicode scalar values, as JSON Schema's
/// `maxLength` counts them).
pub const MAX_TEXT_CHARS: usize = 64 * 1024;

/// A post's text, checked before any work: not blank, at most [`MAX_TEXT_CHARS`]
/// characters. It is the cache key of the analysis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct PostText(String);

impl PostText {
    /// `400` for blank text (only whitespace), `413` for text over the limit.
    pub fn new(text: String) -> Result<Self, ApiError> {
        if text.trim().is_empty() {
            return Err(ApiError::BadRequest("`text` must not be blank".into()));
        }
        let chars = text.chars().count();
        if chars > MAX_TEXT_CHARS {
            return Err(ApiError::PayloadTooLarge(format!(
                "`text` is {chars} characters; the limit is {MAX_TEXT_CHARS}"
            )));
        }
        Ok(Self(text))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Analyses a post: readability, sentiment, hashtags, emoji, keywords, length and
/// posting advice.
#[cache_runtime::performance_timer("ai_content_optimization", slow = "200ms")]
#[cache_runtime::cache_result("ai_content_analysis", ttl = 900)]
pub async fn analyze(text: PostText) -> Result<ContentAnalysis, ApiError> {
    tokio::task::spawn_blocking(move || analyzer::analyze(text.as_str()))
        .await
        .map_err(|e| ApiError::Internal(format!("analysis task failed: {e}")))
}

/// Suggestions to improve a post.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Optimization {
    /// What the suggestions favour.
    pub goal: Goal,
    /// Score of the text as sent.
    pub score_before: u32,
    /// Score of `optimized_text`.
    pub score_after: u32,
    /// Improvements, most important first.
    pub suggestions: Vec<Suggestion>,
    /// Hashtags derived from the post's keywords.
    pub suggested_hashtags: Vec<String>,
    /// The text with the mechanical fixes applied (whitespace, call to action,
    /// hashtags).
    pub optimized_text: String,
    /// The best weekday-and-hour slots to publish, from the channel analytics.
    pub best_posting_times: Vec<SlotScore>,
    /// The full analysis of the text as sent.
    pub analysis: ContentAnalysis,
}

/// Builds suggestions on the (cached) analysis of the text and of its optimised version,
/// and on the (cached) best posting times.
#[cache_runtime::performance_timer("ai_post_optimization", slow = "300ms")]
pub async fn optimize(db: &Db, text: PostText, goal: Goal) -> Result<Optimization, ApiError> {
    let analysis = analyze(text.clone()).await?;
    let (suggestions, suggested_hashtags, optimized_text) =
        analyzer::suggestions(text.as_str(), &analysis, goal);
    let score_after = match PostText::new(optimized_text.clone()) {
        Ok(optimized) => analyze(optimized).await?.score,
        Err(_) => analysis.score,
    };
    let best_posting_times = analytics::best_times(db)
        .await?
        .decode()
        .map_err(|e| ApiError::Internal(format!("reading the cached best times: {e}")))?
        .best_slots
        .into_iter()
        .take(3)
        .collect();
    Ok(Optimization {
        goal,
        score_before: analysis.score,
        score_after,
        suggestions,
        suggested_hashtags,
        optimized_text,
        best_posting_times,
        analysis,
    })
}
