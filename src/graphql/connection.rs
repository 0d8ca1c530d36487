//! Relay connections: `edges { cursor node }`, `pageInfo`, `totalCount`.
//! `totalCount` costs a COUNT query, so it is computed only when selected.

use async_graphql::{Context, SimpleObject};

use crate::error::AppResult;
use crate::service::page::{Cursor, Page};

#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    #[graphql(skip)]
    pub start: Option<Cursor>,
    #[graphql(skip)]
    pub end: Option<Cursor>,
}

/// The cursors are encoded when a query asks for them (see `Page`).
#[async_graphql::ComplexObject]
impl PageInfo {
    async fn start_cursor(&self) -> Option<String> {
        self.start.as_ref().map(Cursor::encode)
    }

    async fn end_cursor(&self) -> Option<String> {
        self.end.as_ref().map(Cursor::encode)
    }
}

/// What every connection is made of, before it takes its GraphQL name.
pub struct Parts<T> {
    pub edges: Vec<(Cursor, T)>,
    pub page_info: PageInfo,
    pub total_count: i64,
}

impl<T> Parts<T> {
    /// Builds the parts from a service page, running `count` only if the
    /// query selected `totalCount`.
    pub async fn from_page<M, F>(ctx: &Context<'_>, page: Page<M>, node: impl Fn(M) -> T, count: F) -> AppResult<Self>
    where
        F: std::future::Future<Output = AppResult<u64>>,
    {
        let total_count = if ctx.look_ahead().field("totalCount").exists() { count.await? as i64 } else { 0 };
        Ok(Self {
            page_info: PageInfo {
                has_next_page: page.has_next_page,
                has_previous_page: page.has_previous_page,
                start: page.items.first().map(|(c, _)| c.clone()),
                end: page.items.last().map(|(c, _)| c.clone()),
            },
            edges: page.items.into_iter().map(|(cursor, m)| (cursor, node(m))).collect(),
            total_count,
        })
    }
}

/// Declares `XConnection` and `XEdge` for a node type. Their fields are
/// resolved in turn (`serial`): none of them waits on anything, and the
/// engine's concurrent resolution of an object's fields costs a task set per
/// object, 50 of them for a page's edges (the edges of a list, the nodes in
/// them, are still resolved side by side, so loaders batch across a page).
macro_rules! connection {
    ($conn:ident, $edge:ident, $node:ty) => {
        #[derive(async_graphql::SimpleObject)]
        #[graphql(serial, complex)]
        pub struct $edge {
            #[graphql(skip)]
            pub cursor: $crate::service::page::Cursor,
            pub node: $node,
        }

        #[async_graphql::ComplexObject]
        impl $edge {
            /// This edge's place in the list: pass it as `after` for the
            /// items that follow it.
            // Encoded here, when a query asks for it (see `Page`).
            async fn cursor(&self) -> String {
                self.cursor.encode()
            }
        }

        impl $crate::graphql::at_once::AtOnce for $edge {
            fn at_once(field: &str) -> bool {
                field == "cursor"
            }

            fn object(
                &self,
                field: &str,
                show: &mut dyn FnMut(Option<&dyn $crate::graphql::at_once::Answer>) -> Option<()>,
            ) -> Option<()> {
                (field == "node").then(|| show(Some(&self.node))).flatten()
            }
        }

        #[derive(async_graphql::SimpleObject)]
        #[graphql(serial)]
        pub struct $conn {
            // Answered at once when its nodes' selected fields can be
            // (`graphql::at_once`), else by the engine.
            pub edges: $crate::graphql::at_once::Edges<$edge>,
            pub page_info: $crate::graphql::connection::PageInfo,
            /// The number of items matching the filter, over all pages.
            pub total_count: i64,
        }

        impl From<$crate::graphql::connection::Parts<$node>> for $conn {
            fn from(p: $crate::graphql::connection::Parts<$node>) -> Self {
                Self {
                    edges: $crate::graphql::at_once::Edges(
                        p.edges.into_iter().map(|(cursor, node)| $edge { cursor, node }).collect(),
                    ),
                    page_info: p.page_info,
                    total_count: p.total_count,
                }
            }
        }
    };
}
pub(crate) use connection;

/// The complexity of a list field: what one item selects, times the page
/// size asked for (so `first: 100` costs a hundred times `first: 1`), plus
/// the list itself.
pub fn list_cost(first: Option<i32>, child_complexity: usize) -> usize {
    let page =
        first.map_or(crate::service::page::DEFAULT_PAGE, |n| n.clamp(0, crate::service::page::MAX_PAGE as i32) as u64);
    (page as usize).max(1).saturating_mul(child_complexity).saturating_add(1)
}
