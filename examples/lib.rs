//! placeholder lib so the examples package builds; examples live beside it.
