//! Text in a diagram: how wide it is drawn, how it is shortened, and how it is escaped.
//!
//! Widths come from the advance widths of DejaVu Sans (the first font the SVG asks for, and the
//! one Debian's Chromium falls back to), regular and bold, for printable ASCII; anything else is
//! counted wide (an em, more for wide scripts and emoji), so a box is never too narrow in
//! another font, only a little wide. Everything written into the SVG goes through [`escape`]:
//! markup characters become entities, and characters XML cannot carry at all (control
//! characters, U+FFFE/U+FFFF) become U+FFFD, so no workflow text can end or open an element.

/// Advance widths of DejaVu Sans, in thousandths of an em, for U+0020..=U+007E.
const REGULAR: [u16; 95] = [
    318, 401, 460, 838, 636, 950, 780, 275, 390, 390, 500, 838, 318, 361, 318, 337, 636, 636, 636,
    636, 636, 636, 636, 636, 636, 636, 337, 337, 838, 838, 838, 531, 1000, 684, 686, 698, 770, 632,
    575, 775, 752, 295, 295, 656, 557, 863, 748, 787, 603, 787, 695, 635, 611, 732, 684, 989, 685,
    611, 685, 390, 337, 390, 838, 500, 500, 613, 635, 550, 635, 615, 352, 635, 634, 278, 278, 579,
    278, 974, 634, 612, 635, 635, 411, 521, 392, 634, 592, 818, 592, 592, 525, 636, 337, 636, 838,
];

/// Advance widths of DejaVu Sans Bold, in thousandths of an em, for U+0020..=U+007E.
const BOLD: [u16; 95] = [
    348, 456, 521, 838, 696, 1002, 872, 306, 457, 457, 523, 838, 380, 415, 380, 365, 696, 696, 696,
    696, 696, 696, 696, 696, 696, 696, 400, 400, 838, 838, 838, 580, 1000, 774, 762, 734, 830, 683,
    683, 821, 837, 372, 372, 775, 637, 995, 837, 850, 733, 850, 770, 720, 682, 812, 774, 1103, 771,
    724, 725, 457, 365, 457, 838, 500, 500, 675, 716, 593, 716, 678, 435, 716, 712, 343, 343, 665,
    343, 1042, 712, 687, 716, 716, 493, 595, 478, 712, 652, 924, 645, 652, 582, 712, 365, 712, 838,
];

/// A font size and weight the diagram writes text in.
#[derive(Debug, Clone, Copy)]
pub struct Font {
    pub size: f64,
    pub bold: bool,
}

impl Font {
    /// The drawn width of `text`, in pixels.
    pub fn width(self, text: &str) -> f64 {
        text.chars().map(|c| self.char_width(c)).sum()
    }

    fn char_width(self, c: char) -> f64 {
        let table = if self.bold { &BOLD } else { &REGULAR };
        let per_mille = match c as u32 {
            0x20..=0x7e => f64::from(table[c as usize - 0x20]),
            // Combining marks draw over the previous character.
            0x300..=0x36f => 0.0,
            // CJK, Hangul, fullwidth forms, emoji and other pictographs.
            0x1100..=0x115f
            | 0x2e80..=0xa4cf
            | 0xac00..=0xd7a3
            | 0xf900..=0xfaff
            | 0xff00..=0xff60
            | 0x1f000.. => 1250.0,
            _ => 1000.0,
        };
        per_mille * self.size / 1000.0
    }

    /// `text` as one line for a label: control characters and line breaks become spaces, and the
    /// text is cut to `max` pixels with `…` when it is wider.
    pub fn fit(self, text: &str, max: f64) -> String {
        let line: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        if self.width(&line) <= max {
            return line;
        }
        let budget = max - self.char_width('…');
        let mut used = 0.0;
        let mut out = String::new();
        for c in line.chars() {
            used += self.char_width(c);
            if used > budget {
                break;
            }
            out.push(c);
        }
        out.truncate(out.trim_end().len());
        out.push('…');
        out
    }
}

/// `text` made safe for XML character data and attribute values (either quote).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' => out.push(c),
            // Not allowed in XML 1.0 even as a reference (C0 controls, CR normalised away by
            // parsers, the noncharacters), or allowed but invisible trouble (DEL, C1).
            c if c.is_control() || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_characters_xml_cannot_hold_are_escaped() {
        assert_eq!(
            escape("<script>alert('x')</script> & ]]> \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; ]]&gt; &quot;q&quot;"
        );
        assert_eq!(
            escape("a\u{0}b\u{1b}c\rd\u{ffff}"),
            "a\u{fffd}b\u{fffd}c\u{fffd}d\u{fffd}"
        );
        assert_eq!(escape("tab\tline\n"), "tab\tline\n");
    }

    #[test]
    fn text_is_fitted_to_a_width_with_an_ellipsis() {
        let font = Font {
            size: 13.0,
            bold: true,
        };
        assert_eq!(font.fit("short", 200.0), "short");
        let long = "Validate the customer order and reserve the stock";
        let fitted = font.fit(long, 150.0);
        assert!(fitted.ends_with('…'), "{fitted}");
        assert!(font.width(&fitted) <= 150.0);
        assert!(fitted.len() > 10);
        assert_eq!(font.fit("a\nb", 100.0), "a b");
    }

    #[test]
    fn unknown_characters_count_wide() {
        let font = Font {
            size: 10.0,
            bold: false,
        };
        assert!(font.width("漢字") > font.width("MM"));
        assert_eq!(font.width("e\u{301}"), font.width("e"));
    }
}
