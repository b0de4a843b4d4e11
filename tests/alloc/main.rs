//! Allocation counts: paths meant to allocate nothing, checked under a counting global
//! allocator. A `#[global_allocator]` is one per binary, hence this binary; counting is per
//! thread (`support::counting_alloc`), so its tests may run in parallel.

#[path = "../support/mod.rs"]
mod support;

mod core_churn;
mod handle_queue;

#[global_allocator]
static ALLOC: support::counting_alloc::CountingAlloc = support::counting_alloc::CountingAlloc;
