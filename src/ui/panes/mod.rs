//! One module per pane: each holds the state its pane owns and a widget
//! that draws it. The reducer in [`super::app`] routes events to them.

pub mod bars;
pub mod console;
pub mod experiment;
pub mod fit;
pub mod help;
pub mod lab;
pub mod logs;
pub mod meter;
pub mod race;
pub mod side_by_side;
pub mod timeline;
pub mod workers;
