//! The tiers: the in-process one and the remote one. Neither knows the other, nor the
//! order in which they are tried: that is `cache/`'s.

pub(crate) mod local;
pub(crate) mod remote;
