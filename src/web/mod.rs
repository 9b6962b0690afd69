//! The web server's own parts, apart from HTTP itself: from a request
//! target to a file that stays inside the served directory ([`target`]),
//! the directory listing ([`listing`]), content types ([`mime`]),
//! conditional and range requests ([`cond`]), what was learned of a file
//! kept for a second ([`cache`]), and the handler that puts them
//! together on the one HTTP server session ([`files`]).

pub mod cache;
pub mod cond;
pub mod files;
pub mod listing;
pub mod mime;
pub mod target;

pub use files::{FileOptions, FileServer};
