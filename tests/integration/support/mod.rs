//! What the test modules share. Every item here has a user in this binary (the compiler says
//! when one loses its last: then delete it, or move it next to its only user).

mod mock;
pub use mock::*;

pub mod client;
pub mod local;
pub mod logs;
pub mod process;
pub mod raw;
