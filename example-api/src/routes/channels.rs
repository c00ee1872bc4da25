use axum::extract::State;
use cache_runtime::CachedJson;

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::routes::extract::CurrentUser;
use crate::services::channels::{self, UserChannels};

/// The calling user's channels. Cache `user_channels`, 300 s, keyed by user; served
/// `private` with `Vary: Authorization`. Demo tokens are printed at start-up. Cached HTTP answer: `ETag`/304, `Cache-Control: max-age` = TTL left, gzip/brotli variants, `X-Cache`, `X-Cache-Tier`.
#[utoipa::path(get, path = "/channels", tag = "channels", summary = "The calling user's channels",
    security(("bearer" = [])),
    responses((status = 200, description = "Channels", body = UserChannels),
        (status = 401, description = "Missing or bad token", body = ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<CachedJson<UserChannels>, ApiError> {
    channels::user_channels(&state.db, &user).await
}
