use axum::extract::State;
use cache_runtime::CachedJson;

use crate::AppState;
use crate::error::ApiError;
use crate::routes::extract::CurrentUser;
use crate::services::channels::{self, UserChannels};

pub(super) async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<CachedJson<UserChannels>, ApiError> {
    channels::user_channels(&state.db, &user).await
}
