//! The tiers: the in-process one, the disk one and the remote one. None knows the others,
//! nor the order in which they are tried: that is `cache/`'s.

pub(crate) mod disk;
pub(crate) mod local;
pub(crate) mod remote;
