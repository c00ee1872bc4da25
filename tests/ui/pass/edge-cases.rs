//! Less common shapes: typed and by-value receivers with `refresh_ahead`, destructured
//! parameters, `self::` paths and `Self`, inner attributes, trait impls, borrowed
//! returns under the timer, raw identifiers, `&mut` arguments.

#![allow(clippy::needless_pass_by_value)]

use std::sync::Arc;

use axum::extract::Path;
use cache_runtime::{cache_result, performance_timer};
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize, Debug, PartialEq)]
struct Point {
    x: i32,
    y: i32,
}

fn helper(n: i32) -> i32 {
    n + 1
}

#[derive(Clone)]
struct Service {
    base: i32,
}

impl Service {
    const SCALE: i32 = 10;

    #[cache_result("edge_arc_self", refresh_ahead = 0.8)]
    async fn arc_self(self: Arc<Self>, n: i32) -> i32 {
        self.base + n * Self::SCALE + self::helper(0)
    }

    #[cache_result("edge_value_self", refresh_ahead = 0.8)]
    fn value_self(mut self, n: i32) -> i32 {
        self.base += n;
        self.base
    }

    #[cache_result("edge_destructured", refresh_ahead = 0.8)]
    async fn destructured(
        &self,
        Path((a, b)): Path<(i32, i32)>,
        Point { x, y: mut z }: Point,
    ) -> Point {
        z += a;
        Point {
            x: x + b + self.base,
            y: z,
        }
    }

    #[performance_timer]
    fn label(&self) -> &str {
        "service"
    }
}

trait Area {
    fn area(&self, scale: u32) -> u32;
}

struct Square(u32);

impl Area for Square {
    // In a trait impl there is no room for the companion `area_entry`: `entry = false`.
    #[cache_result("edge_trait_impl", entry = false)]
    #[performance_timer]
    fn area(&self, scale: u32) -> u32 {
        self.0 * self.0 * scale
    }
}

#[cache_result("edge_inner_attr")]
fn inner_attr(n: u8) -> u8 {
    #![allow(unused_variables)]
    let unused = 1;
    n
}

#[cache_result("edge_raw_ident")]
pub(crate) fn r#type(r#in: u8) -> u8 {
    r#in
}

#[cache_result("edge_mut_ref")]
fn push(v: &mut Vec<u8>, n: u8) -> usize {
    v.push(n);
    v.len()
}

#[cache_result("edge_ignored_args")]
fn ignored(_: u8, (a, _): (u8, u8)) -> u8 {
    a
}

/// Locals named like the generated ones do not clash.
#[cache_result("edge_shadow")]
async fn shadow(t: u8, v: u8, __cache_key: u8) -> u8 {
    t + v + __cache_key
}

#[tokio::main]
async fn main() {
    let service = Arc::new(Service { base: 1 });
    assert_eq!(service.clone().arc_self(2).await, 22);
    assert_eq!(Service { base: 1 }.value_self(2), 3);
    let p = service
        .destructured(Path((1, 2)), Point { x: 3, y: 4 })
        .await;
    assert_eq!(p, Point { x: 6, y: 5 });
    assert_eq!(service.label(), "service");
    assert_eq!(Square(2).area(3), 12);
    assert_eq!(inner_attr(5), 5);
    assert_eq!(r#type(6), 6);
    let mut v = Vec::new();
    assert_eq!(push(&mut v, 1), 1);
    assert_eq!(ignored(1, (2, 3)), 2);
    assert_eq!(shadow(1, 2, 3).await, 6);
}
