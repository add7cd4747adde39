//! Excel workbooks (.xlsx, .xlsm): one sheet, streamed cell by cell on a
//! reader thread, so a large sheet is never held whole. Cells become the
//! text the CSV path reads: whole numbers as integers, other numbers in
//! their shortest exact form, dates as ISO dates or timestamps; error cells
//! (`#N/A`, `#DIV/0!`) and empty cells are null.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use calamine::{open_workbook, DataRef, Reader, Xlsx};
use serde_json::Value;

use super::csv::{start, RowSource, TabularFile};
use super::tabular::TabularSchema;
use super::FileOptions;
use crate::error::{CoreError, Result};

type Row = (u64, Vec<Option<String>>);

struct SheetRows {
    rows: Receiver<Result<Row>>,
    current: Row,
}

impl RowSource for SheetRows {
    fn advance(&mut self) -> Result<bool> {
        match self.rows.recv() {
            Ok(Ok(row)) => {
                self.current = row;
                Ok(true)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Ok(false),
        }
    }

    fn line(&self) -> u64 {
        self.current.0
    }

    fn fields(&self) -> Result<Vec<Option<&str>>> {
        Ok(self.current.1.iter().map(|c| c.as_deref()).collect())
    }
}

/// The sheet named or numbered by `sheet` (the first by default).
fn pick_sheet(path: &str, names: &[String], sheet: Option<&Value>) -> Result<String> {
    let listed = || names.join(", ");
    match sheet {
        None => names
            .first()
            .cloned()
            .ok_or_else(|| CoreError::file(path, "the workbook has no sheet")),
        Some(Value::String(s)) => names.iter().find(|n| *n == s).cloned().ok_or_else(|| {
            CoreError::file(path, format!("no sheet {s:?}; the sheets are {}", listed()))
        }),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|i| names.get(i as usize))
            .cloned()
            .ok_or_else(|| {
                CoreError::file(
                    path,
                    format!(
                        "no sheet number {n} (counting from 0); the sheets are {}",
                        listed()
                    ),
                )
            }),
        Some(other) => Err(CoreError::config(
            "sheet",
            format!("must be a sheet name or a number, got {other}"),
        )),
    }
}

pub fn open_xlsx(
    path: &Path,
    key: &str,
    opts: &FileOptions,
    schema: &mut TabularSchema,
) -> Result<TabularFile> {
    let shown = path.display().to_string();
    check_shared_strings(path, &shown)?;
    let mut book: Xlsx<_> = open_workbook(path)
        .map_err(|e| CoreError::file(&shown, format!("not a readable .xlsx workbook: {e}")))?;
    let sheet = pick_sheet(&shown, &book.sheet_names(), opts.sheet.as_ref())?;
    let (tx, rx) = sync_channel::<Result<Row>>(256);
    let where_ = shown.clone();
    std::thread::Builder::new()
        .name("tillflow-xlsx".into())
        .spawn(move || {
            // A panic in the workbook parser must not end the sheet early
            // as if it were complete: the reader hears of it as an error.
            let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                read_sheet(&mut book, &sheet, &where_, &tx)
            }));
            if let Err(panic) = read {
                let why = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                let _ = tx.send(Err(CoreError::file(
                    &where_,
                    format!("sheet {sheet:?} is not readable: the workbook reader failed ({why})"),
                )));
            }
        })
        .map_err(|e| CoreError::Internal(format!("starting the workbook reader: {e}")))?;
    let rows = Box::new(SheetRows {
        rows: rx,
        current: (0, Vec::new()),
    });
    let mut file = start(rows, &shown, key, opts, schema, opts.skip_rows, ',', "xlsx")?;
    file.sparse = true;
    Ok(file)
}

/// Shared strings declared up to this many are not worth checking.
const FEW_STRINGS: usize = 100_000;

/// calamine reserves room for as many shared strings as the workbook says
/// it holds (`uniqueCount`) before reading one, so a corrupt count aborts
/// the process on allocation. Each string takes at least five bytes
/// (`<si/>`): a count its part's bytes cannot hold is refused here.
fn check_shared_strings(path: &Path, shown: &str) -> Result<()> {
    let Ok(file) = File::open(path) else {
        return Ok(()); // calamine says why
    };
    let Ok(mut zip) = zip::ZipArchive::new(BufReader::new(file)) else {
        return Ok(());
    };
    for i in 0..zip.len() {
        let Ok(mut part) = zip.by_index(i) else {
            continue;
        };
        let name = part
            .name()
            .map(|n| n.to_ascii_lowercase())
            .unwrap_or_default();
        if !name.ends_with("sharedstrings.xml") {
            continue;
        }
        let mut head = Vec::new();
        let _ = (&mut part).take(4096).read_to_end(&mut head);
        let Some(declared) = unique_count(&head) else {
            continue;
        };
        if declared <= FEW_STRINGS {
            continue;
        }
        // The bytes it really holds, not the size its zip header claims.
        let bytes = head.len() as u64 + std::io::copy(&mut part, &mut std::io::sink()).unwrap_or(0);
        if declared as u64 > bytes / 5 {
            return Err(CoreError::file(
                shown,
                format!(
                    "not a readable .xlsx workbook: its shared strings part declares {declared} strings \
                     in {bytes} bytes; the file is corrupt"
                ),
            ));
        }
    }
    Ok(())
}

/// The `uniqueCount` attribute of a shared strings part's `<sst>` element.
fn unique_count(head: &[u8]) -> Option<usize> {
    let text = String::from_utf8_lossy(head);
    let at = text.find("uniqueCount")? + "uniqueCount".len();
    let rest = text[at..].trim_start().strip_prefix('=')?.trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = &rest[1..];
    let end = value.find(quote)?;
    value[..end].trim().parse().ok()
}

/// Excel's last cell is XFD1048576; a reference past it is a broken file,
/// and would otherwise make one row as wide as its column number says.
const MAX_ROWS: u32 = 1_048_576;
const MAX_COLUMNS: u32 = 16_384;

/// Sends the sheet's rows, in order, as the cells come; an error ends them.
fn read_sheet(
    book: &mut Xlsx<BufReader<File>>,
    sheet: &str,
    shown: &str,
    tx: &SyncSender<Result<Row>>,
) {
    let fail = |e: String| CoreError::file(shown, format!("sheet {sheet:?} is not readable: {e}"));
    let mut cells = match book.worksheet_cells_reader(sheet) {
        Ok(c) => c,
        Err(e) => {
            let _ = tx.send(Err(fail(e.to_string())));
            return;
        }
    };
    let mut row: Option<Row> = None;
    loop {
        let cell = match cells.next_cell() {
            Ok(c) => c,
            Err(e) => {
                let _ = tx.send(Err(fail(e.to_string())));
                return;
            }
        };
        let Some(cell) = cell else { break };
        let (r, c) = cell.get_position();
        if r >= MAX_ROWS || c >= MAX_COLUMNS {
            let _ = tx.send(Err(fail(format!(
                "a cell at row {}, column {} lies past Excel's last cell (XFD1048576)",
                u64::from(r) + 1,
                u64::from(c) + 1
            ))));
            return;
        }
        let number = r as u64 + 1;
        if row.as_ref().is_some_and(|(n, _)| *n != number) {
            if let Some(done) = row.take() {
                if done.1.iter().any(Option::is_some) && tx.send(Ok(done)).is_err() {
                    return; // the reader went away
                }
            }
        }
        let current = row.get_or_insert_with(|| (number, Vec::new()));
        let c = c as usize;
        if current.1.len() <= c {
            current.1.resize(c + 1, None);
        }
        current.1[c] = cell_text(cell.get_value());
    }
    if let Some(done) = row {
        if done.1.iter().any(Option::is_some) {
            let _ = tx.send(Ok(done));
        }
    }
}

/// 9999-12-31 as an Excel serial day (1900 date system; the 1904 system
/// ends 1,462 days sooner).
const EXCEL_LAST_DAY: f64 = 2_958_465.0;

/// The text a cell stands for, as a CSV export of it would hold.
pub fn cell_text(v: &DataRef<'_>) -> Option<String> {
    match v {
        DataRef::Empty | DataRef::Error(_) => None,
        DataRef::Int(i) => Some(i.to_string()),
        DataRef::Float(f) => Some(float_text(*f)),
        DataRef::String(s) => Some(s.clone()),
        DataRef::SharedString(s) => Some(s.to_string()),
        DataRef::Bool(b) => Some(b.to_string()),
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => Some(s.clone()),
        DataRef::DateTime(d) => {
            // Past Excel's calendar (1900 to 9999; Excel shows ####), a
            // date-styled number is kept as the number: calamine's
            // conversion overflows chrono there.
            let serial = d.as_f64();
            if d.is_duration() || !(-1.0..=EXCEL_LAST_DAY).contains(&serial) {
                return Some(float_text(serial));
            }
            let t = d.as_datetime()?;
            let midnight = t.time() == chrono::NaiveTime::MIN;
            Some(if midnight {
                t.format("%Y-%m-%d").to_string()
            } else {
                t.format("%Y-%m-%dT%H:%M:%S%.f").to_string()
            })
        }
    }
}

/// Excel keeps every number as a double: whole ones read as integers,
/// others in the shortest text that gives the same double back.
fn float_text(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_their_shortest_text() {
        assert_eq!(float_text(42.0), "42");
        assert_eq!(float_text(12.5), "12.5");
        assert_eq!(float_text(-0.1), "-0.1");
        assert_eq!(float_text(1e20), "100000000000000000000");
        assert_eq!(cell_text(&DataRef::Empty), None);
        assert_eq!(cell_text(&DataRef::Bool(true)), Some("true".into()));
    }

    #[test]
    fn shared_string_counts_are_read_from_the_sst_element() {
        let sst = br#"<?xml version="1.0"?><sst xmlns="x" count="3" uniqueCount = '18446744073709551615'>"#;
        assert_eq!(unique_count(sst), Some(usize::MAX));
        assert_eq!(unique_count(br#"<sst uniqueCount="12">"#), Some(12));
        assert_eq!(unique_count(br#"<sst count="12">"#), None);
        assert_eq!(unique_count(br#"<sst uniqueCount="1e9">"#), None);
    }
}
