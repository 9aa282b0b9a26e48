//! Text folding for matching names typed by people: case- and diacritics-insensitive.

/// Lower-cases and strips diacritics (Polish letters and the common Latin ones),
/// collapses runs of whitespace, `_` and `-` into one space, and trims.
///
/// ```
/// assert_eq!(kmapa_model::text::fold("  Psie Pole–Zawidawie "), "psie pole zawidawie");
/// assert_eq!(kmapa_model::text::fold("PŁEĆ"), "plec");
/// assert_eq!(kmapa_model::text::fold("rok_urodzenia"), "rok urodzenia");
/// ```
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for c in s.chars() {
        if c.is_whitespace() || matches!(c, '_' | '-' | '–' | '—') {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        for l in c.to_lowercase() {
            out.push(strip_diacritic(l));
        }
    }
    out
}

fn strip_diacritic(c: char) -> char {
    match c {
        'ą' | 'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' => 'a',
        'ć' | 'č' | 'ç' => 'c',
        'ď' => 'd',
        'ę' | 'é' | 'è' | 'ê' | 'ë' | 'ě' => 'e',
        'í' | 'ì' | 'î' | 'ï' => 'i',
        'ł' | 'ľ' | 'ĺ' => 'l',
        'ń' | 'ň' | 'ñ' => 'n',
        'ó' | 'ò' | 'ô' | 'ö' | 'õ' | 'ő' => 'o',
        'ř' => 'r',
        'ś' | 'š' | 'ş' => 's',
        'ť' | 'ţ' => 't',
        'ú' | 'ù' | 'û' | 'ü' | 'ů' | 'ű' => 'u',
        'ý' | 'ÿ' => 'y',
        'ź' | 'ż' | 'ž' => 'z',
        other => other,
    }
}

/// `s` without leading and trailing whitespace, as `str::trim`, with a quick return for
/// the usual value that starts and ends with a visible ASCII character.
pub fn trim(s: &str) -> &str {
    match s.as_bytes() {
        [] => s,
        [first, .., last] if first.is_ascii_graphic() && last.is_ascii_graphic() => s,
        [only] if only.is_ascii_graphic() => s,
        _ => s.trim(),
    }
}

#[cfg(test)]
mod tests {
    use super::{fold, trim};

    #[test]
    fn trim_agrees_with_the_standard_library() {
        // Every string of up to three of these pieces: ASCII and Unicode whitespace
        // (no-break space, ideographic space), letters, digits, multi-byte letters.
        let pieces = [
            "", " ", "\t", "\r", "\n", "\u{a0}", "\u{3000}", "a", "7", "ł", "Ź", "-", "@",
        ];
        let mut checked = 0;
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let s = format!("{a}{b}{c}");
                    assert_eq!(trim(&s), s.trim(), "{s:?}");
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, pieces.len().pow(3));
    }

    #[test]
    fn polish_letters_fold_to_ascii() {
        assert_eq!(fold("Zażółć gęślą jaźń"), "zazolc gesla jazn");
        assert_eq!(fold("ŚRÓDMIEŚCIE"), "srodmiescie");
    }

    #[test]
    fn separators_collapse() {
        assert_eq!(fold("a  -_ b"), "a b");
        assert_eq!(fold("--a--"), "a");
    }
}
