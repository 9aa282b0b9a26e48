//! Opening record files as offices export them: CSV with `,` or `;`, UTF-8 with or
//! without BOM or Windows-1250 (detected, or forced), Polish headers; Parquet with the
//! same columns. Also hashes the bytes as they stream through (the batch checksum).

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use kmapa_model::RecordColumn;
use sha2::{Digest, Sha256};

use crate::error::{FileError, IngestError};
use crate::identifiers::identifier_column;

/// Text encodings of CSV files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Windows1250,
}

impl std::str::FromStr for Encoding {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match kmapa_model::text::fold(s).replace(' ', "").as_str() {
            "utf8" => Ok(Encoding::Utf8),
            "windows1250" | "cp1250" | "win1250" => Ok(Encoding::Windows1250),
            _ => Err(format!("unknown encoding {s:?}: use utf-8 or windows-1250")),
        }
    }
}

impl std::fmt::Display for Encoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Encoding::Utf8 => "UTF-8",
            Encoding::Windows1250 => "Windows-1250",
        })
    }
}

/// Guesses the encoding from the start of a file: a BOM or valid UTF-8 means UTF-8,
/// anything else Windows-1250 (the encoding of Polish office software).
pub fn detect_encoding(sample: &[u8]) -> Encoding {
    if sample.starts_with(b"\xEF\xBB\xBF") {
        return Encoding::Utf8;
    }
    match std::str::from_utf8(sample) {
        Ok(_) => Encoding::Utf8,
        // A character cut at the end of the sample is still UTF-8.
        Err(e) if e.error_len().is_none() => Encoding::Utf8,
        Err(_) => {
            // Invalid UTF-8 somewhere. If more lines have letters in UTF-8 than lines
            // that are not UTF-8, the file is UTF-8 with a stray line (which the reader
            // then refuses with its number), not Windows-1250.
            let (mut utf8, mut other) = (0, 0);
            for line in sample.split(|&b| b == b'\n') {
                match std::str::from_utf8(line) {
                    Ok(t) if !t.is_ascii() => utf8 += 1,
                    Ok(_) => {}
                    Err(e) if e.error_len().is_none() => {}
                    Err(_) => other += 1,
                }
            }
            if utf8 > other {
                Encoding::Utf8
            } else {
                Encoding::Windows1250
            }
        }
    }
}

/// The delimiter of a CSV file: whichever of `,` and `;` occurs more often outside
/// quotes in the header line (`,` on a tie).
pub fn detect_delimiter(first_line: &[u8]) -> u8 {
    let (mut commas, mut semis, mut quoted) = (0, 0, false);
    for &b in first_line {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => commas += 1,
            b';' if !quoted => semis += 1,
            b'\n' if !quoted => break,
            _ => {}
        }
    }
    if semis > commas { b';' } else { b',' }
}

/// Decodes Windows-1250 to UTF-8 as it streams.
pub struct DecodingReader<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    input: Vec<u8>,
    output: Vec<u8>,
    out_pos: usize,
    done: bool,
}

impl<R: Read> DecodingReader<R> {
    pub fn windows_1250(inner: R) -> Self {
        Self {
            inner,
            decoder: encoding_rs::WINDOWS_1250.new_decoder_without_bom_handling(),
            input: vec![0; 1 << 16],
            output: Vec::with_capacity(3 << 16),
            out_pos: 0,
            done: false,
        }
    }
}

impl<R: Read> Read for DecodingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.out_pos >= self.output.len() {
            if self.done {
                return Ok(0);
            }
            let n = self.inner.read(&mut self.input)?;
            let last = n == 0;
            self.output.clear();
            self.output.resize(3 * n + 16, 0);
            let (_, _, written, _) =
                self.decoder
                    .decode_to_utf8(&self.input[..n], &mut self.output, last);
            self.output.truncate(written);
            self.out_pos = 0;
            self.done = last;
        }
        let n = buf.len().min(self.output.len() - self.out_pos);
        buf[..n].copy_from_slice(&self.output[self.out_pos..self.out_pos + n]);
        self.out_pos += n;
        Ok(n)
    }
}

/// The file's columns mapped onto the contract.
#[derive(Debug, Clone)]
pub struct HeaderMap {
    /// For each file column, the contract column it holds.
    pub columns: Vec<Option<RecordColumn>>,
    pub headers: Vec<String>,
}

impl HeaderMap {
    /// Maps headers, refusing direct identifiers, duplicates, and missing required
    /// columns. `has_default_source`: the source comes from the command line.
    pub fn new(
        path: &Path,
        headers: Vec<String>,
        has_default_source: bool,
    ) -> Result<Self, IngestError> {
        let mut columns = Vec::with_capacity(headers.len());
        for (i, h) in headers.iter().enumerate() {
            if let Some(what) = identifier_column(h) {
                return Err(FileError::new(
                    path,
                    format!(
                        "column {:?} (column {}) holds {what}, a direct identifier",
                        h,
                        i + 1
                    ),
                )
                .hint(
                    "Remove it, or run `kmapa pseudonymise` on the export inside the office first",
                )
                .into());
            }
            let c = RecordColumn::from_header(h);
            if let Some(c) = c
                && columns.contains(&Some(c))
            {
                return Err(FileError::new(
                    path,
                    format!("two columns hold `{c}` (the second is {h:?})"),
                )
                .hint("Keep one column per field")
                .into());
            }
            columns.push(c);
        }
        let has = |c: RecordColumn| columns.contains(&Some(c));
        let mut missing = Vec::new();
        if !has(RecordColumn::PersonId) {
            missing.push("person_id");
        }
        if !has(RecordColumn::Year) {
            missing.push("year");
        }
        if !has(RecordColumn::Category) && !has(RecordColumn::Categories) {
            missing.push("category (or categories)");
        }
        if !has(RecordColumn::Source) && !has_default_source {
            missing.push("source (or give --source OPS|PUP)");
        }
        let located = (has(RecordColumn::Lat) && has(RecordColumn::Lon))
            || has(RecordColumn::Address)
            || has(RecordColumn::District);
        if !located {
            missing.push("a location: lat and lon, address, or district");
        }
        if !missing.is_empty() {
            return Err(FileError::new(
                path,
                format!("required columns missing: {}", missing.join("; ")),
            )
            .hint(format!(
                "The header has: {}. See docs/data-format.md",
                headers.join(", ")
            ))
            .into());
        }
        if has(RecordColumn::Category) && has(RecordColumn::Categories) {
            return Err(FileError::new(path, "both `category` and `categories` columns are present")
                .hint("Use one: `category` (one code a row) or `categories` (several, separated by ; or |)")
                .into());
        }
        Ok(Self { columns, headers })
    }

    /// Headers kmapa does not use (reported, never silently dropped).
    pub fn ignored(&self) -> Vec<&str> {
        self.headers
            .iter()
            .zip(&self.columns)
            .filter(|(_, c)| c.is_none())
            .map(|(h, _)| h.as_str())
            .collect()
    }
}

/// An open CSV record file.
pub struct CsvSource {
    pub reader: csv::Reader<Box<dyn Read + Send>>,
    pub encoding: Encoding,
    pub delimiter: u8,
    pub header: HeaderMap,
    /// Bytes read so far and the checksum, shared with whoever reads the rows.
    pub hash: std::sync::Arc<std::sync::Mutex<HashState>>,
}

/// Progress of the raw byte stream.
#[derive(Default)]
pub struct HashState {
    pub bytes: u64,
    pub checksum: Option<String>,
    hasher: Option<Sha256>,
}

struct SharedHashingReader<R> {
    inner: R,
    state: std::sync::Arc<std::sync::Mutex<HashState>>,
}

impl<R: Read> Read for SharedHashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut s = self.state.lock().expect("no panics while hashing");
        s.bytes += n as u64;
        if let Some(h) = s.hasher.as_mut() {
            h.update(&buf[..n]);
        }
        if n == 0
            && s.checksum.is_none()
            && let Some(h) = s.hasher.take()
        {
            s.checksum = Some(hex::encode(h.finalize()));
        }
        Ok(n)
    }
}

/// Opens a CSV record file: sniffs encoding and delimiter, maps the header.
/// Passes raw bytes through, failing at the first line in another encoding than the
/// file's: invalid UTF-8 in a UTF-8 file, or, in a Windows-1250 file, a Polish letter
/// written as UTF-8 (`ą` as C4 85: in Windows-1250 "Ä…", which no Polish text has).
struct OneEncoding<R> {
    inner: R,
    encoding: Encoding,
    /// Bytes of a character cut at the end of the last read.
    carry: Vec<u8>,
    line: u64,
}

impl<R> OneEncoding<R> {
    fn new(inner: R, encoding: Encoding) -> Self {
        OneEncoding {
            inner,
            encoding,
            carry: Vec::new(),
            line: 1,
        }
    }

    fn mixed(&self, line: u64) -> std::io::Error {
        let what = match self.encoding {
            Encoding::Utf8 => "is not UTF-8 (Windows-1250?), unlike the lines before it",
            Encoding::Windows1250 => "has a letter in UTF-8, while the file has Windows-1250 text",
        };
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "line {line} {what}: the file mixes encodings and nothing was ingested. Re-export it in one encoding (UTF-8 is best)"
            ),
        )
    }
}

/// Whether `b` starts with a Polish letter in UTF-8 (ąćęłńóśźż and capitals).
fn polish_utf8(b: &[u8]) -> bool {
    matches!(
        b,
        [0xC4, 0x84 | 0x85 | 0x86 | 0x87 | 0x98 | 0x99, ..]
            | [
                0xC5,
                0x81 | 0x82 | 0x83 | 0x84 | 0x9A | 0x9B | 0xB9 | 0xBA | 0xBB | 0xBC,
                ..
            ]
            | [0xC3, 0x93 | 0xB3, ..]
    )
}

impl<R: Read> Read for OneEncoding<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if self.carry.is_empty() {
            self.check(&buf[..n], n)?;
        } else {
            // Only after a read that cut a character: check it with the bytes after it.
            let mut bytes = std::mem::take(&mut self.carry);
            bytes.extend_from_slice(&buf[..n]);
            self.check(&bytes, n)?;
        }
        Ok(n)
    }
}

impl<R> OneEncoding<R> {
    /// Checks `bytes` (what was carried over and the `n` bytes just read), keeps a
    /// character cut at their end for the next read, and counts lines.
    fn check(&mut self, bytes: &[u8], n: usize) -> std::io::Result<()> {
        let lines = |b: &[u8]| memchr::memchr_iter(b'\n', b).count() as u64;
        match self.encoding {
            Encoding::Utf8 => match std::str::from_utf8(bytes) {
                Ok(_) => {}
                Err(e) if e.error_len().is_none() && n > 0 => {
                    // A character cut by the read: check it with the next bytes.
                    self.carry = bytes[e.valid_up_to()..].to_vec();
                }
                Err(e) => return Err(self.mixed(self.line + lines(&bytes[..e.valid_up_to()]))),
            },
            Encoding::Windows1250 => {
                if let Some(i) = memchr::memchr3_iter(0xC3, 0xC4, 0xC5, bytes)
                    .find(|&i| polish_utf8(&bytes[i..]))
                {
                    return Err(self.mixed(self.line + lines(&bytes[..i])));
                }
                // A lead byte at the very end: look again with what follows.
                if n > 0 && matches!(bytes.last(), Some(0xC3..=0xC5)) {
                    self.carry = vec![*bytes.last().expect("not empty")];
                }
            }
        }
        let checked = bytes.len() - self.carry.len();
        self.line += lines(&bytes[..checked]);
        Ok(())
    }
}

/// The longest line a CSV export may have. Real rows are well under a kilobyte; a
/// longer line is a broken export (a runaway quote, a pasted document), refused before
/// it is held in memory or copied anywhere.
pub const MAX_LINE: usize = 1 << 20;

/// Passes bytes through, failing once a line grows past `max` bytes.
struct LineLimit<R> {
    inner: R,
    max: usize,
    /// Bytes since the last newline.
    run: usize,
    /// 1-based number of the line being read.
    line: u64,
}

impl<R: Read> LineLimit<R> {
    fn new(inner: R, max: usize) -> Self {
        LineLimit {
            inner,
            max,
            run: 0,
            line: 1,
        }
    }
}

impl<R: Read> Read for LineLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut start = 0;
        for nl in memchr::memchr_iter(b'\n', &buf[..n]) {
            self.run += nl - start;
            self.check()?;
            self.run = 0;
            self.line += 1;
            start = nl + 1;
        }
        self.run += n - start;
        self.check()?;
        Ok(n)
    }
}

impl<R> LineLimit<R> {
    fn check(&self) -> std::io::Result<()> {
        if self.run > self.max {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "line {} is longer than {} KiB: no row of an export is; the file is broken (a runaway quote?) and nothing was ingested",
                    self.line,
                    self.max >> 10
                ),
            ));
        }
        Ok(())
    }
}

pub fn open_csv(
    path: &Path,
    forced: Option<Encoding>,
    has_default_source: bool,
) -> Result<CsvSource, IngestError> {
    let mut sample = vec![0u8; 1 << 16];
    let n = {
        let mut f = File::open(path).map_err(|e| FileError::io(path, e))?;
        let mut filled = 0;
        loop {
            let k = f
                .read(&mut sample[filled..])
                .map_err(|e| FileError::io(path, e))?;
            if k == 0 {
                break;
            }
            filled += k;
            if filled == sample.len() {
                break;
            }
        }
        filled
    };
    sample.truncate(n);
    let encoding = forced.unwrap_or_else(|| detect_encoding(&sample));
    let first_line_end = sample
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(sample.len());
    let delimiter = detect_delimiter(&sample[..first_line_end]);
    let state = std::sync::Arc::new(std::sync::Mutex::new(HashState {
        hasher: Some(Sha256::new()),
        ..HashState::default()
    }));
    let file = File::open(path).map_err(|e| FileError::io(path, e))?;
    let hashed = SharedHashingReader {
        inner: BufReader::with_capacity(1 << 20, file),
        state: state.clone(),
    };
    // One encoding for the whole file: a line in the other one is refused, wherever it
    // is, instead of being decoded one way or the other by where it falls.
    let mut stream: Box<dyn Read + Send> = match encoding {
        Encoding::Utf8 => Box::new(OneEncoding::new(hashed, Encoding::Utf8)),
        Encoding::Windows1250 => Box::new(DecodingReader::windows_1250(OneEncoding::new(
            hashed,
            Encoding::Windows1250,
        ))),
    };
    // Skip a UTF-8 BOM.
    if encoding == Encoding::Utf8 && sample.starts_with(b"\xEF\xBB\xBF") {
        let mut bom = [0u8; 3];
        stream
            .read_exact(&mut bom)
            .map_err(|e| FileError::io(path, e))?;
    }
    let stream: Box<dyn Read + Send> = Box::new(LineLimit::new(stream, MAX_LINE));
    let mut reader = csv::ReaderBuilder::new()
        // Records end at `\n` only (a `\r` before it is trimmed with the cell): the
        // csv crate's CRLF handling miscounts line numbers by one.
        .terminator(csv::Terminator::Any(b'\n'))
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(true)
        .buffer_capacity(1 << 20)
        .from_reader(stream);
    let headers = reader.byte_headers().map_err(|e| match e.kind() {
        // The reader reads ahead: a fault further down (a mixed encoding, an overlong
        // line) can surface here, and says its own line.
        csv::ErrorKind::Io(io) => FileError::new(path, io.to_string()),
        _ => FileError::new(path, format!("cannot read the header line: {e}"))
            .hint("The first line must name the columns"),
    })?;
    let headers: Vec<String> = match headers
        .iter()
        .map(std::str::from_utf8)
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(h) => h.iter().map(|s| s.trim().to_string()).collect(),
        Err(_) => {
            return Err(FileError::new(path, "the header line is not valid UTF-8")
                .hint("Re-run with --encoding windows-1250 (or save the file as UTF-8)")
                .into());
        }
    };
    if headers.iter().all(String::is_empty) {
        return Err(FileError::new(path, "the file is empty or has an empty header").into());
    }
    let header = HeaderMap::new(path, headers, has_default_source)?;
    Ok(CsvSource {
        reader,
        encoding,
        delimiter,
        header,
        hash: state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_are_detected() {
        assert_eq!(detect_encoding("rok;płeć".as_bytes()), Encoding::Utf8);
        assert_eq!(detect_encoding(b"\xEF\xBB\xBFrok"), Encoding::Utf8);
        // "płeć" in Windows-1250: p \xB3 e \xE6
        assert_eq!(detect_encoding(b"rok;p\xB3e\xE6"), Encoding::Windows1250);
        // A UTF-8 character cut by the sample end.
        assert_eq!(detect_encoding(&"ł".as_bytes()[..1]), Encoding::Utf8);
    }

    #[test]
    fn delimiters_are_detected() {
        assert_eq!(detect_delimiter(b"a;b;c\n1,5;2;3"), b';');
        assert_eq!(detect_delimiter(b"a,b,\"c;d\"\n"), b',');
        assert_eq!(detect_delimiter(b"\"a;b;c\",d,e"), b',');
    }

    #[test]
    fn windows_1250_decodes_across_buffer_boundaries() {
        let mut text = Vec::new();
        for _ in 0..40_000 {
            text.extend_from_slice(b"\xA3\xF3d\x9F;"); // "Łódź;" in Windows-1250
        }
        let mut out = String::new();
        DecodingReader::windows_1250(&text[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "Łódź;".repeat(40_000));
    }
}
