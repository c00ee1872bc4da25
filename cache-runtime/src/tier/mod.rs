//! The tiers: the in-process one and the remote one. Neither knows the other, nor the
//! order in which they are tried: that is `cache/`'s.

pub(crate) mod local;
mod map_key;
pub(crate) mod remote;
mod slot;
