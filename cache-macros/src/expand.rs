//! Stage 4, expand: generate the wrapper around the function's body.
//!
//! The generated code holds no caching or timing logic. It builds a static description
//! of the call site, hands the runtime the key and a closure that runs the original
//! body, and returns what the runtime returns. It names the runtime only through
//! [`Private`](crate::private::Private), and its own locals use mixed-site spans so that they can never shadow or
//! be shadowed by the user's names.
//!
//! One file per job: [`batch`](mod@batch) writes `#[cache_batch]`'s wrapper and companion; [`cached`] and [`refresh`] write the two wrappers of a cached
//! function, [`entry`](mod@entry) its companion `<fn>_entry`, [`timer`](mod@timer) the wrapper of a timed one;
//! [`site`], [`key`] and [`value`] write the pieces the cache wrappers share (the site
//! static, the key with its bound checks, the adapter with its bound check), and [`body`]
//! the function around them, with the original body inside.

mod batch;
mod body;
mod cached;
mod entry;
mod key;
mod refresh;
mod site;
mod timer;
mod value;

pub(crate) use batch::{batch, batch_entry};
pub(crate) use body::{async_block, function, local, return_type, sync_closure};
pub(crate) use cached::cache_plain;
pub(crate) use entry::entry_fn;
pub(crate) use key::key_uses_self;
pub(crate) use refresh::cache_refresh_ahead;
pub(crate) use timer::timer;
pub(crate) use value::kind_adapter;
