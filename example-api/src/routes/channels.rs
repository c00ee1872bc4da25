use axum::Json;
use axum::extract::State;

use crate::AppState;
use crate::error::ApiError;
use crate::routes::extract::CurrentUser;
use crate::services::channels::{self, UserChannels};

pub(super) async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<UserChannels>, ApiError> {
    channels::user_channels(&state.db, &user).await.map(Json)
}
