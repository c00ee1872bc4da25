//! The tiers: the in-process one, the disk one and the remote one. None knows the others,
//! nor the order in which they are tried: that is `cache/`'s.

pub(crate) mod disk;
pub(crate) mod local;
mod map_key;
pub(crate) mod remote;
mod slot;
