//! The front ends that drive a reactor: [`Manager`] runs one on the calling thread; [`Handle`]
//! controls one from other threads.

mod handle;
mod manager;

pub use handle::Handle;
pub use manager::Manager;
