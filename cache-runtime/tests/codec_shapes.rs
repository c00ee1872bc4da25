//! The serde shapes of API values that a non-self-describing format (bincode, postcard)
//! cannot decode, through the codecs the runtime offers: the default MessagePack codec
//! round-trips every one; the opt-in postcard codec fails with an error, never a panic
//! or a wrong value. The README's "Why not moka, why not bincode" rests on this.

use cache_runtime::codec::{Codec, MessagePack};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Paging {
    page: u32,
    per_page: u32,
}

/// `#[serde(flatten)]`: the paging fields sit beside the others in one map.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Listing {
    total: u64,
    #[serde(flatten)]
    paging: Paging,
}

/// An untagged enum: decoded by trying each variant against the value's own type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
enum Id {
    Number(u64),
    Slug(String),
}

/// A field left out when empty.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Profile {
    #[serde(skip_serializing_if = "Option::is_none")]
    nick: Option<String>,
    id: Id,
}

fn listing() -> Listing {
    Listing {
        total: 42,
        paging: Paging {
            page: 2,
            per_page: 20,
        },
    }
}

fn profiles() -> Vec<Profile> {
    vec![
        Profile {
            nick: None,
            id: Id::Number(7),
        },
        Profile {
            nick: Some("ann".into()),
            id: Id::Slug("ann-b".into()),
        },
    ]
}

#[test]
fn messagepack_round_trips_flatten_untagged_and_skipped_fields() {
    let bytes = MessagePack.encode(&listing()).expect("encodes");
    assert_eq!(MessagePack.decode::<Listing>(&bytes), Ok(listing()));
    let bytes = MessagePack.encode(&profiles()).expect("encodes");
    assert_eq!(MessagePack.decode::<Vec<Profile>>(&bytes), Ok(profiles()));
}

#[cfg(feature = "postcard")]
#[test]
fn postcard_cannot_decode_flatten_or_untagged_enums() {
    use cache_runtime::codec::Postcard;
    // Encoding may succeed or fail; a successful encoding never decodes back.
    let listing = Postcard
        .encode(&listing())
        .map(|b| Postcard.decode::<Listing>(&b));
    assert!(!matches!(listing, Ok(Ok(_))), "{listing:?}");
    let profiles = Postcard
        .encode(&profiles())
        .map(|b| Postcard.decode::<Vec<Profile>>(&b));
    assert!(!matches!(profiles, Ok(Ok(_))), "{profiles:?}");
}
