//! CSV files (and Excel sheets, through the same [`RowSource`]) read in
//! batches of typed rows.

use csv::{ByteRecord, ReaderBuilder};
use polars::prelude::DataFrame;

use super::tabular::{FileColumns, TableBuilder, TabularSchema};
use super::text::{excel_sep_line, open_text, sniff_delimiter};
use super::FileOptions;
use crate::error::{CoreError, Result};

/// Rows of text cells with the line (or sheet row) each starts on.
pub trait RowSource: Send {
    /// Reads the next row; false at the end.
    fn advance(&mut self) -> Result<bool>;
    fn line(&self) -> u64;
    /// The current row's cells (`None`: an empty Excel cell).
    fn fields(&self) -> Result<Vec<Option<&str>>>;
}

struct CsvRows {
    reader: csv::Reader<Box<dyn std::io::BufRead + Send>>,
    record: ByteRecord,
    path: String,
    /// UTF-8 on disk: fields are checked as they are read.
    check_utf8: bool,
}

impl RowSource for CsvRows {
    fn advance(&mut self) -> Result<bool> {
        self.reader.read_byte_record(&mut self.record).map_err(|e| {
            let at = e
                .position()
                .map(|p| format!("line {}: ", p.line()))
                .unwrap_or_default();
            CoreError::file(&self.path, format!("{at}not readable as CSV: {e}"))
        })
    }

    fn line(&self) -> u64 {
        self.record.position().map_or(0, |p| p.line())
    }

    fn fields(&self) -> Result<Vec<Option<&str>>> {
        let mut out = Vec::with_capacity(self.record.len());
        for (i, f) in self.record.iter().enumerate() {
            let s = if self.check_utf8 {
                std::str::from_utf8(f).map_err(|_| {
                    CoreError::file(
                        &self.path,
                        format!(
                            "line {}, field {}: not valid UTF-8; the file is in another encoding \
                             (set encoding=, e.g. \"windows-1252\")",
                            self.line(),
                            i + 1
                        ),
                    )
                })?
            } else {
                // Decoded text is UTF-8 by construction.
                std::str::from_utf8(f).unwrap_or_default()
            };
            out.push(Some(s));
        }
        Ok(out)
    }
}

/// One CSV or Excel file being read.
pub struct TabularFile {
    rows: Box<dyn RowSource>,
    builder: Option<TableBuilder>,
    /// A row read but not yet taken (the first data row of a headerless file,
    /// or the row read to learn whether the file goes on).
    pending: bool,
    done: bool,
    pub encoding: &'static str,
    /// Excel rows end at their last cell: pad short rows, and drop empty
    /// cells past the header.
    pub sparse: bool,
}

/// Opens a CSV file: encoding and delimiter as given or detected, Excel's
/// `sep=` line honoured, `skip_rows` records skipped before the header.
pub fn open_csv(
    path: &super::text::Input,
    key: &str,
    opts: &FileOptions,
    schema: &mut TabularSchema,
) -> Result<TabularFile> {
    let encoding = opts.encoding()?;
    let text = open_text(path, encoding)?;
    let shown = path.shown();
    let sep_line = excel_sep_line(&text.sample);
    let tsv = shown.to_ascii_lowercase().contains(".tsv");
    let delimiter = match (opts.delimiter()?, sep_line) {
        (Some(d), _) => d,
        (None, Some(d)) => d,
        (None, None) if tsv => b'\t',
        (None, None) => sniff_delimiter(&text.sample),
    };
    let reader = ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.reader);
    let rows = Box::new(CsvRows {
        reader,
        record: ByteRecord::new(),
        path: shown.clone(),
        check_utf8: text.raw_utf8,
    });
    let skip = opts.skip_rows + usize::from(sep_line.is_some());
    start(
        rows,
        &shown,
        key,
        opts,
        schema,
        skip,
        delimiter as char,
        text.encoding,
    )
}

/// Skips leading rows, reads the header and makes the batch builder.
#[allow(clippy::too_many_arguments)]
pub fn start(
    mut rows: Box<dyn RowSource>,
    shown: &str,
    key: &str,
    opts: &FileOptions,
    schema: &mut TabularSchema,
    skip: usize,
    delimiter: char,
    encoding: &'static str,
) -> Result<TabularFile> {
    for _ in 0..skip {
        if !rows.advance()? {
            break;
        }
    }
    let mut file = TabularFile {
        rows,
        builder: None,
        pending: false,
        done: false,
        encoding,
        sparse: false,
    };
    if !file.rows.advance()? {
        file.done = true;
        return Ok(file);
    }
    let first: Vec<String> = file
        .rows
        .fields()?
        .into_iter()
        .map(|f| f.unwrap_or_default().to_string())
        .collect();
    let header: Vec<String> = if opts.header {
        first
    } else {
        file.pending = true;
        (1..=first.len()).map(|i| format!("column_{i}")).collect()
    };
    let columns: FileColumns = schema.header(shown, &header)?;
    file.builder = Some(TableBuilder::new(
        schema,
        shown.to_string(),
        key.to_string(),
        columns,
        opts.on_bad_row,
        opts.null_values(),
        delimiter,
    ));
    Ok(file)
}

/// What one read of a tabular file gave.
pub struct TabularBatch {
    pub table: Option<DataFrame>,
    pub quarantine: Option<DataFrame>,
    /// Data rows consumed, bad ones included.
    pub consumed: u64,
    pub done: bool,
}

impl TabularFile {
    fn next_row(&mut self) -> Result<bool> {
        if self.pending {
            self.pending = false;
            return Ok(true);
        }
        if self.done {
            return Ok(false);
        }
        let more = self.rows.advance()?;
        self.done = !more;
        Ok(more)
    }

    /// Passes over `n` data rows already committed by an earlier run.
    pub fn skip(&mut self, n: u64) -> Result<u64> {
        let mut skipped = 0;
        while skipped < n && self.builder.is_some() && self.next_row()? {
            skipped += 1;
        }
        Ok(skipped)
    }

    /// Up to `max` data rows as a batch; `done` once the file has no more.
    pub fn next_batch(&mut self, schema: &mut TabularSchema, max: usize) -> Result<TabularBatch> {
        let Some(builder) = self.builder.as_mut() else {
            return Ok(TabularBatch {
                table: None,
                quarantine: None,
                consumed: 0,
                done: true,
            });
        };
        let mut consumed = 0u64;
        while (consumed as usize) < max {
            if self.pending {
                self.pending = false;
            } else if self.done || !self.rows.advance()? {
                self.done = true;
                break;
            }
            let line = self.rows.line();
            let mut fields = self.rows.fields()?;
            if self.sparse {
                let width = builder.width();
                if fields.len() < width {
                    fields.resize(width, None);
                }
                while fields.len() > width && fields.last() == Some(&None) {
                    fields.pop();
                }
            }
            builder.push(schema, line, &fields)?;
            consumed += 1;
        }
        // Learn whether the file goes on, so its last batch says so.
        if !self.done && !self.pending {
            if self.rows.advance()? {
                self.pending = true;
            } else {
                self.done = true;
            }
        }
        let (table, quarantine) = builder.flush(schema)?;
        Ok(TabularBatch {
            table,
            quarantine,
            consumed,
            done: self.done && !self.pending,
        })
    }
}
