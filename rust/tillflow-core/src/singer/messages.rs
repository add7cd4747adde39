//! One line of a tap's output as a Singer message (the Singer specification's
//! SCHEMA, RECORD, STATE and ACTIVATE_VERSION, and the Meltano SDK's BATCH).
//! RECORD lines, nearly all of them, are parsed once and their record is
//! normalized from the parsed line without copying.

use crate::normalize::Json;

pub enum Message<'a> {
    Record {
        stream: String,
        record: Json<'a>,
    },
    Schema {
        stream: String,
        schema: serde_json::Value,
        key_properties: Vec<String>,
    },
    /// `value` as JSON text, handed back to the tap with `--state`.
    State {
        value: String,
    },
    Batch {
        stream: String,
        format: String,
        files: Vec<String>,
    },
    ActivateVersion,
}

/// The message a line holds, or why it is not one.
pub fn parse(text: &[u8]) -> Result<Message<'_>, String> {
    let json = Json::parse(text).map_err(|e| format!("not JSON: {e}"))?;
    let Json::Obj(fields) = json else {
        return Err(format!("a JSON {}, not an object", json.kind()));
    };
    let mut kind = None;
    let mut stream = None;
    let mut record = None;
    let mut schema = None;
    let mut key = None;
    let mut value = None;
    let mut encoding = None;
    let mut manifest = None;
    for (name, v) in fields {
        match name.as_ref() {
            "type" => kind = Some(v),
            "stream" => stream = Some(v),
            "record" => record = Some(v),
            "schema" => schema = Some(v),
            "key_properties" => key = Some(v),
            "value" => value = Some(v),
            "encoding" => encoding = Some(v),
            "manifest" => manifest = Some(v),
            _ => {}
        }
    }
    let kind = match &kind {
        Some(Json::Str(s)) => s.as_ref(),
        Some(_) => return Err("its \"type\" is not a string".into()),
        None => return Err("it has no \"type\"".into()),
    };
    let stream_name = |stream: Option<Json<'_>>| match stream {
        Some(Json::Str(s)) if !s.is_empty() => Ok(s.into_owned()),
        _ => Err(format!("a {kind} message needs a non-empty \"stream\"")),
    };
    match kind {
        "RECORD" => match record {
            Some(record @ Json::Obj(_)) => Ok(Message::Record {
                stream: stream_name(stream)?,
                record,
            }),
            Some(other) => Err(format!(
                "its \"record\" is a JSON {}, not an object",
                other.kind()
            )),
            None => Err("a RECORD message needs a \"record\"".into()),
        },
        "SCHEMA" => {
            let schema = match schema {
                Some(s @ Json::Obj(_)) => s.to_value(),
                _ => return Err("a SCHEMA message needs a \"schema\" object".into()),
            };
            let key_properties = match key {
                None | Some(Json::Null) => Vec::new(),
                Some(Json::Arr(items)) => items
                    .into_iter()
                    .map(|k| match k {
                        Json::Str(s) => Ok(s.into_owned()),
                        other => Err(format!("a key property is a JSON {}", other.kind())),
                    })
                    .collect::<Result<_, _>>()?,
                Some(other) => {
                    return Err(format!(
                        "\"key_properties\" is a JSON {}, not a list",
                        other.kind()
                    ))
                }
            };
            Ok(Message::Schema {
                stream: stream_name(stream)?,
                schema,
                key_properties,
            })
        }
        "STATE" => match value {
            Some(v) => Ok(Message::State {
                value: v.to_string(),
            }),
            None => Err("a STATE message needs a \"value\"".into()),
        },
        "BATCH" => {
            let format = match encoding.as_ref().and_then(|e| e.get("format")) {
                Some(Json::Str(f)) => f.to_string(),
                _ => return Err("a BATCH message needs \"encoding\": {\"format\": …}".into()),
            };
            let files = match manifest {
                Some(Json::Arr(items)) => items
                    .into_iter()
                    .map(|f| match f {
                        Json::Str(s) => Ok(s.into_owned()),
                        other => Err(format!("a manifest entry is a JSON {}", other.kind())),
                    })
                    .collect::<Result<_, _>>()?,
                _ => return Err("a BATCH message needs a \"manifest\" list".into()),
            };
            Ok(Message::Batch {
                stream: stream_name(stream)?,
                format,
                files,
            })
        }
        "ACTIVATE_VERSION" => Ok(Message::ActivateVersion),
        other => Err(format!("unknown message type {other:?}")),
    }
}

/// The local path a BATCH manifest entry names (`file:///…` or a plain path).
pub fn local_path(entry: &str) -> Result<String, String> {
    if let Some(rest) = entry.strip_prefix("file://") {
        let url = url::Url::parse(entry).map_err(|e| format!("not a file URL: {e}"))?;
        return url
            .to_file_path()
            .map(|p| p.display().to_string())
            .map_err(|()| format!("not a local file: {rest:?}"));
    }
    if entry.contains("://") {
        return Err("only local files (file://) are read".into());
    }
    Ok(entry.to_string())
}
