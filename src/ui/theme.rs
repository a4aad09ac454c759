//! Colour themes: dark (default), light, and monochrome. `NO_COLOR` in the
//! environment selects monochrome. Colour only ever repeats what a symbol or
//! a word already says, so the monochrome theme loses nothing.

use std::fmt;
use std::str::FromStr;

use ratatui::style::{Color, Modifier, Style};

/// What a piece of the screen means; the theme decides how it looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Holding the GIL.
    Hold,
    /// Waiting for the GIL.
    Wait,
    /// In a blocking call.
    Io,
    /// Running free (no GIL).
    Free,
    /// Drop requests and forced hand-overs.
    Mark,
    /// Success.
    Good,
    /// Failure.
    Bad,
    /// Ended without result, hints.
    Muted,
    /// The GIL switched on; emphasis.
    Accent,
    /// The GIL switched off.
    Calm,
    /// The seed demo's thread side.
    ThreadSide,
    /// The seed demo's main side.
    MainSide,
    /// Bars and sparklines.
    Chart,
    /// Real Python in the experiment chart.
    Python,
    /// Emulated `free` mode in charts.
    ModeFree,
    /// Emulated `gil` mode in charts.
    ModeGil,
    /// Emulated `legacy` mode in charts.
    ModeLegacy,
}

/// The themes a user can choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ThemeName {
    /// Bright colours for a dark background.
    #[default]
    Dark,
    /// Deeper colours for a light background.
    Light,
    /// No colours at all (also chosen by `NO_COLOR`).
    Mono,
}

impl FromStr for ThemeName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "dark" => Ok(Self::Dark),
            "light" => Ok(Self::Light),
            "mono" => Ok(Self::Mono),
            _ => Err(format!("unknown theme '{s}': expected dark, light or mono")),
        }
    }
}

impl fmt::Display for ThemeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Dark => "dark",
            Self::Light => "light",
            Self::Mono => "mono",
        })
    }
}

/// A theme in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    name: ThemeName,
}

impl Default for Theme {
    fn default() -> Self {
        Self::new(ThemeName::Dark)
    }
}

impl Theme {
    /// The named theme.
    pub fn new(name: ThemeName) -> Self {
        Self { name }
    }

    /// The named theme, or monochrome when `no_color` (the `NO_COLOR`
    /// convention: set and not empty).
    pub fn resolve(name: ThemeName, no_color: bool) -> Self {
        Self::new(if no_color { ThemeName::Mono } else { name })
    }

    fn colour(&self, role: Role) -> Option<Color> {
        use Role::*;
        let dark = match role {
            Hold => Color::Yellow,
            Wait => Color::Red,
            Io => Color::Blue,
            Free => Color::Cyan,
            Mark => Color::Magenta,
            Good => Color::Green,
            Bad => Color::Red,
            Muted => Color::DarkGray,
            Accent => Color::Yellow,
            Calm => Color::Green,
            ThreadSide => Color::Cyan,
            MainSide => Color::Yellow,
            Chart => Color::Green,
            Python => Color::Green,
            ModeFree => Color::Cyan,
            ModeGil => Color::Yellow,
            ModeLegacy => Color::Magenta,
        };
        match self.name {
            ThemeName::Dark => Some(dark),
            ThemeName::Mono => None,
            ThemeName::Light => Some(match role {
                Hold | Accent | MainSide | ModeGil => Color::Rgb(0x9a, 0x67, 0x00),
                Wait | Bad => Color::Rgb(0xb0, 0x1c, 0x1c),
                Io => Color::Rgb(0x1c, 0x4f, 0xb0),
                Free | ThreadSide | ModeFree => Color::Rgb(0x00, 0x7a, 0x87),
                Mark | ModeLegacy => Color::Rgb(0x8a, 0x2b, 0x9a),
                Good | Calm | Chart | Python => Color::Rgb(0x1b, 0x7a, 0x1b),
                Muted => Color::Rgb(0x6b, 0x6b, 0x6b),
            }),
        }
    }

    /// Foreground style for a role (no colour in monochrome).
    pub(crate) fn fg(&self, role: Role) -> Style {
        self.colour(role)
            .map_or_else(Style::new, |colour| Style::new().fg(colour))
    }

    /// A glyph drawn in `front`'s colour over `back`'s (a cell split in
    /// two: the glyph's half is one state, the background the other). In
    /// monochrome the glyph's shape alone tells them apart.
    pub fn split(&self, front: Role, back: Option<Role>) -> Style {
        let style = self.fg(front);
        match back.and_then(|role| self.colour(role)) {
            Some(colour) => style.bg(colour),
            None => style,
        }
    }

    /// A label on a coloured background (reversed text in monochrome).
    pub fn badge(&self, role: Role) -> Style {
        match self.colour(role) {
            Some(colour) => Style::new().fg(Color::Black).bg(colour),
            None => Style::new().add_modifier(Modifier::REVERSED),
        }
    }
}
