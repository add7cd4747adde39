//! Excel workbooks (.xlsx, .xlsm): one sheet, streamed cell by cell on a
//! reader thread, so a large sheet is never held whole. Cells become the
//! text the CSV path reads: whole numbers as integers, other numbers in
//! their shortest exact form, dates as ISO dates or timestamps; error cells
//! (`#N/A`, `#DIV/0!`) and empty cells are null.

use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver};

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
    let mut book: Xlsx<_> = open_workbook(path)
        .map_err(|e| CoreError::file(&shown, format!("not a readable .xlsx workbook: {e}")))?;
    let sheet = pick_sheet(&shown, &book.sheet_names(), opts.sheet.as_ref())?;
    let (tx, rx) = sync_channel::<Result<Row>>(256);
    let where_ = shown.clone();
    std::thread::Builder::new()
        .name("tillflow-xlsx".into())
        .spawn(move || {
            let fail = |e: calamine::XlsxError| {
                CoreError::file(&where_, format!("sheet {sheet:?} is not readable: {e}"))
            };
            let mut cells = match book.worksheet_cells_reader(&sheet) {
                Ok(c) => c,
                Err(e) => {
                    let _ = tx.send(Err(fail(e)));
                    return;
                }
            };
            let mut row: Option<Row> = None;
            loop {
                let cell = match cells.next_cell() {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = tx.send(Err(fail(e)));
                        return;
                    }
                };
                let Some(cell) = cell else { break };
                let (r, c) = cell.get_position();
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
            if d.is_duration() {
                return Some(float_text(d.as_f64()));
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
}
