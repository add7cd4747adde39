//! Text files as UTF-8 byte streams: gzip is recognised by its magic bytes,
//! the encoding by a byte-order mark, by being valid UTF-8, or else by
//! guessing a legacy code page (Excel's Windows-1252 exports) from a sample.

use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};

use encoding_rs::{Encoding, UTF_16BE, UTF_16LE, UTF_8};
use encoding_rs_io::DecodeReaderBytesBuilder;
use flate2::bufread::MultiGzDecoder;

use crate::error::{CoreError, Result};

/// Bytes looked at to guess the encoding and the delimiter.
const SAMPLE: usize = 64 * 1024;

/// A text file opened for reading as UTF-8.
pub struct TextFile {
    pub reader: Box<dyn BufRead + Send>,
    /// The start of the (decoded) text, for sniffing the delimiter.
    pub sample: String,
    /// The encoding read (its WHATWG name).
    pub encoding: &'static str,
    /// The file is UTF-8 on disk; its fields are checked as they are read.
    pub raw_utf8: bool,
}

/// An encoding given by name (`"latin-1"`, `"cp1252"`, `"utf-16"`, ...).
pub fn encoding_for_label(label: &str) -> Result<&'static Encoding> {
    let l = label.trim().to_ascii_lowercase();
    let l = match l.as_str() {
        "latin1" | "latin-1" | "iso8859-1" | "cp1252" => "windows-1252",
        "utf8" => "utf-8",
        "utf16" => "utf-16le",
        "utf-16" => "utf-16le",
        other => other,
    };
    Encoding::for_label(l.as_bytes()).ok_or_else(|| {
        CoreError::config(
            "encoding",
            format!("unknown encoding {label:?}; use a name such as utf-8, utf-16, windows-1252 or latin-1"),
        )
    })
}

fn io_err(input: &Input, e: std::io::Error) -> CoreError {
    CoreError::file(input.shown(), format!("cannot read: {e}"))
}

/// What a file source reads: a file, or a member of a `.zip` archive.
#[derive(Debug, Clone)]
pub struct Input {
    pub path: PathBuf,
    pub member: Option<String>,
    /// Takes the content hash of the file's bytes as they are read.
    pub hash: Option<super::listing::ReadHash>,
}

impl Input {
    pub fn file(path: &Path) -> Input {
        Input {
            path: path.to_path_buf(),
            member: None,
            hash: None,
        }
    }

    /// How errors name it: `exports.zip:orders.csv` for a member.
    pub fn shown(&self) -> String {
        match &self.member {
            Some(m) => format!("{}:{m}", self.path.display()),
            None => self.path.display().to_string(),
        }
    }

    /// The name its format is told by: the member's, or the file's.
    pub fn name(&self) -> String {
        self.member
            .clone()
            .unwrap_or_else(|| self.path.display().to_string())
    }

    fn open(&self) -> Result<Box<dyn Read + Send>> {
        match &self.member {
            None => {
                let file = File::open(&self.path).map_err(|e| io_err(self, e))?;
                Ok(match &self.hash {
                    Some(h) => Box::new(h.reader(file)),
                    None => Box::new(file),
                })
            }
            Some(name) => super::archive::open_member(&self.path, name),
        }
    }
}

/// How a text file is compressed, told by its first bytes (not its name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
}

impl Compression {
    pub fn sniff(head: &[u8]) -> Compression {
        match head {
            [0x1f, 0x8b, ..] => Compression::Gzip,
            [b'B', b'Z', b'h', b'1'..=b'9', ..] => Compression::Bzip2,
            [0xFD, b'7', b'z', b'X', b'Z', 0x00, ..] => Compression::Xz,
            [0x28, 0xB5, 0x2F, 0xFD, ..] => Compression::Zstd,
            _ => Compression::None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "plain",
            Compression::Gzip => "gzip",
            Compression::Bzip2 => "bzip2",
            Compression::Xz => "xz",
            Compression::Zstd => "zstd",
        }
    }

    /// The decompressed bytes; concatenated members or frames read as one stream.
    pub fn reader<R: BufRead + Send + 'static>(
        self,
        input: R,
        shown: &str,
    ) -> Result<Box<dyn Read + Send>> {
        Ok(match self {
            Compression::None => Box::new(input),
            Compression::Gzip => Box::new(MultiGzDecoder::new(input)),
            Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(input)),
            Compression::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(input)),
            Compression::Zstd => Box::new(
                zstd::stream::read::Decoder::with_buffer(input).map_err(|e| {
                    CoreError::file(shown, format!("not a readable zstd file: {e}"))
                })?,
            ),
        })
    }
}

/// Opens `path`, undoing gzip, bzip2, xz or zstd and decoding to UTF-8. `encoding` overrides
/// detection (a byte-order mark still wins, as it cannot lie).
pub fn open_text(input: &Input, encoding: Option<&'static Encoding>) -> Result<TextFile> {
    let path = input;
    let mut buffered = BufReader::with_capacity(256 * 1024, input.open()?);
    let head = buffered.fill_buf().map_err(|e| io_err(path, e))?;
    let compression = Compression::sniff(head);
    let mut inner = compression.reader(buffered, &input.shown())?;
    let mut sample = Vec::with_capacity(SAMPLE);
    (&mut inner)
        .take(SAMPLE as u64)
        .read_to_end(&mut sample)
        .map_err(|e| match compression {
            Compression::None => io_err(path, e),
            c => CoreError::file(
                path.shown(),
                format!("not a readable {} file: {e}", c.name()),
            ),
        })?;
    let complete = sample.len() < SAMPLE;
    let (bom, bom_len) = match sample.as_slice() {
        [0xEF, 0xBB, 0xBF, ..] => (Some(UTF_8), 3),
        [0xFF, 0xFE, ..] => (Some(UTF_16LE), 2),
        [0xFE, 0xFF, ..] => (Some(UTF_16BE), 2),
        _ => (None, 0),
    };
    let chosen = match (bom, encoding) {
        (Some(b), _) => b,
        (None, Some(e)) => e,
        (None, None) => guess(path, &sample, complete)?,
    };
    let rest = Cursor::new(sample.clone()).chain(inner);
    if chosen == UTF_8 {
        let mut reader = BufReader::with_capacity(256 * 1024, rest);
        if bom_len > 0 {
            reader.fill_buf().map_err(|e| io_err(path, e))?;
            reader.consume(bom_len);
        }
        let text = String::from_utf8_lossy(&sample[bom_len..]).into_owned();
        return Ok(TextFile {
            reader: Box::new(reader),
            sample: text,
            encoding: UTF_8.name(),
            raw_utf8: true,
        });
    }
    let (text, _, _) = chosen.decode(&sample);
    let decoder = DecodeReaderBytesBuilder::new()
        .encoding(Some(chosen))
        .bom_override(true)
        .build(rest);
    Ok(TextFile {
        reader: Box::new(BufReader::with_capacity(256 * 1024, decoder)),
        sample: text.trim_start_matches('\u{feff}').to_string(),
        encoding: chosen.name(),
        raw_utf8: false,
    })
}

/// UTF-8 when the sample is (a cut multi-byte character at its end aside),
/// else the legacy encoding the sample looks most like.
fn guess(path: &Input, sample: &[u8], complete: bool) -> Result<&'static Encoding> {
    if sample.contains(&0) {
        return Err(CoreError::file(
            path.shown(),
            "looks like a binary file, or UTF-16 without a byte-order mark (set encoding=\"utf-16le\")",
        ));
    }
    let valid = match std::str::from_utf8(sample) {
        Ok(_) => true,
        Err(e) => !complete && e.error_len().is_none() && sample.len() - e.valid_up_to() < 4,
    };
    if valid {
        return Ok(UTF_8);
    }
    let mut detector = chardetng::EncodingDetector::new();
    detector.feed(sample, complete);
    Ok(detector.guess(None, true))
}

/// The delimiter of a CSV sample: the candidate that splits the header
/// most often and the following lines the same way (quotes respected).
pub fn sniff_delimiter(sample: &str) -> u8 {
    const CANDIDATES: [u8; 4] = [b',', b';', b'\t', b'|'];
    let lines = quoted_lines(sample, 50);
    let mut best = (0usize, 0usize, b',');
    for &c in &CANDIDATES {
        let counts: Vec<usize> = lines.iter().map(|l| count_outside_quotes(l, c)).collect();
        let Some(&first) = counts.first() else {
            continue;
        };
        if first == 0 {
            continue;
        }
        let same = counts.iter().filter(|&&n| n == first).count();
        if (same, first) > (best.0, best.1) {
            best = (same, first, c);
        }
    }
    best.2
}

/// Whole lines of the sample (a quoted field may span lines); the last,
/// possibly cut, line is left out when there are others.
fn quoted_lines(sample: &str, max: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, b) in sample.bytes().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => {
                let line = sample[start..i].trim_end_matches('\r');
                if !line.is_empty() {
                    out.push(line);
                }
                start = i + 1;
                if out.len() == max {
                    return out;
                }
            }
            _ => {}
        }
    }
    if out.is_empty() && start < sample.len() {
        out.push(&sample[start..]);
    }
    out
}

fn count_outside_quotes(line: &str, c: u8) -> usize {
    let mut quoted = false;
    let mut n = 0;
    for b in line.bytes() {
        if b == b'"' {
            quoted = !quoted;
        } else if b == c && !quoted {
            n += 1;
        }
    }
    n
}

/// Excel's `sep=;` first line names the delimiter.
pub fn excel_sep_line(sample: &str) -> Option<u8> {
    let first = sample.lines().next()?.trim_end();
    let rest = first.strip_prefix("sep=")?;
    match rest.as_bytes() {
        [c] => Some(*c),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_delimiters() {
        assert_eq!(sniff_delimiter("a,b,c\n1,2,3\n"), b',');
        assert_eq!(
            sniff_delimiter("name;amount;note\nCafé;12,50;x\nThé;3,10;y, z\n"),
            b';'
        );
        assert_eq!(sniff_delimiter("a\tb\n1\t2\n"), b'\t');
        assert_eq!(sniff_delimiter("a|b|c\n1|2|3"), b'|');
        assert_eq!(sniff_delimiter("\"a,b\";c\n\"x,y\";z\n"), b';');
        assert_eq!(sniff_delimiter("only\n1\n"), b',');
        assert_eq!(sniff_delimiter(""), b',');
        assert_eq!(excel_sep_line("sep=;\na;b\n"), Some(b';'));
        assert_eq!(excel_sep_line("a;b\n"), None);
    }

    #[test]
    fn encodings_by_label() {
        assert_eq!(
            encoding_for_label("latin-1").unwrap().name(),
            "windows-1252"
        );
        assert_eq!(encoding_for_label("UTF-8").unwrap().name(), "UTF-8");
        assert_eq!(encoding_for_label("utf-16").unwrap().name(), "UTF-16LE");
        assert!(encoding_for_label("klingon")
            .unwrap_err()
            .to_string()
            .contains("klingon"));
    }

    #[test]
    fn decodes_latin1_utf16_and_gzip() {
        use std::io::Write;
        let dir = std::env::temp_dir().join(format!("tf-text-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let read = |name: &str, bytes: &[u8]| {
            let p = dir.join(name);
            std::fs::write(&p, bytes).unwrap();
            let mut t = open_text(&Input::file(&p), None).unwrap();
            let mut s = String::new();
            t.reader.read_to_string(&mut s).unwrap();
            (s, t.encoding)
        };
        // "Café;€" in Windows-1252.
        let (s, enc) = read("latin.csv", b"name;price\nCaf\xe9 cr\xe8me;5\x80\n");
        assert_eq!(s, "name;price\nCafé crème;5€\n");
        assert_eq!(enc, "windows-1252");
        let mut utf16 = vec![0xFF, 0xFE];
        for u in "a,b\nü,1\n".encode_utf16() {
            utf16.extend_from_slice(&u.to_le_bytes());
        }
        let (s, enc) = read("u16.csv", &utf16);
        assert_eq!((s.as_str(), enc), ("a,b\nü,1\n", "UTF-16LE"));
        let (s, enc) = read("bom.csv", b"\xEF\xBB\xBFa,b\n");
        assert_eq!((s.as_str(), enc), ("a,b\n", "UTF-8"));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all("x,y\n1,ü\n".as_bytes()).unwrap();
        let (s, _) = read("a.csv.gz", &gz.finish().unwrap());
        assert_eq!(s, "x,y\n1,ü\n");
        // bzip2, xz and zstd, each as two concatenated streams, as `cat a.bz2 b.bz2` makes.
        let halves = ["x,y\n1,ü\n".as_bytes(), "2,é\n".as_bytes()];
        let twice = |one: &dyn Fn(&[u8]) -> Vec<u8>| [one(halves[0]), one(halves[1])].concat();
        let bz = twice(&|b| {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            e.write_all(b).unwrap();
            e.finish().unwrap()
        });
        let xz = twice(&|b| {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
            e.write_all(b).unwrap();
            e.finish().unwrap()
        });
        let zst = twice(&|b| zstd::stream::encode_all(b, 1).unwrap());
        for (name, bytes) in [("a.csv.bz2", bz), ("a.csv.xz", xz), ("a.csv.zst", zst)] {
            assert_eq!(read(name, &bytes).0, "x,y\n1,ü\n2,é\n", "{name}");
            let p = dir.join(format!("cut-{name}"));
            std::fs::write(&p, &bytes[..bytes.len() / 3]).unwrap();
            let e = match open_text(&Input::file(&p), None) {
                Err(e) => e.to_string(),
                Ok(mut t) => {
                    let mut s = String::new();
                    t.reader.read_to_string(&mut s).unwrap_err().to_string()
                }
            };
            assert!(!e.is_empty(), "{name}: a cut file must not read as whole");
        }
        let p = dir.join("bin.csv");
        std::fs::write(&p, b"a\0b\0").unwrap();
        let e = open_text(&Input::file(&p), None).err().unwrap().to_string();
        assert!(e.contains("bin.csv") && e.contains("binary"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
