//! The calling user's channels. The cache is keyed by the user, so one user's answer can
//! never be served to another.

use cache_runtime::CachedJson;
use serde::{Deserialize, Serialize};

use crate::db::{Channel, Db, User};
use crate::error::ApiError;

/// A user's channels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserChannels {
    /// The user's id.
    pub user_id: i64,
    /// The user's name.
    pub user: String,
    /// Their channels, by id.
    pub channels: Vec<Channel>,
    /// Subscribers over all their channels.
    pub total_subscribers: i64,
}

/// The user holding `token`, or `401`. Not cached: a revoked token must stop working at
/// once (the lookup is a timed, indexed query).
pub async fn authenticate(db: &Db, token: &str) -> Result<User, ApiError> {
    db.user_by_token(token).await?.ok_or(ApiError::Unauthorized)
}

/// The channels `user` owns, as the JSON body served (serialized once, with its ETag and
/// compressed variants; served `private` since the request carries the user's token).
#[cache_runtime::performance_timer("channels_list")]
#[cache_runtime::cache_result("user_channels", ttl = 300, key = user.id, tags = [format!("user:{}", user.id)])]
pub async fn user_channels(db: &Db, user: &User) -> Result<CachedJson<UserChannels>, ApiError> {
    let channels = db.channels_of_user(user.id).await?;
    let answer = UserChannels {
        user_id: user.id,
        user: user.name.clone(),
        total_subscribers: channels.iter().map(|c| c.subscribers).sum(),
        channels,
    };
    CachedJson::new(&answer).map_err(|e| ApiError::Internal(format!("serializing the answer: {e}")))
}
